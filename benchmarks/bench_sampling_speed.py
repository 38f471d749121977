"""Posterior samples per second: napari-hdn's restoration engine against the reference way.

The reference HDN code draws N samples with N separate full forward passes of
batch 1 (bottom-up + top-down each time). ``napari_hdn.restore`` runs the
bottom-up pass once per tile and sends the samples through the top-down pass in
memory-sized batches, in ``torch.inference_mode``. This script times both on
the paper's network (6 latent layers x 32, 64 filters, 5 gated blocks per layer;
untrained weights: speed does not depend on them) for whole images of each
``--sizes``, alternating the two methods ``--repeats`` times (the machine may
be shared: the fastest repeat of each is kept) and prints samples/s and the
speed-up. ``restore`` also computes the MMSE, variance and median: the
comparison is end to end for our side. With few samples the one bottom-up pass
weighs more than with the default N = 100, so small ``--samples`` understate the
speed-up.

    .venv/bin/python benchmarks/bench_sampling_speed.py                       # CPU: 128 (10 samples), 512 (4 samples)
    .venv/bin/python benchmarks/bench_sampling_speed.py --device cuda --samples 100 100

``--check-bf16 MODEL`` also measures what bf16 autocast costs in accuracy with a
trained model (on ``--device``; CPUs run bf16 too, slowly): the PSNR against
the ground truth of the benchmark's test slice (../shared/benchmark.md) of the
posterior-mean image and of a 20-sample MMSE, in float32 and in bf16.

Results (JSON) go to benchmarks/results/sampling_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from napari_hdn.inference import restore
from napari_hdn.inference.engine import usable_cores
from napari_hdn.metrics import psnr
from napari_hdn.model import LadderVAE, ModelConfig
from napari_hdn.model.bundle import HDNModel
from napari_hdn.noise_models import GaussianNoiseModel

RESULTS = Path(__file__).resolve().parent / "results"


def reference_loop(network: LadderVAE, image: torch.Tensor, n_samples: int) -> float:
    """Seconds for N full forward passes of batch 1, as the reference implementation predicts."""
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(n_samples):
            network(image).out.cpu()
    return time.perf_counter() - start


def ours(model: HDNModel, image: np.ndarray, n_samples: int) -> float:
    start = time.perf_counter()
    restore(model, image, n_samples=n_samples, keep_samples=0, tile=max(image.shape))
    return time.perf_counter() - start


def bf16_accuracy(model_path: str, device: torch.device) -> dict:
    """PSNR (dB) against the ground truth of float32 and bf16 restorations of the benchmark's test slice."""
    from napari_hdn import sample_data
    from napari_hdn.model.bundle import load_model

    model = load_model(model_path, device=device)
    image, truth = sample_data.test_image(), sample_data.ground_truth()
    scores: dict = {"model": model_path}
    for name, options in {"posterior_mean": {"posterior_mean": True}, "mmse_20_samples": {"n_samples": 20}}.items():
        estimates = {}
        for precision in ("float32", "bfloat16"):
            mmse = restore(model, image, keep_samples=0, precision=precision, **options).mmse
            estimates[precision] = mmse
            scores[f"{name}_{precision}_psnr_db"] = psnr(truth, sample_data.photons(mmse))
        scores[f"{name}_bf16_vs_float32_psnr_db"] = psnr(estimates["float32"], estimates["bfloat16"])
        print(
            f"bf16 accuracy, {name}: float32 {scores[f'{name}_float32_psnr_db']:.3f} dB, "
            f"bf16 {scores[f'{name}_bfloat16_psnr_db']:.3f} dB vs ground truth "
            f"(bf16 vs float32: {scores[f'{name}_bf16_vs_float32_psnr_db']:.1f} dB)"
        )
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--samples", type=int, nargs="+", default=[10, 4], help="samples per size")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--check-bf16", metavar="MODEL", help="a trained model folder to measure bf16's accuracy with")
    args = parser.parse_args()
    if len(args.samples) != len(args.sizes):
        parser.error("give one --samples value per size")
    torch.set_num_threads(args.threads or usable_cores())
    device = torch.device(args.device)

    torch.manual_seed(0)
    network = LadderVAE(ModelConfig()).eval().to(device)
    model = HDNModel(network, GaussianNoiseModel(1.0), data_mean=0.0, data_std=1.0)
    rng = np.random.default_rng(0)
    rows = []
    for size, n in zip(args.sizes, args.samples):
        image = rng.normal(size=(size, size)).astype(np.float32)
        x = torch.from_numpy(image)[None, None].to(device)
        ours(model, image, 1)  # warm-up (allocator, kernels)
        reference_times, our_times = [], []
        for _ in range(args.repeats):
            reference_times.append(reference_loop(network, x, n))
            our_times.append(ours(model, image, n))
        row = {
            "size": size,
            "n_samples": n,
            "reference_samples_per_s": n / min(reference_times),
            "ours_samples_per_s": n / min(our_times),
            "reference_s": reference_times,
            "ours_s": our_times,
        }
        row["speedup"] = row["ours_samples_per_s"] / row["reference_samples_per_s"]
        rows.append(row)
        print(
            f"{size}x{size}, {n} samples: reference {row['reference_samples_per_s']:.3f} samples/s, "
            f"ours {row['ours_samples_per_s']:.3f} samples/s -> {row['speedup']:.2f}x"
        )

    bf16 = bf16_accuracy(args.check_bf16, device) if args.check_bf16 else None

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sampling_speed_{device.type}.json"
    record = {
        "benchmark": "sampling_speed",
        "network": "paper configuration (ModelConfig()), untrained",
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "results": rows,
        "bf16_accuracy": bf16,
    }
    out.write_text(json.dumps(record, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
