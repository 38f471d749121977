"""``hdn distill``: train a direct denoiser for a model and store it in the model's bundle."""

from __future__ import annotations

import argparse
from typing import Any

from ._arguments import latent_layers


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "distill",
        help="train a one-pass direct denoiser from a model's posterior (for 'hdn predict --direct')",
        description="Distil the model's MMSE estimate into a small U-Net (Salmon & Krull 2023) and add it to "
        "the model folder, keyed by the switched-off latent layers; the folder is replaced atomically.",
    )
    parser.add_argument("model", metavar="MODEL", help="model folder from 'hdn train'")
    parser.add_argument("data", metavar="DATA", help="noisy training images, .tif/.tiff or .npy")
    parser.add_argument("--deactivate", type=latent_layers, default=(), metavar="LAYERS",
                        help="latent layers switched off in the targets, e.g. 1 or 1,2")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time (default 5)")
    parser.add_argument("--steps", type=int, help="stop after this many steps instead (for quick checks)")
    parser.add_argument("--loss", choices=("l2", "l1"), default="l2", help="l2: MMSE (default); l1: median")
    parser.add_argument("--width", type=int, default=32, metavar="N",
                        help="filters of the U-Net's first level (default 32); 16: a lighter network, about 4 times "
                        "fewer operations per pixel, more training steps in the same minutes (README, Benchmarks)")
    parser.add_argument("--device", default="auto", help="auto (GPU if available), cpu, cuda, cuda:N or mps")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..io.atomic import read_image
    from ..direct.distill import distill_events
    from ..model.bundle import load_model, resolve_bundle_path
    from ..foundation.progress import drive
    from ._progress import ProgressBar

    folder = resolve_bundle_path(args.model)
    model = load_model(folder, device=args.device)
    images = read_image(args.data)
    minutes = None if args.steps is not None else args.minutes
    events = distill_events(model, images, args.deactivate, minutes=minutes, steps=args.steps, loss=args.loss,
                            width=args.width)
    bar = None if args.quiet else ProgressBar()
    try:
        drive(events, bar)
    finally:
        if bar is not None:
            bar.close()
    # One file replaced atomically: the bundle's other files (weights, checkpoints) are never touched,
    # and the model's earlier denoisers (loaded with it) are kept.
    model.direct_denoisers.save(folder)
    if not args.quiet:
        print(f"hdn distill: stored the direct denoiser '{model.direct_key(args.deactivate)}' in {folder}")
    return 0
