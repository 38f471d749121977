"""``hdn demo``: the whole pipeline on the built-in sample data.

calibration stack -> noise model (+ diagnostic plot) -> training (fast preset,
short budget) -> restoration of the test slice (MMSE, variance, samples,
per-layer activations) -> a one-pass direct denoiser distilled from the model (hdn predict --direct)
-> PSNR against the known ground truth and a PNG overview.
It calls the same core generators as ``hdn calibrate``, ``hdn train`` and
``hdn predict`` and the napari widgets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..foundation.errors import InputError
from ..foundation.progress import drive
from ..io.atomic import atomic_path, atomic_write_text
from ..io.tiff import write_tiff
from ._progress import ProgressBar

# --structured also restores with the finest latent layers off (selective deactivation: row-correlated
# noise is learned there): file suffix -> (layers off, panel title).
DEACTIVATION_VARIANTS = {"_layer_1_off": ((1,), "z1 off"), "_layers_1_2_off": ((1, 2), "z1-z2 off")}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="run calibration, training and restoration on the built-in sample data",
        description=(
            "Runs the whole pipeline on the built-in sample data (the cells3d nuclei with simulated "
            "Poisson-Gaussian camera noise): calibrates a noise model from 100 repeated acquisitions, "
            "trains an HDN model with the 'fast' preset, restores the test slice and writes the results, "
            "the PSNRs against the ground truth and an overview PNG into --out."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("hdn-demo"), help="output folder (default: hdn-demo)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training time budget in minutes (default: 3)")
    parser.add_argument(
        "--steps", type=int, default=None, help="training budget in optimisation steps instead of minutes (quick checks)"
    )
    parser.add_argument("--samples", type=int, default=100, help="posterior samples for the MMSE (default: 100)")
    parser.add_argument("--direct-minutes", type=float, default=0.5,
                        help="training time of the one-pass direct denoiser distilled from the model (default: 0.5)")
    parser.add_argument(
        "--kind",
        choices=("gmm", "histogram", "poisson_gaussian"),
        default="gmm",
        help="noise model to calibrate (default: gmm)",
    )
    parser.add_argument(
        "--structured",
        action="store_true",
        help="use the row-correlated noise variant and also restore with latent layer 1, and layers 1-2, switched off",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for training and sampling (default: 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    return parser


def _write_tiff(path: Path, data: np.ndarray, stack: bool = False) -> None:
    """float32 TIFF written atomically; ``stack``: the first axis holds samples or latent layers."""
    with atomic_path(path) as tmp:
        write_tiff(tmp, data, {}, extra_axis=stack)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give a folder name.")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"{out} already exists and is not empty: choose another --out or add --overwrite.")
        if not (out / "summary.json").exists():
            raise InputError(f"{out} is not a folder written by 'hdn demo': refusing to replace it.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run(args: argparse.Namespace) -> int:
    from ..io import sample_data
    from ..inference import layer_activations_events, restore_events
    from ..inference.metrics import psnr
    from ..noise_models import calibrate_events, noise_model_diagnostics, save_diagnostics_plot
    from ..training import training_events

    if args.minutes <= 0:
        raise InputError("--minutes must be positive.")
    if args.steps is not None and args.steps < 1:
        raise InputError("--steps must be at least 1.")
    if args.direct_minutes <= 0:
        raise InputError("--direct-minutes must be positive.")
    if args.samples < 2:
        raise InputError("--samples must be at least 2.")
    out: Path = args.out
    _prepare_out(out, args.overwrite)
    bar = ProgressBar()

    print(f"hdn demo: sample data ({'row-correlated' if args.structured else 'Poisson-Gaussian'} noise)")
    data = sample_data.load(structured=args.structured)
    calibration = sample_data.calibration_stack(structured=args.structured)
    _write_tiff(out / "noisy.tif", data.test_image)
    _write_tiff(out / "ground_truth.tif", data.ground_truth)

    fit_options = {"device": args.device} if args.kind == "gmm" else {}  # only the GMM fit runs on a device
    noise_model = drive(calibrate_events(calibration, kind=args.kind, **fit_options), bar)
    bar.close()
    noise_model.save(out / "noise_model.npz")
    diagnostics = noise_model_diagnostics(noise_model, stack=calibration)
    save_diagnostics_plot(diagnostics, out / "noise_model.png")
    print(f"hdn demo: noise model -> {out / 'noise_model.npz'}, diagnostics -> {out / 'noise_model.png'}")

    model = drive(
        training_events(
            data.noisy_stack,
            noise_model=noise_model,
            preset="fast",
            minutes=None if args.steps else args.minutes,
            steps=args.steps,
            out=out / "model",
            seed=args.seed,
            device=args.device,
        ),
        bar,
    )
    bar.close()
    print(f"hdn demo: model -> {out / 'model'}")

    variants = {"": ()}
    if args.structured:
        variants.update({suffix: off for suffix, (off, _) in DEACTIVATION_VARIANTS.items()})
    scores: dict[str, float] = {"noisy": psnr(data.ground_truth, sample_data.photons(data.test_image))}
    results, seconds = {}, {}
    for suffix, off in variants.items():
        start = time.perf_counter()
        result = drive(
            restore_events(model, data.test_image, n_samples=args.samples, keep_samples=2, deactivate=off, seed=args.seed),
            bar,
        )
        bar.close()
        results[suffix] = result
        seconds[f"mmse{suffix}"] = round(time.perf_counter() - start, 2)
        _write_tiff(out / f"mmse{suffix}.tif", result.mmse)
        _write_tiff(out / f"variance{suffix}.tif", result.variance)
        _write_tiff(out / f"samples{suffix}.tif", result.samples, stack=True)
        scores[f"mmse{suffix}"] = psnr(data.ground_truth, sample_data.photons(result.mmse))
    scores["direct (one pass)"], seconds["direct (one pass)"] = _one_pass(model, data, args, out, bar)
    contributions, kl_maps = drive(layer_activations_events(model, data.test_image), bar)
    bar.close()
    _write_tiff(out / "activations.tif", contributions, stack=True)
    _write_tiff(out / "kl_maps.tif", kl_maps, stack=True)

    _overview(out / "overview.png", data, results, contributions, scores)
    summary = {
        "psnr_db": {k: round(v, 3) for k, v in scores.items()},
        "training_budget": {"steps": args.steps} if args.steps else {"minutes": args.minutes},
        "n_samples": args.samples,
        "restoration_seconds": seconds,
        "noise_model": args.kind,
        "structured": args.structured,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    for name, value in scores.items():
        print(f"hdn demo: PSNR {name:>22s} {value:6.2f} dB")
    print(f"hdn demo: {args.samples} samples took {seconds['mmse']:.1f} s, the one-pass direct denoiser "
          f"{seconds['direct (one pass)']:.2f} s (hdn predict --direct)")
    print(f"hdn demo: overview -> {out / 'overview.png'}")
    return 0


def _one_pass(model: Any, data: Any, args: argparse.Namespace, out: Path, bar: Any) -> tuple[float, float]:
    """Distil the model's MMSE into a direct denoiser (Salmon & Krull 2023), store it with the model and
    restore the test slice in one pass; returns its PSNR and the seconds the pass took."""
    from ..io import sample_data
    from ..direct import denoise, distill_events
    from ..inference.metrics import psnr

    budget = {"steps": args.steps} if args.steps else {"minutes": args.direct_minutes}
    drive(distill_events(model, data.noisy_stack, seed=args.seed, **budget), bar)
    bar.close()
    model.direct_denoisers.save(out / "model" / "best")
    start = time.perf_counter()
    estimate = denoise(model, data.test_image)
    took = time.perf_counter() - start
    _write_tiff(out / "mmse_direct.tif", estimate)
    print(f"hdn demo: one-pass direct denoiser -> {out / 'model' / 'best'}, mmse_direct.tif")
    return psnr(data.ground_truth, sample_data.photons(estimate)), round(took, 3)


def _overview(path: Path, data: Any, results: dict[str, Any], contributions: np.ndarray, scores: dict[str, float]) -> None:
    """Noisy, MMSE, two samples, variance in the first row; one panel per latent layer's contribution below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    main = results[""]
    panels = [
        ("noisy", data.test_image, f"{scores['noisy']:.2f} dB"),
        ("MMSE", main.mmse, f"{scores['mmse']:.2f} dB"),
        ("sample 1", main.samples[0], ""),
        ("sample 2", main.samples[1], ""),
        ("variance", main.variance, ""),
    ]
    for suffix, result in results.items():
        if suffix:
            panels.append((f"MMSE, {DEACTIVATION_VARIANTS[suffix][1]}", result.mmse, f"{scores['mmse' + suffix]:.2f} dB"))
    n_layers = contributions.shape[0]
    cols = max(len(panels), n_layers)
    figure = Figure(figsize=(2.6 * cols, 5.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    low, high = np.percentile(data.test_image, (0.5, 99.8))
    for ax, (title, image, note) in zip(axes[0], panels):
        if title == "variance":
            ax.imshow(image, cmap="magma")
        else:
            ax.imshow(image, cmap="gray", vmin=low, vmax=high)
        ax.set_title(f"{title}\n{note}" if note else title, fontsize=9)
    for i in range(n_layers):
        axes[1, i].imshow(contributions[i], cmap="gray")
        axes[1, i].set_title(f"z{i + 1} alone (posterior mean)", fontsize=9)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
