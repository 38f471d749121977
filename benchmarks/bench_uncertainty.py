"""How honest the uncertainty is, and how good the error estimate without ground truth is (issue 26).

For each kept model of ``bench_auto_deactivation.py`` (fast preset, 15 minutes: ``--models SET=FOLDER``), the
set's test slice is restored with ``--samples`` samples, all kept, with the layers given per run (the
recorded/suggested ones for ``auto``), twice: with the posterior spread as drawn (``calibrate=False``) and
with the self-calibration (the default). Against the truth (photons, never used by the software):

- coverage of the central 50/90/95 % intervals of the samples, the mean squared z-score
  (truth - MMSE)^2 / variance, and the reliability diagram (``napari_hdn.inference.metrics``);
- the true PSNR beside the PSNR estimated without ground truth (``RestorationResult.estimated_psnr``: Stein's
  unbiased risk estimate, ``napari_hdn.inference.error_estimate``), both with the truth's range, and whether
  the estimate ranks the layer choices of one model as the truth does.

``--modes calibrated`` skips the restoration with the spread as drawn (half the time).

    .venv/bin/python benchmarks/bench_uncertainty.py --models nuclei-cam=/work/bench_models/cam-auto ...
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from bench_auto_deactivation import _cpu_name, load_set

import napari_hdn
from napari_hdn.inference.metrics import calibration_report, psnr

RESULTS = Path(__file__).resolve().parent / "results"


def one_run(model, data: dict, deactivate, samples: int, calibrate: bool, seed: int) -> dict:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = napari_hdn.restore(model, data["test"], n_samples=samples, keep_samples=samples, seed=seed,
                                    deactivate=deactivate, calibrate=calibrate)
    seconds = time.perf_counter() - t0
    to_photons = data["photons"]
    gain = float(to_photons(np.float64(1.0)) - to_photons(np.float64(0.0)))  # photons per raw unit
    truth = data["truth"]
    mmse = to_photons(result.mmse)
    row = {"layers_off": list(result.deactivate), "calibrate": calibrate, "seconds": seconds,
           "psnr_true_db": psnr(truth, mmse),
           **calibration_report(truth, to_photons(result.samples), mmse, result.variance * gain**2)}
    if result.uncertainty is not None:
        estimated_mse = result.estimated_mse * gain**2
        row.update(factor=result.uncertainty.factor, reliable=result.uncertainty.reliable,
                   psnr_estimated_db=10 * math.log10(float(truth.max() - truth.min()) ** 2 / estimated_mse),
                   psnr_estimated_mmse_range_db=result.estimated_psnr,
                   true_mse=float(np.mean((truth - mmse) ** 2)), estimated_mse=estimated_mse)
        row["psnr_error_db"] = row["psnr_estimated_db"] - row["psnr_true_db"]
        row["sure_temperature"] = sure_temperature(result, truth, to_photons, gain)
    print(f"  off {row['layers_off']} calibrate={calibrate}: PSNR {row['psnr_true_db']:.2f}"
          + (f" (estimated {row['psnr_estimated_db']:.2f}, factor {row['factor']:.2f})" if "factor" in row else "")
          + f", 90 % covers {100 * row['coverage']['90%']:.1f} %, mean z^2 {row['mean_squared_z']:.2f}"
          + (f" (with the error estimate's temperature {100 * row['sure_temperature']['coverage']['90%']:.1f} %,"
             f" {row['sure_temperature']['mean_squared_z']:.2f})" if "sure_temperature" in row else "")
          + f" ({seconds:.0f} s)", flush=True)
    return row


def sure_temperature(result, truth, to_photons, gain: float) -> dict:
    """The alternative temperature (not the library's): the spread scaled so that the variance map's mean is
    the error estimate's MSE, with the coverage it would reach (samples scaled about the MMSE)."""
    scale = float(result.estimated_mse / np.mean(np.asarray(result.variance, np.float64)))
    mmse = np.asarray(result.mmse, np.float64)
    samples = mmse + (np.asarray(result.samples, np.float64) - mmse) * math.sqrt(scale)
    report = calibration_report(truth, to_photons(samples), to_photons(mmse), result.variance * scale * gain**2)
    return {"factor": scale * result.uncertainty.factor, "coverage": report["coverage"],
            "mean_squared_z": report["mean_squared_z"]}


def ranking(rows: list[dict]) -> dict:
    """Per set and model: the layer choices ordered by true and by estimated PSNR, and whether they agree."""
    out = {}
    for row in rows:
        if "psnr_estimated_db" in row:
            out.setdefault(f"{row['set']} {row['model']}", []).append(row)
    return {key: {"by_truth": [r["layers_off"] for r in sorted(group, key=lambda r: -r["psnr_true_db"])],
                  "by_estimate": [r["layers_off"] for r in sorted(group, key=lambda r: -r["psnr_estimated_db"])],
                  "agree": sorted(group, key=lambda r: -r["psnr_true_db"])
                  == sorted(group, key=lambda r: -r["psnr_estimated_db"])}
            for key, group in out.items() if len(group) > 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="SET=MODEL_FOLDER ...")
    parser.add_argument("--deactivate", nargs="+", default=["auto"],
                        help="layer sets to restore with: auto, none, 1, 1,2 (default auto)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", choices=("drawn", "calibrated"), default=["drawn", "calibrated"])
    parser.add_argument("--out", type=Path, default=RESULTS / "uncertainty.json")
    args = parser.parse_args()
    rows = []
    for spec in args.models:
        name, folder = spec.split("=", 1)
        data = load_set(name)
        model = napari_hdn.load_model(folder, device="cpu")
        print(f"{name} ({folder}, {model.noise_model.kind} noise model):", flush=True)
        for choice in args.deactivate:
            deactivate = "auto" if choice == "auto" else () if choice == "none" else tuple(
                int(k) for k in choice.split(","))
            for calibrate in [mode == "calibrated" for mode in args.modes]:
                rows.append({"set": name, "model": folder, "asked": choice,
                             **one_run(model, data, deactivate, args.samples, calibrate, args.seed)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"benchmark": "uncertainty", "ranking": ranking(rows), "cpu": _cpu_name(), "machine": platform.machine(), "samples": args.samples}
    args.out.write_text(json.dumps({**meta, "results": rows}, indent=1, default=str))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
