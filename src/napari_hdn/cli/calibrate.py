"""``hdn calibrate``: a noise model p(x|s) from calibration data, saved as .npz (+ a diagnostic PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import InputError

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
}


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
            "and gaussian (signal-independent noise). Options that do not apply to --kind are an error."
        ),
        epilog=(
            "examples:\n"
            "  hdn calibrate calib_stack.tif --out nm.npz --plot nm.png\n"
            "  hdn calibrate calib_stack.tif --out pg.npz --kind poisson_gaussian --offset 100\n"
            "  hdn calibrate noisy.tif --signal denoised.tif --out nm.npz --steps 600"
        ),
    )
    parser.add_argument("calib", type=Path, metavar="CALIB", help="calibration stack or noisy image(s) (.tif or .npy)")
    parser.add_argument("--out", type=Path, required=True, help="noise model file to write (.npz)")
    parser.add_argument(
        "--kind",
        choices=("gmm", "histogram", "poisson_gaussian", "gaussian"),
        default="gmm",
        help="noise model kind (default: gmm)",
    )
    parser.add_argument("--signal", type=Path, help="clean estimate of CALIB; CALIB is then the noisy image(s)")
    parser.add_argument("--plot", type=Path, help="also write a diagnostic PNG: p(x|s) and variance vs signal")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --out / --plot files")

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

    pg = parser.add_argument_group("--kind poisson_gaussian")
    pg.add_argument(
        "--offset",
        type=float,
        help="camera offset (dark level) in raw units, if known (default: the darkest pixels' level)",
    )
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from ..noise_models.options import option_names

    accepted = set(option_names(args.kind))
    options = {}
    for name, flag in _OPTION_FLAGS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            raise InputError(f"{flag} does not apply to --kind {args.kind}.")
        options[name] = tuple(value) if isinstance(value, list) else value
    return options


def _check_output(path: Path | None, overwrite: bool, what: str) -> None:
    if path is None:
        return
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder: give a file name.")
    if path.exists() and not overwrite:
        raise InputError(f"{what} {path} already exists: choose another name or add --overwrite.")


def run(args: argparse.Namespace) -> int:
    from .._io import read_image
    from ..noise_models import (
        calibrate_events,
        fit_noise_model_events,
        noise_model_diagnostics,
        save_diagnostics_plot,
    )
    from ..progress import drive
    from ._progress import ProgressBar

    options = _options(args)
    # Fail before the (possibly long) fit, not after it.
    _check_output(args.out, args.overwrite, "--out")
    _check_output(args.plot, args.overwrite, "--plot")
    if args.plot is not None and args.plot.resolve() == args.out.resolve():
        raise InputError("--plot and --out name the same file: give them different names.")

    calib = read_image(args.calib)
    signal = read_image(args.signal) if args.signal is not None else None
    bar = ProgressBar()
    try:
        if signal is None:
            events = calibrate_events(calib, args.kind, **options)
        else:
            events = fit_noise_model_events(signal, calib, args.kind, **options)
        model = drive(events, bar)
    finally:
        bar.close()

    plot = None
    if args.plot is not None:
        data = {"stack": calib} if signal is None else {"signal": signal, "observation": calib}
        plot = noise_model_diagnostics(model, **data)
    model.save(args.out, overwrite=args.overwrite)
    print(f"hdn calibrate: {model.describe()}")
    print(f"hdn calibrate: noise model -> {args.out}")
    if plot is not None:
        save_diagnostics_plot(plot, args.plot, overwrite=args.overwrite)
        print(
            f"hdn calibrate: diagnostics -> {args.plot} "
            f"(largest variance-vs-signal error {100 * plot.max_relative_variance_error:.1f} %)"
        )
    return 0
