"""Peak memory of restoring a large image on the CPU: bounded by the tile, not the image.

Each size runs in a fresh process, which restores a uint16 image of that size
with the ``fast`` preset's network (untrained: memory does not depend on the
weights), ``--samples`` samples of which all are kept, default tiles (512
pixels), and reports its peak resident memory (``ru_maxrss``: everything the
process ever held, Python, torch and the results included). The results
themselves take (4 + K) float32 images (MMSE, variance, std, median and K
samples) plus the blending weights; the rest is the per-tile working memory,
which does not grow with the image.

    .venv/bin/python benchmarks/bench_memory.py                  # 1024 and 4096 pixels square, 2 samples
    .venv/bin/python benchmarks/bench_memory.py --sizes 4096 --samples 4 --tile 256

Results (JSON) go to benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LIMIT_GB = 4.0


def child(size: int, n_samples: int, tile: int | None) -> dict:
    import numpy as np
    import torch

    from napari_hdn.inference import restore
    from napari_hdn.model import LadderVAE
    from napari_hdn.model.bundle import HDNModel
    from napari_hdn.noise_models import GaussianNoiseModel
    from napari_hdn.training import PRESETS

    torch.manual_seed(0)
    network = LadderVAE(PRESETS["fast"].model).eval()
    model = HDNModel(network, GaussianNoiseModel(3.0), data_mean=110.0, data_std=6.0)
    image = np.random.default_rng(0).poisson(10.0, size=(size, size)).astype(np.uint16) + 100
    start = time.perf_counter()
    result = restore(model, image, n_samples=n_samples, keep_samples=n_samples, tile=tile)
    seconds = time.perf_counter() - start
    assert result.complete and np.isfinite(result.mmse).all()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    results_bytes = sum(a.nbytes for a in (result.mmse, result.variance, result.std, result.median, result.samples))
    return {
        "size": size,
        "n_samples": n_samples,
        "tile": tile,
        "seconds": seconds,
        "peak_rss_gb": peak / 1e9,
        "input_gb": image.nbytes / 1e9,
        "results_gb": results_bytes / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--tile", type=int, default=None)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.samples, args.tile)))
        return

    rows = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size), "--samples", str(args.samples)]
        if args.tile:
            command += ["--tile", str(args.tile)]
        finished = subprocess.run(command, check=True, capture_output=True, text=True)
        row = json.loads(finished.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{size}x{size}, {args.samples} samples: peak {row['peak_rss_gb']:.2f} GB "
            f"(results {row['results_gb']:.2f} GB, input {row['input_gb']:.2f} GB), {row['seconds']:.0f} s"
            + ("" if row["peak_rss_gb"] < LIMIT_GB else f"  OVER the {LIMIT_GB} GB target")
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "memory.json"
    record = {
        "benchmark": "memory",
        "network": "fast preset, untrained",
        "limit_gb": LIMIT_GB,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "results": rows,
    }
    out.write_text(json.dumps(record, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
