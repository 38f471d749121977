"""Adapting a trained model to new data (napari_hdn.adapt) against training from scratch.

Per ../shared/benchmark.md: a ``fast`` model trained ``--parent-minutes`` (15) on nuclei-pg (noise model
from the known camera: gain 1, offset 100, read sigma 3) is adapted for ``--adapt-minutes`` (3) to
nuclei-low (another light level and camera, whole-number data) with nuclei-low's own noise model, a
Poisson-Gaussian model calibrated from its calibration stack (100 frames of slice 30, seeds 4000-4099).
Compared with (a) the parent without adaptation, (b) ``--adapt-minutes`` and (c) ``--scratch-minutes``
(15) of training from scratch on nuclei-low with the same noise model. Score: PSNR of the MMSE of
``--samples`` samples of the test slice, in photons. Targets (issue 14): adapted >= scratch-3 + 0.5 dB,
and within 0.2 dB of scratch-15.

Each arm is a phase; models are kept in ``--models`` so that phases can run one at a time (the
machine must be quiet while one trains) and results are merged into one JSON file:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_adapt.py --phases parent scratch-long scratch-short
    PYTHONPATH=src .venv/bin/python benchmarks/bench_adapt.py --phases none adapt-all adapt-gains
    PYTHONPATH=src .venv/bin/python benchmarks/bench_adapt.py --phases parent adapt-all --parent-minutes 0.3 \\
        --adapt-minutes 0.2 --samples 4 --models /tmp/adapt_smoke --results /tmp/adapt_smoke.json   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from bench_auto_noise import test_slice
from bench_noise_estimate import SETS, training_stack

import napari_hdn
from napari_hdn.io import sample_data
from napari_hdn.inference.metrics import psnr
from napari_hdn.noise_models.poisson_gaussian import PoissonGaussianNoiseModel

RESULTS = Path(__file__).resolve().parent / "results"
PHASES = ("parent", "scratch-long", "scratch-short", "none", "adapt-all", "adapt-gains")


def low_calibration_stack() -> np.ndarray:
    """100 frames of nuclei-low's slice 30, seeds 4000-4099, as the camera writes them."""
    peak, gain, sigma, offset, _, _ = SETS["nuclei-low"]
    s = sample_data.clean_stack()[sample_data.TEST_SLICE] / sample_data.PEAK_PHOTONS * peak
    frames = []
    for seed in range(4000, 4100):
        rng = np.random.default_rng(seed)
        x = gain * rng.poisson(s) + rng.normal(0.0, sigma, s.shape) + offset
        frames.append(np.clip(np.round(x), 0, 65535).astype(np.uint16))
    return np.stack(frames)


def low_noise_model():
    return napari_hdn.calibrate(low_calibration_stack(), kind="poisson_gaussian")


def _printer(tag: str):
    return lambda e: print(f"[{tag}] [{e.elapsed_s:7.1f}s] {e.message}", flush=True) if e.kind in (
        "setup", "validation", "done") else None


def run_phase(phase: str, args, models: Path) -> tuple[Path, float | None]:
    """Trains (or adapts) the model of ``phase``; returns its folder and the wall time (None: not trained)."""
    low, _ = training_stack("nuclei-low", 60)
    common = {"preset": "fast", "seed": args.seed, "device": "cpu", "overwrite": True}
    t0 = time.perf_counter()
    if phase == "parent":
        pg, _ = training_stack("nuclei-pg", 60)
        napari_hdn.train(pg, PoissonGaussianNoiseModel(1.0, 100.0, 3.0), minutes=args.parent_minutes,
                         out=models / phase, on_event=_printer(phase), **common)
    elif phase.startswith("scratch"):
        minutes = args.scratch_minutes if phase == "scratch-long" else args.adapt_minutes
        napari_hdn.train(low, low_noise_model(), minutes=minutes, out=models / phase, on_event=_printer(phase),
                         **common)
    elif phase.startswith("adapt"):
        napari_hdn.adapt(models / "parent" / "best", low, noise_model=low_noise_model(), minutes=args.adapt_minutes,
                         mode=phase.removeprefix("adapt-"), out=models / _row(phase, args), seed=args.seed,
                         device="cpu", overwrite=True, on_event=_printer(phase),
                         **({} if args.adapt_lr is None else {"lr": args.adapt_lr}))
        return models / _row(phase, args), time.perf_counter() - t0
    else:  # "none": the parent as it is
        return models / "parent", None
    return models / phase, time.perf_counter() - t0


def _row(phase: str, args) -> str:
    """The result row (and model folder) of a phase: adaptation phases with another lr get their own."""
    return phase if args.adapt_lr is None or not phase.startswith("adapt") else f"{phase}-lr{args.adapt_lr:g}"


def score(folder: Path, args) -> dict:
    _, gain, _, offset, _, _ = SETS["nuclei-low"]
    test, truth = test_slice("nuclei-low")
    model = napari_hdn.load_model(folder / "best", device="cpu")
    mmse = napari_hdn.restore(model, test, n_samples=args.samples, keep_samples=0, seed=args.seed).mmse
    return {"psnr_mmse_db": psnr(truth, (mmse - offset) / gain),
            "psnr_noisy_db": psnr(truth, (test.astype(np.float64) - offset) / gain),
            "steps": model.step, "parent": getattr(model, "parent", None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--parent-minutes", type=float, default=15.0)
    parser.add_argument("--scratch-minutes", type=float, default=15.0)
    parser.add_argument("--adapt-minutes", type=float, default=3.0)
    parser.add_argument("--adapt-lr", type=float, help="learning rate of the adaptations (default: the parent's)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="/tmp/bench_adapt_models", help="folder holding each phase's model")
    parser.add_argument("--results", default=str(RESULTS / "adapt_nuclei-low.json"))
    args = parser.parse_args()
    models, out = Path(args.models), Path(args.results)
    models.mkdir(parents=True, exist_ok=True)
    report = json.loads(out.read_text()) if out.exists() else {
        "benchmark": "../shared/benchmark.md: fast model from nuclei-pg adapted to nuclei-low", "rows": {}}
    for phase in args.phases:
        folder, wall = run_phase(phase, args, models)
        if phase == "parent":
            row = {"training_wall_s": wall, "minutes": args.parent_minutes, "set": "nuclei-pg"}
        else:
            row = {**score(folder, args), "training_wall_s": wall, "samples": args.samples}
        row.update(load_average_at_end=os.getloadavg(), threads=torch.get_num_threads(),
                   finished=time.strftime("%Y-%m-%d %H:%M:%S"))
        print(json.dumps({_row(phase, args): row}, default=str), flush=True)
        report["rows"][_row(phase, args)] = row
        report["args"] = vars(args)
        out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
