"""``hdn predict``: restore an image with a trained model and write the results as TIFFs."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..foundation.errors import InputError
from ..io.tiff import read_pixel_metadata, write_tiff
from . import _predict_lazy, _predict_stream
from ._arguments import latent_layers_or_auto
from ._direct_layers import auto_layers_for_direct
from ._error_line import print_error_estimate
from .cli_words import cli_message

DEFAULT_SAMPLES = 100
OUTPUTS = ("mmse", "variance", "median", "half_width_90", "samples")
ACTIVATION_OUTPUTS = ("activations", "kl_maps")
# With --deactivate auto: the layers chosen, their scores and reasons (JSON).
DEACTIVATION_RECORD = "deactivation.json"
# Axes of an ImageJ hyperstack, in the only order ImageJ accepts.
IMAGEJ_AXES = "TZCYXS"

EXAMPLES = """\
outputs (float32 TIFFs in the input's intensity units, with its pixel size):
  mmse.tif         minimum mean square error estimate: the mean of the N samples
  variance.tif     pixel-wise variance of the N samples (the restoration's uncertainty)
  median.tif       pixel-wise median of the N samples
  half_width_90.tif  half the width of the central 90 % interval of the N samples:
                   where the restoration is uncertain, in intensity units (the truth
                   lies within mmse +- this at about 9 pixels in 10 if the uncertainty
                   is calibrated; see the README, "Reading the uncertainty")
  samples.tif      the first K samples, as a stack (sample axis first)
  activations.tif  with --activations: per latent layer (z1 first), the image decoded
                   from that layer alone (every other layer at its prior's mean)
  kl_maps.tif      with --activations: per latent layer, the information it takes
                   from the input at each place (KL divergence, nats per pixel)
  deactivation.json  with --deactivate auto: the layers switched off, with a score
                   and a reason per latent layer examined

examples:
  hdn predict model/ noisy.tif --out restored/
  hdn predict model/ noisy.tif --out restored/ --deactivate 1,2   # remove structured noise
  hdn predict model/ noisy.tif --out restored/ --deactivate auto  # switch off the layers that look like noise
  hdn predict model/ big.tif --out restored/ --tile 256 --samples 20 --keep-samples 5
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="restore images with a trained model (MMSE, variance, samples)",
        description=(
            "Restore an image with a trained HDN model: draw N samples of the posterior (the clean images "
            "compatible with the noisy one) and write their mean (MMSE), variance, median and K of the samples. "
            "Stacks (T/Z/C, ..., Y, X) are restored plane by plane; large images in overlapping tiles."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model folder from 'hdn train' (or a training folder: its best model)")
    parser.add_argument("input", metavar="INPUT", help="noisy image, .tif/.tiff, .npy or an OME-Zarr folder: 2-D (Y, X) or a stack (..., Y, X)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results (created if needed), or NAME.ome.zarr for one OME-Zarr with an image per result")
    parser.add_argument("--samples", type=int, metavar="N", help=f"posterior samples to draw (default {DEFAULT_SAMPLES})")
    parser.add_argument(
        "--keep-samples", type=int, metavar="K", help="samples to write to samples.tif, at most N (default: 10, or N if fewer)"
    )
    parser.add_argument(
        "--deactivate",
        type=latent_layers_or_auto,
        default=(),
        metavar="LAYERS",
        help="latent layers to switch off, e.g. 1,2 (1 = z1, finest): they take the conditional prior's mean, "
        "which removes structured (pixel-correlated) noise captured there; 'auto': the layers whose "
        f"contribution looks like noise (the choice is written to {DEACTIVATION_RECORD}); default: none",
    )
    parser.add_argument("--tta", action="store_true", help="test-time augmentation: spread the samples over 8 rotations/mirrorings")
    parser.add_argument(
        "--tile", type=int, metavar="PIXELS", help="tile size for large images (default 512; with --direct on a CPU: the fewest tiles "
        "of at most 1088 that fit the plane); smaller uses less memory"
    )
    parser.add_argument("--overlap", type=int, metavar="PIXELS", help="pixels shared by neighbouring tiles (default: an eighth of the tile, at least twice the stride)")
    parser.add_argument("--direct", action="store_true", help="one-pass MMSE with the model's direct denoiser "
                        "(trained by 'hdn distill'): writes mmse.tif only")
    parser.add_argument("--activations", action="store_true", help="also write activations.tif and kl_maps.tif")
    parser.add_argument("--calibrate", action="store_true", help="also check how sure the restoration is (slower: a "
                        "few more restorations of a crop): print the error estimated without ground truth and scale "
                        "the spread to match it (where the estimate is rough: by a factor found on a simulated copy "
                        "of a crop)")
    parser.add_argument("--second-opinion", action="store_true", help="with --deactivate auto: also estimate, "
                        "without ground truth, the error with all layers on, z1 off and z1-z2 off on a 256x256 crop "
                        "(slower: two 10-sample restorations per choice, without --tta), say whether it agrees with the "
                        "layers chosen, and record it in deactivation.json")
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same result (default 0)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="samples per batch (default: sized to the memory); "
                        "with --direct: tiles per network call (default 8 on a GPU, 1 on a CPU)")
    parser.add_argument("--device", default="auto", help="auto (GPU if available), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="auto: bfloat16 on GPUs and on CPUs with bf16 instructions (AMX, AVX512-BF16), float32 elsewhere",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: all available cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace result files that already exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _predict_lazy.add_arguments(parser)  # --scheduler, --multiscale (OME-Zarr / dask cluster)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..io.atomic import atomic_path, read_image
    from ..direct.stream import open_planes
    from ..inference import layer_activations_events, restore_events, second_opinion_events
    from ..model.bundle import load_model
    from ..foundation.progress import drive
    from ._progress import ProgressBar

    check_flags(args)
    if args.samples is None:
        args.samples = DEFAULT_SAMPLES
    if _predict_lazy.wanted(args):  # OME-Zarr in or out, or a dask cluster
        return _predict_lazy.run(args, _lazy_options(args))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give a folder for the results.")
    names = ("mmse",) if args.direct else OUTPUTS + (ACTIVATION_OUTPUTS if args.activations else ())
    paths = {name: out / f"{name}.tif" for name in names}
    if args.deactivate == "auto":
        paths["deactivation"] = out / DEACTIVATION_RECORD
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not args.overwrite:
        raise InputError(
            f"{', '.join(existing)} already exist(s): choose another --out folder or add --overwrite to replace them."
        )

    reader = open_planes(args.input) if args.direct else None
    if reader is not None:  # a stack through the direct denoiser: one plane at a time, memory flat
        with reader:
            return _predict_stream.run(args, load_model(args.model, device=args.device), reader,
                                       read_pixel_metadata(args.input), paths)
    image = read_image(args.input)
    metadata = read_pixel_metadata(args.input)
    model = load_model(args.model, device=args.device)
    options = {"tile": args.tile, "overlap": args.overlap, "precision": args.precision, "threads": args.threads}
    if args.direct:
        return _run_direct(args, model, image, metadata, paths)
    events = restore_events(
        model,
        image,
        n_samples=args.samples,
        keep_samples=args.keep_samples,
        deactivate=args.deactivate,
        tta=args.tta,
        seed=args.seed,
        batch_size=args.batch_size,
        calibrate=args.calibrate,
        **options,
    )
    bar = None if args.quiet else ProgressBar()
    try:
        result = drive(events, bar)
        arrays = result.images()  # samples.tif only where samples were kept (--keep-samples 0: none)
        if "samples" not in arrays:
            paths.pop("samples")
        if args.activations:
            arrays["activations"], arrays["kl_maps"] = drive(layer_activations_events(model, image, **options), bar)
        opinion = drive(second_opinion_events(model, image, result.suggestion, n_samples=args.samples, seed=args.seed,
                                              precision=args.precision, threads=args.threads),
                        bar) if args.second_opinion else None
    finally:
        if bar is not None:
            bar.close()

    # All files are written to temporary names first and renamed together at the end.
    with contextlib.ExitStack() as stack:
        for name, data in arrays.items():
            tmp = stack.enter_context(atomic_path(paths[name], overwrite=args.overwrite))
            write_tiff(tmp, data, metadata, extra_axis=name in ("samples", "activations", "kl_maps"))
        if "deactivation" in paths:
            tmp = stack.enter_context(atomic_path(paths["deactivation"], overwrite=args.overwrite))
            tmp.write_text(json.dumps(deactivation_record(result, opinion), indent=1))
    if not args.quiet and result.suggestion is not None:
        print(f"hdn predict: {cli_message(result.suggestion.summary)} Switched off: {list(result.deactivate) or 'none'}")
    if not args.quiet and opinion is not None:
        print(f"hdn predict: {cli_message(opinion.summary)}")
    if not args.quiet:
        print(f"hdn predict: wrote {', '.join(p.name for p in paths.values())} to {out}")
        print_error_estimate(result)
    return 0



def check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that the other flags would make ignored, before anything is read or written."""
    from ..io.omezarr import is_ome_zarr

    if args.direct:
        given = [flag for flag, on in (("--tta", args.tta), ("--samples", args.samples is not None),
                                       ("--keep-samples", args.keep_samples is not None),
                                       ("--activations", args.activations),
                                       ("--calibrate", args.calibrate),
                                       ("--second-opinion", args.second_opinion)) if on]
        if given:
            raise InputError(f"{' and '.join(given)} cannot be used with --direct: the direct denoiser gives the MMSE "
                             "in one pass, without posterior samples, test-time augmentation or layer maps. Leave out "
                             f"{' and '.join(given)}, or --direct to draw samples.")
    if args.second_opinion and args.deactivate != "auto" and not args.direct:
        raise InputError("--second-opinion checks the layers that --deactivate auto chooses: add --deactivate auto, "
                         "or leave out --second-opinion.")
    if args.multiscale and not is_ome_zarr(args.out):
        raise InputError(f"--multiscale only applies to an OME-Zarr --out (NAME.ome.zarr); {args.out} is written as "
                         "TIFFs, which hold one resolution. Leave out --multiscale, or give --out NAME.ome.zarr.")


def _lazy_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("tile", "overlap", "precision", "threads", "deactivate", "tta", "seed", "batch_size", "calibrate")
    return {"n_samples": args.samples, "keep_samples": args.keep_samples, **{n: getattr(args, n) for n in names}}


def deactivation_record(result: Any, opinion: Any = None) -> dict[str, Any]:
    """What --deactivate auto chose: the layers off in the restoration and the suggestion behind them (and, with
    --second-opinion, the error estimate of each choice)."""
    record = {"deactivated_layers": list(result.deactivate), "suggestion": result.suggestion.to_metadata()}
    return record if opinion is None else {**record, "second_opinion": opinion.to_metadata()}


def _run_direct(args: argparse.Namespace, model: Any, image: Any, metadata: dict[str, Any],
                paths: dict[str, Path]) -> int:
    from ..io.atomic import atomic_path
    from ..direct.denoise import denoise_events
    from ..foundation.progress import drive
    from ._progress import ProgressBar

    deactivate, record = args.deactivate, None
    if deactivate == "auto":
        deactivate, record = auto_layers_for_direct(args, model, image)
    events = denoise_events(model, image, deactivate, tile=args.tile, overlap=args.overlap,
                            precision=args.precision, batch_size=args.batch_size, threads=args.threads)
    bar = None if args.quiet else ProgressBar()
    try:
        mmse = drive(events, bar)
    finally:
        if bar is not None:
            bar.close()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(paths["mmse"], overwrite=args.overwrite))
        write_tiff(tmp, mmse, metadata)
        if record is not None:
            tmp = stack.enter_context(atomic_path(paths["deactivation"], overwrite=args.overwrite))
            tmp.write_text(json.dumps(record, indent=1))
    if not args.quiet:
        print(f"hdn predict: wrote {', '.join(p.name for p in paths.values())} (direct denoiser) to {args.out}")
    return 0
