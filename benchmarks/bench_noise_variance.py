"""How far a kept model's noise model is from the noise it describes (what the error estimate leans on, issue 26).

For each ``--models SET=FOLDER``: the noise actually drawn into the set's test slice (noisy - truth, in raw
units: the truth mapped back through the set's raw -> photons map) beside the noise model's variance at the
truth and at a 10-sample restoration, over the whole slice and in five signal bins. The error estimate
without ground truth (``napari_hdn.inference.error_estimate``) is off by about the variance's error times
(1 - 2 x the share of the noise the restoration keeps), while a good restoration's error is only 5-8 % of
the noise variance: a variance 3 % low makes the estimate about half the error too pessimistic.

    .venv/bin/python benchmarks/bench_noise_variance.py --models nuclei-cam=/work/bench_models/cam-auto-1500 ...
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings
from pathlib import Path

import numpy as np
import torch
from bench_auto_deactivation import _cpu_name, load_set, photons_per_raw_unit

import napari_hdn

RESULTS = Path(__file__).resolve().parent / "results"


def variance_at(noise_model, signal: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return noise_model.moments(np.asarray(signal, np.float32))[1].double().cpu().numpy()


def one_model(name: str, folder: str) -> dict:
    data = load_set(name)
    noisy = np.asarray(data["test"], np.float64)
    to_photons = data["photons"]
    gain = photons_per_raw_unit(data)
    truth_raw = (np.asarray(data["truth"], np.float64) - float(to_photons(np.float64(0.0)))) / gain
    model = napari_hdn.load_model(folder, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = napari_hdn.restore(model, data["test"], n_samples=10, keep_samples=0).mmse
    realised = (noisy - truth_raw) ** 2
    at_truth, at_restoration = variance_at(model.noise_model, truth_raw), variance_at(model.noise_model, restored)
    edges = np.quantile(truth_raw, [0, 0.25, 0.5, 0.75, 0.9, 1.0])
    bins = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (truth_raw >= low) & (truth_raw <= high)
        bins.append({"signal": [float(low), float(high)], "realised": float(realised[inside].mean()),
                     "model_at_truth": float(at_truth[inside].mean())})
    row = {"set": name, "model": folder, "noise_model_source": model.noise_model.provenance.get("source"),
           "realised_noise_power": float(realised.mean()), "model_variance_at_truth": float(at_truth.mean()),
           "model_variance_at_restoration": float(at_restoration.mean()), "bins": bins}
    row["relative_error_at_truth"] = row["model_variance_at_truth"] / row["realised_noise_power"] - 1
    print(f"{name} ({row['noise_model_source']}): realised {row['realised_noise_power']:.3f}, model at the truth "
          f"{row['model_variance_at_truth']:.3f} ({100 * row['relative_error_at_truth']:+.1f} %), at the "
          f"restoration {row['model_variance_at_restoration']:.3f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="SET=MODEL_FOLDER ...")
    parser.add_argument("--out", type=Path, default=RESULTS / "noise_variance.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [one_model(*spec.split("=", 1)) for spec in args.models]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"benchmark": "noise_variance", "cpu": _cpu_name(), "machine": platform.machine()}
    args.out.write_text(json.dumps({**meta, "results": rows}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
