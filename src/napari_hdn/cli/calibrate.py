"""``hdn calibrate``: a noise model p(x|s) from calibration data, saved as .npz (+ a diagnostic PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..foundation.errors import InputError
from .cli_words import cli_message

# CLI flag -> option name of the noise-model kinds (napari_hdn.noise_models.calibration).
_OPTION_FLAGS = {
    "n_gaussians": "--n-gaussians",
    "degree": "--degree",
    "min_sigma": "--min-sigma",
    "steps": "--steps",
    "batch_size": "--batch-size",
    "learning_rate": "--learning-rate",
    "device": "--device",
    "bins": "--bins",
    "signal_bins": "--signal-bins",
    "offset": "--offset",
    "clip_percentiles": "--clip-percentiles",
    "max_pairs": "--max-pairs",
    "seed": "--seed",
    "n_bootstrap": "--n-bootstrap",
}
_MODES = ("calibration stack", "--signal", "--from-noisy", "--bootstrap")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "calibrate",
        help="calibrate a noise model from repeated acquisitions (or noisy + clean pairs)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Build the pixel noise model p(x|s) that HDN needs, in the raw units of your data.\n\n"
            "Without --signal, CALIB is a stack (frames first) of 20 or more repeated acquisitions of a static\n"
            "scene with a range of intensities; the signal of a pixel is its mean over the frames. With\n"
            "--signal, CALIB holds noisy image(s) and SIGNAL a clean estimate of them (e.g. another\n"
            "denoiser's output, or an average) of the same shape.\n\n"
            "Kinds: gmm (Gaussian mixture as in the HDN paper; default), histogram (empirical 2-D histogram),\n"
            "poisson_gaussian (gain/offset/read noise from the variance-vs-mean line; quick and easy to check)\n"
            "and gaussian (signal-independent noise). Options that do not apply to --kind are an error.\n\n"
            "Without calibration data: --from-noisy estimates a Poisson-Gaussian model (gain, offset, read noise)\n"
            "from CALIB as ordinary noisy image(s) (one image or a stack of different images); --bootstrap MODEL\n"
            "restores CALIB with a trained HDN model and fits a gmm (or histogram) to (restoration, noisy) pairs."
        ),
        epilog=(
            "examples:\n"
            "  hdn calibrate calib_stack.tif --out nm.npz --plot nm.png\n"
            "  hdn calibrate calib_stack.tif --out pg.npz --kind poisson_gaussian --offset 100\n"
            "  hdn calibrate noisy.tif --signal denoised.tif --out nm.npz --steps 600\n"
            "  hdn calibrate noisy.tif --from-noisy --out pg.npz --plot pg.png\n"
            "  hdn calibrate noisy.tif --bootstrap model_folder --out nm.npz --kind gmm"
        ),
    )
    parser.add_argument("calib", type=Path, metavar="CALIB", help="calibration stack or noisy image(s) (.tif or .npy)")
    parser.add_argument("--out", type=Path, required=True, help="noise model file to write (.npz)")
    parser.add_argument(
        "--kind",
        choices=("gmm", "histogram", "poisson_gaussian", "gaussian"),
        default=None,
        help="noise model kind (default: gmm; poisson_gaussian with --from-noisy)",
    )
    parser.add_argument("--signal", type=Path, help="clean estimate of CALIB; CALIB is then the noisy image(s)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-noisy",
        action="store_true",
        help="CALIB holds ordinary noisy image(s), no repeats: estimate a Poisson-Gaussian model from them",
    )
    source.add_argument(
        "--bootstrap", type=Path, metavar="MODEL", help="trained HDN model: fit to its restoration of CALIB"
    )
    parser.add_argument("--samples", dest="n_samples", type=int, metavar="N",
                        help="--bootstrap: posterior samples per restoration (default: 20)")
    # The old spelling, still read (as in `hdn predict`, the flag is --samples now).
    parser.add_argument("--n-samples", dest="n_samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-static-check",
        action="store_true",
        help="calibration stack: do not refuse a stack whose frames change (drift, bleaching, other slices)",
    )
    parser.add_argument("--plot", type=Path, help="also write a diagnostic PNG: p(x|s) and variance vs signal")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --out / --plot files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary (warnings and errors still show)")

    common = parser.add_argument_group("options of every kind")
    common.add_argument(
        "--clip-percentiles",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="use only pixels whose signal lies between these percentiles (default: 0.5 99.5)",
    )
    common.add_argument("--max-pairs", type=int, help="at most this many pixel pairs, drawn at random (default: 5e6)")
    common.add_argument("--seed", type=int, help="random seed (default: 0)")

    gmm = parser.add_argument_group("--kind gmm")
    gmm.add_argument("--n-gaussians", type=int, help="mixture components (default: 3)")
    gmm.add_argument("--degree", type=int, help="polynomial degree of the parameters in the signal (default: 1)")
    gmm.add_argument(
        "--min-sigma",
        type=float,
        help="floor on each component's variance, as in the reference code (default: from the data)",
    )
    gmm.add_argument("--steps", type=int, help="Adam steps (default: 400)")
    gmm.add_argument("--batch-size", type=int, help="pixel pairs per step (default: 16384)")
    gmm.add_argument("--learning-rate", type=float, help="Adam learning rate (default: 0.05)")
    gmm.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto, the GPU when present)")

    histogram = parser.add_argument_group("--kind histogram")
    histogram.add_argument("--bins", type=int, help="observation bins (default: 128)")
    histogram.add_argument("--signal-bins", type=int, help="signal bins (default: 64)")

    pg = parser.add_argument_group("--kind poisson_gaussian (and --from-noisy)")
    pg.add_argument(
        "--offset",
        type=float,
        help="camera offset (dark level) in raw units, if known (default: the darkest pixels' level)",
    )
    pg.add_argument(
        "--n-bootstrap", type=int, help="--from-noisy: bootstrap refits for the uncertainties (default: 200)"
    )
    return parser


def _mode(args: argparse.Namespace) -> str:
    """Which source CALIB is, with --kind resolved (and checked against that source)."""
    if args.from_noisy or args.bootstrap is not None:
        if args.signal is not None:
            raise InputError("--signal cannot be combined with --from-noisy or --bootstrap.")
    if args.from_noisy:
        if args.kind not in (None, "poisson_gaussian"):
            raise InputError(
                "--from-noisy estimates a Poisson-Gaussian model: leave out --kind (or use poisson_gaussian)."
            )
        args.kind = "poisson_gaussian"
        return "--from-noisy"
    if args.bootstrap is not None:
        args.kind = args.kind or "gmm"
        if args.kind not in ("gmm", "histogram"):
            raise InputError("--bootstrap fits --kind gmm or histogram.")
        return "--bootstrap"
    if args.n_samples is not None:
        raise InputError("--samples applies to --bootstrap only.")
    args.kind = args.kind or "gmm"
    return "--signal" if args.signal is not None else "calibration stack"


def _options(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    from dataclasses import fields

    from ..noise_models.estimate import EstimateOptions
    from ..noise_models.options import option_names

    if mode == "--from-noisy":
        accepted = {f.name for f in fields(EstimateOptions)}
    else:
        accepted = set(option_names(args.kind)) - {"n_bootstrap"}
    options = {}
    for name, flag in _OPTION_FLAGS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            where = "--from-noisy" if mode == "--from-noisy" else f"--kind {args.kind}"
            raise InputError(f"{flag} does not apply to {where}.")
        options[name] = tuple(value) if isinstance(value, list) else value
    if args.no_static_check:
        if mode != "calibration stack":
            raise InputError("--no-static-check applies to calibration stacks only.")
        options["check_static"] = False
    return options


def _check_output(path: Path | None, overwrite: bool, what: str) -> None:
    if path is None:
        return
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder: give a file name.")
    if path.exists() and not overwrite:
        raise InputError(f"{what} {path} already exists: choose another name or add --overwrite.")


def _events(args: argparse.Namespace, mode: str, calib: Any, signal: Any, options: dict[str, Any]):
    from ..noise_models import bootstrap_with_signal_events, calibrate_events, estimate_events, fit_noise_model_events

    if mode == "--from-noisy":
        return estimate_events(calib, **options)
    if mode == "--bootstrap":
        n_samples = 20 if args.n_samples is None else args.n_samples
        return bootstrap_with_signal_events(args.bootstrap, calib, args.kind, n_samples=n_samples, **options)
    if mode == "--signal":
        return fit_noise_model_events(signal, calib, args.kind, **options)
    return calibrate_events(calib, args.kind, **options)


def _fit(events: Any, quiet: bool = False) -> Any:
    """Drive the fit with a progress bar (none when quiet); warnings (e.g. a stack that is not static) as one line each."""
    import warnings

    from ..foundation.progress import drive
    from ._progress import ProgressBar

    bar = None if quiet else ProgressBar()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            result = drive(events, bar)
    finally:
        if bar is not None:
            bar.close()
    for warning in caught:
        print(f"hdn calibrate: warning: {cli_message(str(warning.message))}")
    return result


def _save_plot(args: argparse.Namespace, mode: str, result: Any, calib: Any, signal: Any) -> None:
    from ..noise_models import noise_model_diagnostics, save_diagnostics_plot, save_estimate_plot
    from ..noise_models.estimate_plot import relative_fit_error

    if mode == "--from-noisy":
        save_estimate_plot(result, args.plot, overwrite=args.overwrite)
        error = relative_fit_error(result)
    else:
        data = {"stack": calib} if signal is None else {"signal": signal, "observation": calib}
        plot = noise_model_diagnostics(result, **data)
        save_diagnostics_plot(plot, args.plot, overwrite=args.overwrite)
        error = plot.max_relative_variance_error
    if not args.quiet:
        print(f"hdn calibrate: diagnostics -> {args.plot} (largest variance-vs-signal error {100 * error:.1f} %)")


def _check_same_shape(calib: Any, signal: Any) -> None:
    """--signal is a clean estimate of CALIB itself: one clean plane per noisy plane (leading 1-axes aside).

    A signal of one frame against a stack would take every plane for a noisy copy of that one scene,
    and a stack of different scenes then looks like a much stronger noise (issue 29).
    """
    def shape(array: Any) -> tuple[int, ...]:
        dims = tuple(np.shape(array))
        while len(dims) > 2 and dims[0] == 1:
            dims = dims[1:]
        return dims

    if shape(calib) != shape(signal):
        raise InputError(
            f"--signal has shape {shape(signal)} but CALIB has shape {shape(calib)}: they must have the same shape "
            "(SIGNAL a clean estimate of each noisy plane of CALIB, e.g. a denoiser's output of it). For repeated "
            "acquisitions of one static scene, leave out --signal: CALIB is then a calibration stack."
        )


def run(args: argparse.Namespace) -> int:
    from ..io.atomic import read_image

    mode = _mode(args)
    options = _options(args, mode)
    # Fail before the (possibly long) fit, not after it.
    _check_output(args.out, args.overwrite, "--out")
    _check_output(args.plot, args.overwrite, "--plot")
    if args.plot is not None and args.plot.resolve() == args.out.resolve():
        raise InputError("--plot and --out name the same file: give them different names.")

    calib = read_image(args.calib)
    signal = read_image(args.signal) if args.signal is not None else None
    if mode == "--signal":
        _check_same_shape(calib, signal)
    result = _fit(_events(args, mode, calib, signal, options), args.quiet)
    if mode == "--bootstrap":
        result, signal = result  # the noise model and the restoration it was fitted to (for the plot)
    model = result.model if mode == "--from-noisy" else result
    model.save(args.out, overwrite=args.overwrite)
    if not args.quiet:
        print(f"hdn calibrate: {result.describe()}")
        print(f"hdn calibrate: noise model -> {args.out}")
    if args.plot is not None:
        _save_plot(args, mode, result, calib, signal)
    return 0
