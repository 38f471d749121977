"""Selective deactivation on structured noise: PSNR of the MMSE with latent layers 1-2 off vs all on.

The "nuclei-struct" variant of the public benchmark (../shared/benchmark.md):
camera noise whose read noise is correlated along rows. A model trained with
the ``fast`` preset and a *pixel-wise* noise model (the Poisson-Gaussian camera
with the known gain 1, offset 100, read sigma 3, which cannot explain the
correlation) learns the correlated part of the noise as image content, in its
finest latent layers; switching those off at inference (they then take their
conditional prior's mean) removes it. The script trains such a model (or takes
one with ``--model``), restores the test slice with ``--samples`` posterior
samples for each set of layers switched off, and scores the MMSE against the
ground truth (PSNR in photons, the benchmark's data range). Target: layers 1-2
off at least 0.5 dB above all layers on.

    .venv/bin/python benchmarks/bench_deactivation.py                      # trains 15 min (fast preset), then scores
    .venv/bin/python benchmarks/bench_deactivation.py --model MODEL_FOLDER  # scores an existing model

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

from napari_hdn import sample_data
from napari_hdn.inference import layer_activations, restore
from napari_hdn.metrics import psnr
from napari_hdn.model.bundle import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel
from napari_hdn.progress import drive
from napari_hdn.training import training_events

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"all layers on": (), "layer 1 off": (1,), "layers 1-2 off": (1, 2), "layers 1-3 off": (1, 2, 3)}
TARGET_GAIN_DB = 0.5


def train_model(data, minutes: float, seed: int, out: Path):
    noise_model = PoissonGaussianNoiseModel(sample_data.GAIN, sample_data.OFFSET, sample_data.READ_SIGMA)
    events = training_events(data.noisy_stack, noise_model, preset="fast", minutes=minutes, out=out, seed=seed,
                             device="cpu")
    start = time.perf_counter()

    def report(event):
        if event.kind in ("setup", "validation"):
            print(f"[{time.perf_counter() - start:7.1f}s] {event.message}", flush=True)

    return drive(events, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="an existing model folder (skips training)")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget of the fast preset (default 15)")
    parser.add_argument("--samples", type=int, default=100, help="posterior samples per MMSE (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-model", help="folder to keep the trained model in (default: a temporary folder)")
    args = parser.parse_args(argv)

    data = sample_data.load(structured=True)
    truth = data.ground_truth
    started = time.perf_counter()
    if args.model:
        model = load_model(args.model, device="cpu")
        source = args.model
    else:
        out = Path(args.keep_model) if args.keep_model else Path(tempfile.mkdtemp(prefix="bench_deactivation_")) / "model"
        model = train_model(data, args.minutes, args.seed, out).to("cpu")
        source = str(out)
    training_minutes = (time.perf_counter() - started) / 60

    scores = {"noisy input": psnr(truth, sample_data.photons(data.test_image))}
    for name, off in VARIANTS.items():
        if len(off) >= model.n_layers:
            continue
        t0 = time.perf_counter()
        result = restore(model, data.test_image, n_samples=args.samples, keep_samples=0, deactivate=off, seed=args.seed)
        scores[name] = psnr(truth, sample_data.photons(result.mmse))
        print(f"{name:>16s}: MMSE PSNR {scores[name]:6.2f} dB ({time.perf_counter() - t0:.0f} s)", flush=True)
    _, kl_maps = layer_activations(model, data.test_image)
    mean_kl = [float(k.mean()) for k in kl_maps]
    gain = scores["layers 1-2 off"] - scores["all layers on"]
    print(f"noisy input: {scores['noisy input']:.2f} dB; layers 1-2 off vs all on: {gain:+.2f} dB "
          f"(target >= +{TARGET_GAIN_DB} dB: {'met' if gain >= TARGET_GAIN_DB else 'NOT met'})")
    print("mean KL per latent layer (nats/pixel): " + ", ".join(f"z{i + 1} {k:.3f}" for i, k in enumerate(mean_kl)))

    record = {
        "benchmark": "nuclei-struct (../shared/benchmark.md), test slice 30, 256x256, MMSE PSNR vs layers switched off",
        "command": "python benchmarks/bench_deactivation.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": source,
        "model_step": model.step,
        "training_minutes": round(training_minutes, 2) if not args.model else None,
        "n_samples": args.samples,
        "psnr_db": {k: round(v, 3) for k, v in scores.items()},
        "gain_layers_1_2_off_db": round(gain, 3),
        "target_gain_db": TARGET_GAIN_DB,
        "mean_kl_per_layer": mean_kl,
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
