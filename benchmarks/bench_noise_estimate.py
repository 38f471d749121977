"""Noise model estimated from the noisy training images alone, against the true camera noise.

Data: ``../shared/benchmark.md``'s sets, generated exactly as defined there, noisy training stacks only
(never the calibration stack or the truth, which is used only to score):

- nuclei-pg: 60 slices, x = 1.0 * Poisson(s) + N(0, 3^2) + 100 (float), seeds 12 + i;
- nuclei-low: 60 slices at 8 photons peak, x = round(2.0 * Poisson(s) + N(0, 1.5^2) + 100) as uint16,
  seeds 2000 + i.

``estimate_noise_model(stack)`` is timed; the fitted variance-vs-signal curve is compared with the truth
over the 5-95 percentile range of the true signal (raw units) of the training stack. For whole-number data
the truth is the variance of the data as stored, gain * (s - offset) + sigma^2 + 1/12 (rounding); the error
against the camera's variance without the rounding is reported beside it. Target: within 10 %.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_noise_estimate.py [--sets nuclei-pg nuclei-low] [--slices 60]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from napari_hdn import sample_data
from napari_hdn.noise_models.estimate import estimate_noise_model

RESULTS = Path(__file__).parent / "results"
SETS = {  # name: (peak photons, gain, read sigma, offset, seed base, whole numbers)
    "nuclei-pg": (30.0, 1.0, 3.0, 100.0, 12, False),
    "nuclei-low": (8.0, 2.0, 1.5, 100.0, 2000, True),
}


def training_stack(name: str, n_slices: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy training stack, true signal in raw units) of ``name``, per the benchmark definition."""
    peak, gain, sigma, offset, seed_base, whole = SETS[name]
    clean = sample_data.clean_stack()[:n_slices] / sample_data.PEAK_PHOTONS * peak  # (c - min) / (max - min) * peak
    noisy = []
    for i, s in enumerate(clean):
        rng = np.random.default_rng(seed_base + i)
        x = gain * rng.poisson(s) + rng.normal(0.0, sigma, s.shape) + offset
        noisy.append(np.clip(np.round(x), 0, 65535).astype(np.uint16) if whole else x)
    return np.stack(noisy), gain * clean + offset


def score(name: str, n_slices: int) -> dict:
    peak, gain, sigma, offset, _, whole = SETS[name]
    noisy, signal = training_stack(name, n_slices)
    start = time.perf_counter()
    estimate = estimate_noise_model(noisy)
    seconds = time.perf_counter() - start
    low, high = np.percentile(signal, (5, 95))
    s = np.linspace(low, high, 200)
    fitted = estimate.model.moments(s)[1].double().numpy()
    camera = gain * (s - offset) + sigma**2
    stored = camera + (1.0 / 12.0 if whole else 0.0)
    error = float(np.max(np.abs(fitted / stored - 1.0)))
    return {
        "set": name,
        "slices": n_slices,
        "seconds": round(seconds, 3),
        "signal_range_5_95": [float(low), float(high)],
        "max_relative_variance_error": error,
        "max_relative_variance_error_vs_camera_without_rounding": float(np.max(np.abs(fitted / camera - 1.0))),
        "target_met": error <= 0.10,
        "estimate": estimate.parameters(),
        "truth": {"gain": gain, "offset": offset, "read_sigma": sigma, "whole_numbers": whole},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS, reverse=True))
    parser.add_argument("--slices", type=int, default=60, help="training slices used (default: all 60)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: benchmarks/results/...)")
    args = parser.parse_args()
    results = []
    for name in args.sets:
        r = score(name, args.slices)
        e = r["estimate"]
        print(
            f"{name}: gain {e['gain']:.4g} +- {e['gain_std']:.2g}, offset {e['offset']:.4g}, read sigma "
            f"{e['read_sigma']:.4g} +- {e['read_sigma_std']:.2g} (truth {r['truth']}); variance curve within "
            f"{100 * r['max_relative_variance_error']:.1f} % of the truth over signal {r['signal_range_5_95'][0]:.1f}"
            f"..{r['signal_range_5_95'][1]:.1f} ({r['seconds']:.2f} s)"
        )
        results.append(r)
    out = args.out or RESULTS / f"noise_estimate_{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "python": platform.python_version()}
    out.write_text(json.dumps({"benchmark": "noise_estimate", **meta, "results": results}, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
