"""Posterior samples per second: napari-hdn's restoration engine against the reference way.

The reference HDN code draws N samples with N separate full forward passes of
batch 1 (bottom-up + top-down each time). ``napari_hdn.restore`` runs the
bottom-up pass once per tile and sends the samples through the top-down pass in
memory-sized batches, in ``torch.inference_mode``. This script times both on
the paper's network (6 latent layers x 32, 64 filters, 5 gated blocks per layer;
untrained weights: speed does not depend on them) for whole images of each
``--sizes``, alternating the methods ``--repeats`` times (the machine may be
shared: the fastest repeat of each is kept) and prints samples/s and the
speed-up: with the default precision ("auto": bf16 on CUDA and on CPUs with
matrix units such as AMX, float32 elsewhere) and in float32 (the algorithmic
gain alone; the reference runs in float32). ``restore`` also computes the MMSE, variance and median: the
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

from napari_hdn.foundation.device import usable_cores, use_bfloat16
from napari_hdn.inference import restore
from napari_hdn.inference.metrics import psnr
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


def ours(model: HDNModel, image: np.ndarray, n_samples: int, precision: str) -> float:
    start = time.perf_counter()
    restore(model, image, n_samples=n_samples, keep_samples=0, tile=max(image.shape), precision=precision)
    return time.perf_counter() - start


def bf16_accuracy(model_path: str, device: torch.device) -> dict:
    """PSNR (dB) against the ground truth of float32 and bf16 restorations of the benchmark's test slice."""
    from napari_hdn.io import sample_data
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

    def paper_network() -> LadderVAE:
        torch.manual_seed(0)
        return LadderVAE(ModelConfig()).eval().to(device)

    # Separate copies: in bf16 our engine switches its network to channels-last, the reference keeps its layout.
    reference_network = paper_network()
    models = {
        precision: HDNModel(paper_network(), GaussianNoiseModel(1.0), data_mean=0.0, data_std=1.0)
        for precision in ("auto", "float32")
    }
    auto_bf16 = use_bfloat16("auto", device)
    rng = np.random.default_rng(0)
    rows = []
    for size, n in zip(args.sizes, args.samples):
        image = rng.normal(size=(size, size)).astype(np.float32)
        x = torch.from_numpy(image)[None, None].to(device)
        times: dict[str, list[float]] = {"reference": [], "ours_auto": [], "ours_float32": []}
        for precision, model in models.items():
            ours(model, image, 1, precision)  # warm-up (allocator, kernels, layout)
        for _ in range(args.repeats):  # interleaved, so that a busy spell of the machine hits all alike
            times["reference"].append(reference_loop(reference_network, x, n))
            for precision, model in models.items():
                times[f"ours_{precision}"].append(ours(model, image, n, precision))
        rate = {name: n / min(values) for name, values in times.items()}
        row = {
            "size": size,
            "n_samples": n,
            "auto_precision": "bfloat16" if auto_bf16 else "float32",
            "samples_per_s": rate,
            "seconds": times,
            "speedup_auto": rate["ours_auto"] / rate["reference"],
            "speedup_float32": rate["ours_float32"] / rate["reference"],
        }
        rows.append(row)
        print(
            f"{size}x{size}, {n} samples: reference {rate['reference']:.3f} samples/s; ours "
            f"{rate['ours_auto']:.3f} samples/s ({row['auto_precision']}, default) -> {row['speedup_auto']:.2f}x, "
            f"{rate['ours_float32']:.3f} samples/s in float32 -> {row['speedup_float32']:.2f}x",
            flush=True,
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
