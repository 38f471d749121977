"""Peak memory and time per plane of ``hdn predict --direct`` on a stack TIFF: flat in the number of planes.

The parent writes a uint16 (``--frames``, ``--size``, ``--size``) ImageJ TIFF (frame by frame) and a
model folder (the ``fast`` preset's network, untrained, with an untrained default-size direct denoiser:
time and memory do not depend on the weights; or ``--model PATH`` with a direct denoiser) -- or, with ``--ome-zarr``, an OME-Zarr stack written to OME-Zarr -- then runs
``hdn predict --direct`` in a fresh child process and reads its peak resident memory (the child's own
``ru_maxrss``: everything it ever held) and its wall time. Several ``--frames`` values show that the peak does
not grow with the stack (target: < 2 GB for 100 frames of 2048²).

    .venv/bin/python benchmarks/bench_direct_stream_memory.py --size 2048 --frames 100     # the README figure
    .venv/bin/python benchmarks/bench_direct_stream_memory.py --size 1024 --frames 4 16    # the scaling, quickly

Results (JSON) go to benchmarks/results/direct_stream_memory.json (one row per run, appended).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def make_stack(path: Path, frames: int, size: int) -> Path:
    import tifffile

    rng = np.random.default_rng(0)

    def planes():
        for _ in range(frames):
            yield np.clip(rng.normal(110.0, 6.0, (size, size)), 0, 65535).astype(np.uint16)

    tifffile.imwrite(path, planes(), shape=(frames, size, size), dtype=np.uint16, imagej=True,
                     metadata={"axes": "TYX"})
    return path


def make_ome_zarr(path: Path, frames: int, size: int) -> Path:
    import dask.array as da

    from napari_hdn.io.omezarr import ImageMetadata, write_ome_zarr

    stack = da.random.default_rng(0).normal(110.0, 6.0, (frames, size, size), chunks=(1, size, size))
    write_ome_zarr(path, {"raw": (stack.astype(np.uint16), ImageMetadata("tyx", (1.0, 1.0, 1.0), {}))})
    return path / "raw"


def make_model(folder: Path) -> Path:
    import torch

    from napari_hdn.direct import DirectUNet
    from napari_hdn.model import LadderVAE
    from napari_hdn.model.bundle import HDNModel
    from napari_hdn.noise_models import GaussianNoiseModel
    from napari_hdn.training import PRESETS

    torch.manual_seed(0)
    model = HDNModel(LadderVAE(PRESETS["fast"].model).eval(), GaussianNoiseModel(3.0), data_mean=110.0, data_std=6.0)
    model.direct_denoisers = {"all-on": DirectUNet().eval()}
    return Path(model.save(folder / "model"))


def run_child(model: Path, stack: Path, out: Path, threads: int | None) -> dict:
    code = ("import resource, sys; from napari_hdn.cli import main; rc = main(sys.argv[1:]); "
            "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    command = [sys.executable, "-c", code,
               "predict", str(model), str(stack), "--out", str(out), "--direct", "--device", "cpu", "--overwrite"]
    if threads:
        command += ["--threads", str(threads)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"hdn predict failed ({done.returncode}):\n{done.stderr[-2000:]}")
    peak = int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0]) * 1024  # the child's own ru_maxrss, kB on Linux
    lines = [line for line in done.stderr.splitlines() if "plane" in line]
    return {"seconds": seconds, "peak_rss_bytes": peak,
            "progress_lines": lines[:3] + lines[-2:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--frames", type=int, nargs="+", default=[100], help="one run per value, smallest first")
    parser.add_argument("--model", help="a model folder with an all-on direct denoiser (default: untrained)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--ome-zarr", action="store_true", help="an OME-Zarr stack in and out instead of TIFFs")
    parser.add_argument("--workdir", help="where the stacks go (default: a temporary folder, removed after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp)
        model = Path(args.model) if args.model else make_model(folder)
        rows = []
        for frames in sorted(args.frames):
            if args.ome_zarr:
                stack = make_ome_zarr(folder / f"stack_{frames}.ome.zarr", frames, args.size)
                out = folder / f"out_{frames}.ome.zarr"
            else:
                stack, out = make_stack(folder / f"stack_{frames}.tif", frames, args.size), folder / f"out_{frames}"
            load = os.getloadavg()
            row = {"frames": frames, "size": args.size, "format": "ome-zarr" if args.ome_zarr else "tiff",
                   "load_average": load, **run_child(model, stack, out, args.threads)}
            row["seconds_per_plane"] = row["seconds"] / frames
            rows.append(row)
            print(f"{frames} x {args.size}²: peak {row['peak_rss_bytes'] / 2**30:.2f} GiB, {row['seconds']:.0f} s "
                  f"({row['seconds_per_plane']:.1f} s/plane), load {load[0]:.2f}", flush=True)
    path = RESULTS / "direct_stream_memory.json"
    old = json.loads(path.read_text()) if path.exists() else []
    record = {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.processor() or platform.machine(),
              "model": args.model or "untrained fast preset + default direct denoiser", "rows": rows}
    path.write_text(json.dumps(old + [record], indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
