"""train(noise_model="auto"): HDN from noisy images alone (no calibration stack, no known camera).

For each set of ../shared/benchmark.md (nuclei-pg, nuclei-low) the fast preset trains for
``--minutes`` with ``noise_model="auto"``: a Poisson-Gaussian model estimated from the noisy
training images, replaced half-way by a GMM bootstrapped from the model's own restorations.
Only the noisy training images are used (never the calibration stack or the truth). Scored by
the PSNR of the MMSE of ``--samples`` samples on the test slice, in photons. Wall time includes
the estimation and the bootstrapping.

    .venv/bin/python benchmarks/bench_auto_noise.py                       # both sets, 15 min each
    .venv/bin/python benchmarks/bench_auto_noise.py --sets nuclei-pg --minutes 0.5 --samples 4   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_noise_estimate import SETS, training_stack

import napari_hdn
from napari_hdn.io import sample_data
from napari_hdn.inference.metrics import psnr

RESULTS = Path(__file__).resolve().parent / "results"
TEST_SEEDS = {"nuclei-pg": 42, "nuclei-low": 3042}


def test_slice(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(noisy test slice 30, its truth in photons) per the benchmark definition."""
    peak, gain, sigma, offset, _, whole = SETS[name]
    s = sample_data.clean_stack()[sample_data.TEST_SLICE] / sample_data.PEAK_PHOTONS * peak
    rng = np.random.default_rng(TEST_SEEDS[name])
    x = gain * rng.poisson(s) + rng.normal(0.0, sigma, s.shape) + offset
    return (np.clip(np.round(x), 0, 65535).astype(np.uint16) if whole else x), s


def run_set(name: str, args, root: Path) -> dict:
    _, gain, _, offset, _, _ = SETS[name]
    noisy, _ = training_stack(name, 60)
    test, truth = test_slice(name)
    t0 = time.perf_counter()
    budget = {"steps": args.steps} if args.steps else {"minutes": args.minutes}
    model = napari_hdn.train(noisy, noise_model="auto", preset="fast", **budget, seed=args.seed,
                             device="cpu", out=root / name,
                             on_event=lambda e: print(f"[{name}] [{e.elapsed_s:7.1f}s] {e.message}", flush=True)
                             if e.kind in ("setup", "validation", "bootstrap", "done") else None)
    wall = time.perf_counter() - t0
    mmse = napari_hdn.restore(model, test, n_samples=args.samples, keep_samples=0, seed=args.seed).mmse
    row = {"set": name, "psnr_mmse_db": psnr(truth, (mmse - offset) / gain),
           "psnr_noisy_db": psnr(truth, (test.astype(np.float64) - offset) / gain),
           "training_wall_s": wall, "steps": model.step, "samples": args.samples,
           "noise_model": model.noise_model.kind, "provenance": model.noise_model.provenance,
           "load_average_at_end": os.getloadavg()}
    print(json.dumps(row, default=str), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["nuclei-pg", "nuclei-low"])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--steps", type=int, help="train exactly this many steps instead of --minutes (load-proof)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-models", help="folder to keep the models in (default: a temporary one)")
    parser.add_argument("--results", help="JSON file to write (default: benchmarks/results/auto_noise_<sets>.json)")
    args = parser.parse_args()
    root = Path(args.keep_models or tempfile.mkdtemp(prefix="bench_auto_noise_"))
    rows = [run_set(name, args, root) for name in args.sets]
    out = Path(args.results) if args.results else RESULTS / f"auto_noise_{'_'.join(args.sets)}.json"
    out.write_text(json.dumps({"benchmark": "../shared/benchmark.md, train(noise_model='auto'), fast preset",
                               "threads": torch.get_num_threads(), "args": vars(args), "rows": rows},
                              indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
