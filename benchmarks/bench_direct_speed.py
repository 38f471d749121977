"""Direct denoiser vs sampling: time to an MMSE image, and the speed-up (target >= 50x).

Restores the nuclei-pg test slice (256x256, ../shared/benchmark.md) and a synthetic
``--large`` x ``--large`` image (default 2048) with ``--samples`` posterior samples
(``napari_hdn.restore``, default 100) and with one pass of the direct denoiser
(``napari_hdn.denoise``). Speed does not depend on the weights: without ``--model`` an
untrained fast-preset network and an untrained direct denoiser (default size) are used.
Each method runs once after a small warm-up; times are wall-clock on ``--device``.

    .venv/bin/python benchmarks/bench_direct_speed.py                          # full: 256 + 2048, 100 samples
    .venv/bin/python benchmarks/bench_direct_speed.py --device cuda
    .venv/bin/python benchmarks/bench_direct_speed.py --large 256 --samples 4   # smoke check

Results (JSON) go to benchmarks/results/direct_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import napari_hdn
from napari_hdn.direct import DirectUNet

RESULTS = Path(__file__).resolve().parent / "results"


def _model(path: str | None, device: str):
    if path:
        model = napari_hdn.load_model(path, device=device)
    else:
        from napari_hdn.model import LadderVAE
        from napari_hdn.model.bundle import HDNModel
        from napari_hdn.noise_models import GaussianNoiseModel
        from napari_hdn.training import resolve_config

        torch.manual_seed(0)
        model_config, _ = resolve_config("fast")
        model = HDNModel(LadderVAE(model_config).eval(), GaussianNoiseModel(10.0), 120.0, 25.0).to(device)
    if model.direct_key() not in model.direct_denoisers:
        model.direct_denoisers = {**model.direct_denoisers, model.direct_key(): DirectUNet().to(device)}
    return model


def _images(large: int) -> dict[str, np.ndarray]:
    try:
        from napari_hdn.io import sample_data

        test = sample_data.test_image().astype(np.float32)
    except Exception as err:  # the data set is an optional download
        print(f"nuclei-pg test slice unavailable ({err}); using a synthetic 256x256 image")
        test = np.random.default_rng(0).normal(120, 25, (256, 256)).astype(np.float32)
    big = np.random.default_rng(1).normal(120, 25, (large, large)).astype(np.float32)
    return {f"test slice {test.shape[0]}x{test.shape[1]}": test, f"{large}x{large}": big}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model folder (with a direct denoiser, or an untrained one is added)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--large", type=int, default=2048)
    args = parser.parse_args()
    model = _model(args.model, args.device)
    warm = np.full((64, 64), 120, np.float32)
    napari_hdn.restore(model, warm, n_samples=2, keep_samples=0)
    napari_hdn.denoise(model, warm)
    rows = []
    for name, image in _images(args.large).items():
        sampled = _timed(lambda: napari_hdn.restore(model, image, n_samples=args.samples, keep_samples=0))
        direct = _timed(lambda: napari_hdn.denoise(model, image))
        rows.append({"image": name, "sampling_s": sampled, "direct_s": direct, "speedup": sampled / direct})
        print(f"{name}: {args.samples} samples {sampled:.2f} s, direct {direct:.3f} s, {sampled / direct:.1f}x", flush=True)
    device = torch.device(args.device)
    out = RESULTS / f"direct_speed_{device.type}.json"
    out.write_text(json.dumps({"device": str(device), "machine": platform.processor() or platform.machine(),
                               "threads": torch.get_num_threads(), "samples": args.samples,
                               "model": args.model or "untrained fast preset", "target_speedup": 50, "rows": rows},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
