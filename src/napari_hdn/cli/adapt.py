"""``hdn adapt``: adapt a trained model to new data in minutes, instead of training from scratch."""

from __future__ import annotations

import argparse
from typing import Any

from .train import _positive, _setting, drive_training

EXAMPLES = """\
The model in MODEL is never changed: the adapted model goes to --out (best/ and last/, as 'hdn train'
writes them) and records MODEL as its parent. Give the new data's own noise model when the camera or its
settings differ from MODEL's; without one, MODEL's noise model is kept.

examples:
  hdn adapt model/ new.tif --noise-model new_nm.npz --out adapted/        # 3 minutes, per-channel gains
  hdn adapt model/ new.tif --noise-model auto --out adapted/ --minutes 5   # noise model estimated
  hdn adapt model/ new.tif --out adapted/ --mode all                       # every weight
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from ..training.adapt import DEFAULT_MODE
    from ..training.warm_start import ADAPT_MODES

    parser = subparsers.add_parser(
        "adapt",
        help="adapt a trained model to new data in minutes (another light level, camera, sample)",
        description="Start from a trained model's weights and train on new noisy images for a few minutes "
        "with HDN's own unsupervised loss; the new data's normalisation (and noise model) replace the model's.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model folder from 'hdn train' (or its best/ or last/)")
    parser.add_argument("data", nargs="+", metavar="DATA", help="the new noisy images or stacks (.tif/.tiff or .npy)")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--noise-model", metavar="NM.npz",
                       help="the new data's noise model (from 'hdn calibrate'), or 'auto' to estimate it from the "
                       "images; default: keep MODEL's")
    noise.add_argument("--gaussian-sigma", type=_positive(float), metavar="S",
                       help="instead of a noise model: Gaussian noise of this sigma")
    parser.add_argument("--out", required=True, metavar="ADAPTED", help="model folder to create")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=_positive(float), default=3.0, metavar="M", help="adaptation time (default 3)")
    budget.add_argument("--steps", type=_positive(int), metavar="N", help="number of optimisation steps instead")
    parser.add_argument("--mode", choices=sorted(ADAPT_MODES), default=DEFAULT_MODE,
                        help="; ".join(f"{k}: {v}" for k, v in ADAPT_MODES.items()) + f" (default {DEFAULT_MODE})")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (GPU if available, else CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--lr", type=_positive(float), help="learning rate (default: the model's)")
    parser.add_argument("--set", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                        help="another training setting, e.g. batch_size=16 (network settings stay the model's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..io.atomic import read_image
    from ..foundation.progress import StopToken
    from ..training.adapt import adapt_events

    overrides = dict(args.set)
    if args.lr is not None:
        overrides["lr"] = args.lr
    images = [read_image(path) for path in args.data]
    stop = StopToken()
    events = adapt_events(args.model, images, args.noise_model, None if args.steps else args.minutes, args.mode,
                          args.out, args.seed, args.device, steps=args.steps, gaussian_sigma=args.gaussian_sigma,
                          overwrite=args.overwrite, stop=stop, **overrides)
    outcome = drive_training(events, stop, args, "adapt")
    if outcome is None:
        return 130
    model, last = outcome
    if not args.quiet:
        print(f"hdn adapt: {last.message if last else 'done'}; {model.step} steps from {args.model}. "
              f"Restore images with: hdn predict {args.out} IMAGE --out RESULTS")
    return 0
