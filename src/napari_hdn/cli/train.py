"""``hdn train``: train an HDN model on noisy images and write it as a model folder."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..foundation.errors import InputError
from ._arguments import latent_layers
from .cli_words import cli_message

EXAMPLES = """\
the model folder (--out) receives two checkpoints, each a complete model:
  best/   the weights with the lowest validation loss (what 'hdn predict MODEL' uses)
  last/   the latest weights and the training state ('--resume' continues from it)

examples:
  hdn train noisy.tif --noise-model nm.npz --out model/                  # fast preset, 15 min on a CPU
  hdn train noisy.tif --noise-model nm.npz --out model/ --minutes 5
  hdn train a.tif b.tif --noise-model nm.npz --out model/ --preset paper --device cuda
  hdn train noisy.tif --noise-model nm.npz --out model/ --resume --minutes 10   # continue a training
  hdn train struct.tif --noise-model nm.npz --out model/ --deactivate 1,2       # structured noise
  hdn train synthetic.tif --gaussian-sigma 25 --out model/ --set n_filters=48 --set lr=1e-3
"""


def _setting(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (e.g. n_filters=48).")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value.strip()
    return name.strip(), parsed


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}.") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} must be positive.")
        return value

    return parse


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from ..training import PRESETS

    presets = "; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())
    parser = subparsers.add_parser(
        "train",
        help="train an HDN model on noisy images (no clean images needed)",
        description=(
            "Train a Hierarchical DivNoising model on noisy images alone. It needs a noise model of the camera "
            "(from 'hdn calibrate') or, for synthetic Gaussian noise, its sigma. Stacks (3-D, time series) are "
            f"used as sets of 2-D images. Presets: {presets}"
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", nargs="+", metavar="DATA", help="noisy images or stacks (.tif/.tiff or .npy)")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--noise-model", metavar="NM.npz", 
                       help="noise model file from 'hdn calibrate', or 'auto': estimated from the noisy images, then bootstrapped from the model's own restorations half-way (no calibration data needed)")
    noise.add_argument("--gaussian-sigma", type=_positive(float), metavar="S",
                       help="instead of a noise model: Gaussian noise of this sigma (in the data's units)")
    parser.add_argument("--out", required=True, metavar="MODEL",
                        help="model folder to create (an existing model is kept unless --resume or --overwrite)")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="fast: minutes on a CPU (default); paper: the paper's network, hours on a GPU "
                        "(with --resume: the training's own; another one is refused)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=_positive(float), metavar="M", help="training time (fast preset: 15)")
    budget.add_argument("--epochs", type=_positive(int), metavar="E", help="number of epochs (validation rounds)")
    budget.add_argument("--steps", type=_positive(int), metavar="N", help="number of optimisation steps")
    parser.add_argument("--deactivate", type=latent_layers, default=(), metavar="LAYERS",
                        help="latent layers to switch off during training and use, e.g. 1,2 (1 = z1, finest): "
                        "keeps structured (pixel-correlated) noise out of the model")
    parser.add_argument("--direct-denoiser", action=argparse.BooleanOptionalAction, default=None,
                        help="also train a direct denoiser beside the model, for one-pass restoration "
                        "(hdn predict --direct); default: the preset's setting")
    parser.add_argument("--resume", action="store_true", help="continue the training in --out (same settings)")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed repeats a training (default 0)")
    parser.add_argument("--device", default="auto", help="auto (GPU if available, else CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--threads", type=_positive(int), help="CPU threads for torch (default: all available cores)")
    parser.add_argument("--patch-size", type=_positive(int), metavar="P", help="training patch size (default 64)")
    parser.add_argument("--batch-size", type=_positive(int), metavar="B", help="patches per step")
    parser.add_argument("--lr", type=_positive(float), help="learning rate")
    parser.add_argument("--val-fraction", type=float, metavar="F",
                        help="share of the data held out for validation (default 0.1; 0: none)")
    parser.add_argument("--set", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                        help="any other network or training setting, e.g. n_filters=48, blocks_per_layer=2, "
                        "lr_schedule=plateau (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..io.atomic import read_image
    from ..foundation.progress import StopToken
    from ..training import training_events

    if not args.resume and args.noise_model is None and args.gaussian_sigma is None:
        raise InputError(
            "Training needs a noise model: give --noise-model NM.npz (see 'hdn calibrate') or, for synthetic "
            "Gaussian noise, --gaussian-sigma S."
        )
    overrides = dict(args.set)
    for name in ("threads", "patch_size", "batch_size", "lr", "val_fraction", "direct_denoiser"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    images = [read_image(path) for path in args.data]
    stop = StopToken()
    events = training_events(
        images,
        noise_model=args.noise_model,
        gaussian_sigma=args.gaussian_sigma,
        preset=args.preset,
        minutes=args.minutes,
        epochs=args.epochs,
        steps=args.steps,
        out=args.out,
        deactivate=args.deactivate,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        overwrite=args.overwrite,
        stop=stop,
        **overrides,
    )
    outcome = drive_training(events, stop, args, "train")
    if outcome is None:
        return 130
    model, last = outcome
    if not args.quiet:
        best = "" if last is None or last.best_val_loss is None else f", best validation loss {last.best_val_loss:.4f}"
        print(f"hdn train: {last.message if last else 'done'}{best}; {model.step} steps. "
              f"Restore images with: hdn predict {args.out} IMAGE --out RESULTS")
    return 0


def drive_training(events, stop, args: argparse.Namespace, command: str):
    """Drive a training's events with a progress bar; Ctrl-C / SIGTERM stop it through ``stop`` and save
    ``last``. Returns (model, last event), or None when interrupted (after saying what was saved)."""
    from ..foundation.progress import drive
    from ._interrupt import stop_on_signals
    from ._progress import ProgressBar

    bar = None if args.quiet else ProgressBar()
    last = None

    def show(event) -> None:
        nonlocal last
        last = event
        if bar is None:
            return
        if event.kind in ("setup", "validation", "bootstrap", "noise_layers"):
            bar.close()
            print(f"hdn {command}: {cli_message(event.message)}", file=bar.stream, flush=True)
        elif event.kind in ("step", "direct"):
            bar(event)

    saving = f"stopping after this step and saving the training so far to {args.out}/last"
    try:
        with stop_on_signals(stop, command, saving) as received:
            model = drive(events, show)
    finally:
        if bar is not None:
            bar.close()
    if received:
        saved = (f"saved in {args.out}/last (continue with: hdn train ... --out {args.out} --resume)"
                 if model is not None and model.step > 0 else "nothing was trained yet, nothing saved")
        print(f"hdn {command}: interrupted by {received['signal']}: {saved}", file=sys.stderr)
        return None
    return model, last
