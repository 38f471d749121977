"""Time and peak memory of restoring a large OME-Zarr block by block: bounded by the block, not the image.

The parent process writes a uint16 OME-Zarr input of ``--size`` pixels square
(chunks of ``--chunk`` pixels, generated block by block) and a model folder (the
``fast`` preset's network, untrained: time and memory do not depend on the
weights; or ``--model PATH``). A fresh child process then reads the OME-Zarr
lazily, restores it and writes the result as OME-Zarr, and reports its peak
resident memory (``ru_maxrss``: everything the process ever held). Target:
under 4 GB at 8192x8192.

``--direct`` uses the direct (one-pass, deterministic) denoiser
``napari_hdn.denoise(model, dask_array)`` -- the intended path for the 8192x8192
figure; without it, the sampling path ``restore`` (MMSE and variance of
``--samples`` samples) runs.

    .venv/bin/python benchmarks/bench_zarr_memory.py --size 1024 --samples 2        # smoke check (~1 min)
    .venv/bin/python benchmarks/bench_zarr_memory.py --size 8192 --direct --model MODEL_DIR   # the README figure

Results (JSON) go to benchmarks/results/zarr_memory.json (one row per run, appended).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LIMIT_GB = 4.0


def make_input(folder: Path, size: int, chunk: int) -> Path:
    import dask.array as da
    import numpy as np

    from napari_hdn.io.omezarr import ImageMetadata, write_ome_zarr

    def noisy_block(block, block_info=None):
        seed = block_info[None]["chunk-location"][0] * 100003 + block_info[None]["chunk-location"][1]
        return (np.random.default_rng(seed).poisson(10.0, size=block.shape) + 100).astype(np.uint16)

    image = da.zeros((size, size), chunks=(chunk, chunk), dtype=np.uint16).map_blocks(noisy_block, dtype=np.uint16)
    path = folder / "input.ome.zarr"
    write_ome_zarr(path, {"raw": (image, ImageMetadata("yx", (0.1, 0.1), {"y": "micrometer", "x": "micrometer"}))})
    return path / "raw"


def make_model(folder: Path) -> Path:
    import torch

    from napari_hdn.model import LadderVAE
    from napari_hdn.model.bundle import HDNModel
    from napari_hdn.noise_models import GaussianNoiseModel
    from napari_hdn.training import PRESETS

    torch.manual_seed(0)
    model = HDNModel(LadderVAE(PRESETS["fast"].model).eval(), GaussianNoiseModel(3.0), data_mean=110.0, data_std=6.0)
    return Path(model.save(folder / "model"))


def child(args: argparse.Namespace) -> dict:
    import torch

    import napari_hdn
    from napari_hdn.io.omezarr import read_ome_zarr, write_ome_zarr

    torch.set_num_threads(1)  # dask runs one block per thread
    image, meta = read_ome_zarr(args.input)
    start = time.perf_counter()
    if args.direct:
        if not hasattr(napari_hdn, "denoise"):
            raise SystemExit("--direct needs napari_hdn.denoise (the direct denoiser), which this version lacks.")
        images = {"denoised": (napari_hdn.denoise(args.model, image), meta)}
    else:
        result = napari_hdn.restore(args.model, image, n_samples=args.samples, keep_samples=0, device="cpu")
        images = {"mmse": (result.mmse, meta), "variance": (result.variance, meta)}
    write_ome_zarr(args.output, images, compute_kwargs={"num_workers": args.workers})
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    return {"seconds": seconds, "peak_rss_gb": peak / 1e9, "image_gb_float32": image.size * 4 / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=1024, help="OME-Zarr chunk (= dask block) size")
    parser.add_argument("--samples", type=int, default=2, help="samples per pixel on the sampling path")
    parser.add_argument("--direct", action="store_true", help="the direct denoiser (napari_hdn.denoise)")
    parser.add_argument("--model", help="model folder (default: an untrained fast-preset network)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="dask threads (blocks at once)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_zarr_") as tmp:
        folder = Path(tmp)
        model = args.model or str(make_model(folder))
        source = make_input(folder, args.size, args.chunk)
        command = [sys.executable, __file__, "--child", "--input", str(source), "--output", str(folder / "out.ome.zarr"),
                   "--model", model, "--samples", str(args.samples), "--workers", str(args.workers)]
        command += ["--direct"] if args.direct else []
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    row = {**json.loads(out.strip().splitlines()[-1]), "size": args.size, "chunk": args.chunk, "direct": args.direct,
           "samples": None if args.direct else args.samples, "workers": args.workers, "trained_model": bool(args.model),
           "target_gb": LIMIT_GB, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_1min": os.getloadavg()[0], "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    row["target_met"] = row["peak_rss_gb"] < LIMIT_GB
    print(json.dumps(row, indent=1))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "zarr_memory.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(rows + [row], indent=1) + "\n")


if __name__ == "__main__":
    main()
