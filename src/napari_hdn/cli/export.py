"""``hdn export``: share a model's direct denoiser as a BioImage Model Zoo package."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..foundation.errors import InputError
from ._arguments import latent_layers_or_auto
from .cli_words import cli_message


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write a model's direct denoiser as a BioImage Model Zoo package (.zip)",
        description="Write the model's direct denoiser (from 'hdn distill') as a BioImage Model Zoo package: "
        "network (PyTorch state dict + TorchScript), normalisation, test tensors from a crop of --image, "
        "cover, documentation and the model's settings. The package is checked with the zoo's own test "
        "before it is written. Needs: pip install 'napari-hdn[bioimageio]'.",
    )
    parser.add_argument("model", metavar="MODEL", help="model folder from 'hdn train' with a direct denoiser")
    parser.add_argument("--bioimageio", required=True, metavar="OUT.zip", help="the package to write")
    parser.add_argument("--image", metavar="DATA", help="a noisy image like the training data (.tif/.tiff/.npy); "
                        "a crop of it becomes the test input and output")
    parser.add_argument("--deactivate", type=latent_layers_or_auto, default=(), metavar="LAYERS",
                        help="which direct denoiser: its switched-off latent layers, e.g. 1,2 (default: all on, "
                        "or the only one; auto: the layers the model recorded as holding noise)")
    parser.add_argument("--name", default="HDN direct denoiser", help="the package's name")
    parser.add_argument("--author", action="append", metavar="NAME", help="an author (repeat for several)")
    parser.add_argument("--license", default="CC-BY-4.0", help="SPDX licence id (default CC-BY-4.0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT.zip")
    parser.add_argument("--no-check", action="store_true", help="skip the BioImage Model Zoo test (faster)")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..io.atomic import read_image
    from ..io.bioimageio import export_bioimageio_events
    from ..foundation.progress import drive

    if Path(args.bioimageio).exists() and not args.overwrite:  # before reading the model and the image
        raise InputError(f"{args.bioimageio} already exists: choose another name or add --overwrite to replace it.")
    if args.image is None:
        raise InputError("Give --image DATA.tif, a noisy image like the training data: a crop of it becomes the "
                         "package's test input and output.")
    image = read_image(args.image)
    events = export_bioimageio_events(
        args.model, args.bioimageio, image, deactivate=args.deactivate, name=args.name,
        authors=args.author or ("napari-hdn user",), license=args.license, overwrite=args.overwrite,
        check=not args.no_check)
    path = drive(events, None if args.quiet else (lambda e: print(f"hdn export: {cli_message(e.message)}", flush=True)))
    if not args.quiet:
        print(f"hdn export: BioImage Model Zoo package written to {path}")
    return 0
