"""Selective deactivation on structured noise: PSNR of the MMSE with latent layers 1-2 off vs all on.

The "nuclei-struct" variant of the public benchmark (../shared/benchmark.md):
camera noise whose read noise is correlated along rows. A model trained with
the ``fast`` preset and a *pixel-wise* noise model (the Poisson-Gaussian camera
with the known gain 1, offset 100, read sigma 3, which cannot explain the
correlation) may learn the correlated part of the noise as image content, in
its finest latent layers; switching those off (they then take their conditional
prior's mean) is the paper's remedy. Two ways are scored, each against the
MMSE of a model trained and used with all layers on:

1. off at inference only: the all-on model restored with layers 1, 1-2, 1-3 off;
2. off in training and inference, as the reference code does for structured noise
   (``use_uncond_mode_at=[0, 1]``): a second model trained with layers 1-2 off.

Each model is trained for ``--minutes`` (or given with ``--model`` /
``--model-off``); the test slice is restored with ``--samples`` posterior
samples; PSNR in photons with the benchmark's data range. Target: layers 1-2
off at least 0.5 dB above all layers on.

    .venv/bin/python benchmarks/bench_deactivation.py                  # trains 2 x 15 min (fast preset), then scores
    .venv/bin/python benchmarks/bench_deactivation.py --model A --model-off B   # scores existing models
    .venv/bin/python benchmarks/bench_deactivation.py --model A --inference-only

Results (JSON) go to benchmarks/results/deactivation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from napari_hdn.io import sample_data
from napari_hdn.inference import layer_activations, restore
from napari_hdn.inference.metrics import psnr
from napari_hdn.model.bundle import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel
from napari_hdn.foundation.progress import drive
from napari_hdn.training import training_events

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"all layers on": (), "layer 1 off": (1,), "layers 1-2 off": (1, 2), "layers 1-3 off": (1, 2, 3)}
TARGET_GAIN_DB = 0.5


def train_model(data, minutes: float, seed: int, out: Path, deactivate: tuple[int, ...] = ()):
    noise_model = PoissonGaussianNoiseModel(sample_data.GAIN, sample_data.OFFSET, sample_data.READ_SIGMA)
    events = training_events(data.noisy_stack, noise_model, preset="fast", minutes=minutes, out=out, seed=seed,
                             deactivate=deactivate, device="cpu")
    start = time.perf_counter()

    def report(event):
        if event.kind in ("setup", "validation"):
            print(f"[{time.perf_counter() - start:7.1f}s] {event.message}", flush=True)

    return drive(events, report).to("cpu")


def obtain(path: str | None, data, args, deactivate: tuple[int, ...], name: str):
    """The model at ``path``, or a newly trained one (kept in --keep-models/name or a temporary folder)."""
    if path:
        return load_model(path, device="cpu"), path
    root = Path(args.keep_models) if args.keep_models else Path(tempfile.mkdtemp(prefix="bench_deactivation_"))
    out = root / name
    print(f"training {name} (fast preset, {args.minutes} min, layers {list(deactivate)} off)", flush=True)
    return train_model(data, args.minutes, args.seed, out, deactivate), str(out)


def mmse_psnr(model, data, off: tuple[int, ...], args) -> float:
    t0 = time.perf_counter()
    result = restore(model, data.test_image, n_samples=args.samples, keep_samples=0, deactivate=off, seed=args.seed)
    score = psnr(data.ground_truth, sample_data.photons(result.mmse))
    print(f"  MMSE PSNR {score:6.2f} dB ({time.perf_counter() - t0:.0f} s)", flush=True)
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="an existing model trained with all layers on (skips its training)")
    parser.add_argument("--model-off", help="an existing model trained with layers 1-2 off (skips its training)")
    parser.add_argument("--inference-only", action="store_true", help="score only way 1 (no second model)")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget of each model (default 15)")
    parser.add_argument("--samples", type=int, default=100, help="posterior samples per MMSE (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-models", help="folder to keep the trained models in (default: a temporary folder)")
    args = parser.parse_args(argv)

    data = sample_data.load(structured=True)
    scores = {"noisy input": psnr(data.ground_truth, sample_data.photons(data.test_image))}
    models = {}
    model, models["all_on"] = obtain(args.model, data, args, (), "all_on")
    steps = {"all_on": model.step}
    for name, off in VARIANTS.items():
        if len(off) < model.n_layers:
            print(f"all-on model, {name}:", flush=True)
            scores[name] = mmse_psnr(model, data, off, args)
    _, kl_maps = layer_activations(model, data.test_image)
    mean_kl = [float(k.mean()) for k in kl_maps]
    print("mean KL per latent layer (nats/pixel): " + ", ".join(f"z{i + 1} {k:.3f}" for i, k in enumerate(mean_kl)))
    gains = {"layers 1-2 off at inference": scores["layers 1-2 off"] - scores["all layers on"]}
    if not args.inference_only:
        trained_off, models["trained_1_2_off"] = obtain(args.model_off, data, args, (1, 2), "trained_1_2_off")
        steps["trained_1_2_off"] = trained_off.step
        if trained_off.trained_deactivated != (1, 2):
            raise SystemExit(f"--model-off was trained with layers {list(trained_off.trained_deactivated)} off, not 1-2")
        print("model trained with layers 1-2 off:", flush=True)
        scores["trained with layers 1-2 off"] = mmse_psnr(trained_off, data, (), args)
        gains["layers 1-2 off in training and inference"] = scores["trained with layers 1-2 off"] - scores["all layers on"]
    print(f"noisy input {scores['noisy input']:.2f} dB, all layers on {scores['all layers on']:.2f} dB")
    for name, gain in gains.items():
        verdict = "met" if gain >= TARGET_GAIN_DB else "NOT met"
        print(f"{name}: {gain:+.2f} dB (target >= +{TARGET_GAIN_DB} dB: {verdict})")

    record = {
        "benchmark": "nuclei-struct (../shared/benchmark.md), test slice 30, 256x256, MMSE PSNR vs layers switched off",
        "command": "python benchmarks/bench_deactivation.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "models": models,
        "training_steps": steps,
        "training_minutes": args.minutes,
        "n_samples": args.samples,
        "psnr_db": {k: round(v, 3) for k, v in scores.items()},
        "gains_db": {k: round(v, 3) for k, v in gains.items()},
        "target_gain_db": TARGET_GAIN_DB,
        "mean_kl_per_layer_all_on_model": mean_kl,
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average": os.getloadavg(), "platform": platform.platform()},
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "deactivation.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
