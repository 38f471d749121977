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

``--modes calibrated`` skips the restoration with the spread as drawn (half the time). ``--second-opinion``
also runs ``napari_hdn.second_opinion`` per model (all on, z1 off, z1-z2 off on the test slice) and checks its
ranking against the true PSNRs of the rows restored with the same layers.

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
from scipy.ndimage import gaussian_filter
from bench_auto_deactivation import _cpu_name, load_set, photons_per_raw_unit

import napari_hdn
from napari_hdn.inference.metrics import calibration_report, mean_squared_z, psnr

RESULTS = Path(__file__).resolve().parent / "results"


def one_run(model, data: dict, deactivate, samples: int, calibrate: bool, seed: int) -> dict:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = napari_hdn.restore(model, data["test"], n_samples=samples, keep_samples=samples, seed=seed,
                                    deactivate=deactivate, calibrate=calibrate)
    seconds = time.perf_counter() - t0
    to_photons = data["photons"]
    gain = photons_per_raw_unit(data)
    truth = data["truth"]
    mmse, drawn = to_photons(result.mmse), to_photons(result.samples)
    row = {"layers_off": list(result.deactivate), "calibrate": calibrate, "seconds": seconds,
           "psnr_true_db": psnr(truth, mmse),
           **calibration_report(truth, drawn, mmse, result.variance * gain**2),
           "texture": texture_share(truth, drawn, mmse, result.variance * gain**2)}
    if result.uncertainty is not None:
        estimated_mse = result.estimated_mse * gain**2
        row.update(factor=result.uncertainty.factor, reliable=result.uncertainty.reliable,
                   psnr_estimated_db=10 * math.log10(float(truth.max() - truth.min()) ** 2 / estimated_mse),
                   psnr_estimated_mmse_range_db=result.estimated_psnr,
                   true_mse=float(np.mean((truth - mmse) ** 2)), estimated_mse=estimated_mse)
        row["psnr_error_db"] = row["psnr_estimated_db"] - row["psnr_true_db"]
    print(f"  off {row['layers_off']} calibrate={calibrate}: PSNR {row['psnr_true_db']:.2f}"
          + (f" (estimated {row['psnr_estimated_db']:.2f}, factor {row['factor']:.2f})" if "factor" in row else "")
          + f", 90 % covers {100 * row['coverage']['90%']:.1f} %, mean z^2 {row['mean_squared_z']:.2f}"
          + f" (smoothed truth {100 * row['texture']['coverage_90_smoothed_truth']:.1f} %,"
          f" {row['texture']['mean_squared_z_smoothed_truth']:.2f})"
          + f" ({seconds:.0f} s)", flush=True)
    return row


def texture_share(truth, samples, mmse, variance) -> dict:
    """How much of the interval's misses the truth's own pixel texture explains: coverage and mean z^2 against
    the truth smoothed by a Gaussian of 1 px (the texture removed, as nuclei-cam's truth is made), and the share
    of the 90 % interval's misses against the truth that are hits against the smoothed one."""
    smooth = gaussian_filter(np.asarray(truth, np.float64), 1.0)
    low, high = np.quantile(samples, [0.05, 0.95], axis=0)
    missed = (truth < low) | (truth > high)
    missed_smooth = (smooth < low) | (smooth > high)
    return {"coverage_90_smoothed_truth": float(np.mean(~missed_smooth)),
            "mean_squared_z_smoothed_truth": mean_squared_z(smooth, mmse, variance),
            "share_of_misses_explained": float(np.mean(missed & ~missed_smooth) / max(np.mean(missed), 1e-12))}


def second_opinion_row(model, data: dict, samples: int, seed: int, rows: list[dict]) -> dict:
    """``napari_hdn.second_opinion`` on the test slice (its own 10-sample probes), its ranking of the layer
    choices against the true PSNRs of this model's rows (the same choices restored with ``samples`` samples)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opinion = napari_hdn.second_opinion(model, data["test"], n_samples=samples, seed=seed)
    truth, gain = data["truth"], photons_per_raw_unit(data)
    span = float(truth.max() - truth.min())
    estimated = {tuple(e.layers_off): 10 * math.log10(span**2 / (e.mse * gain**2)) for e in opinion.estimates}
    true = {tuple(r["layers_off"]): r["psnr_true_db"] for r in rows if tuple(r["layers_off"]) in estimated}
    shared = [k for k in estimated if k in true]
    row = {"suggested": list(opinion.suggested), "best": list(opinion.best), "agrees": opinion.agrees,
           "summary": opinion.summary, "seconds": time.perf_counter() - t0,
           "estimated_psnr_db": {str(list(k)): v for k, v in estimated.items()},
           "true_psnr_db": {str(list(k)): true[k] for k in shared},
           "ranked_as_truth": sorted(shared, key=lambda k: -estimated[k]) == sorted(shared, key=lambda k: -true[k])
           if len(shared) > 1 else None}
    print(f"  second opinion ({row['seconds']:.0f} s): {opinion.summary} Ranked as the truth: {row['ranked_as_truth']}",
          flush=True)
    return row


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
    parser.add_argument("--second-opinion", action="store_true",
                        help="also run napari_hdn.second_opinion per model and rank its choices against the truth")
    parser.add_argument("--out", type=Path, default=RESULTS / "uncertainty.json")
    args = parser.parse_args()
    rows, opinions = [], []
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
        if args.second_opinion:
            opinions.append({"set": name, "model": folder, **second_opinion_row(
                model, data, args.samples, args.seed, [r for r in rows if r["model"] == folder])})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"benchmark": "uncertainty", "ranking": ranking(rows), "cpu": _cpu_name(), "machine": platform.machine(), "samples": args.samples}
    args.out.write_text(json.dumps({**meta, "results": rows, "second_opinions": opinions}, indent=1, default=str))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
