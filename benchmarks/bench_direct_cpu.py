"""The one-pass direct denoiser on this CPU: seconds per plane, FLOPs, achieved GFLOP/s against the matmul peak.

For one ``--size`` x ``--size`` plane (default 2048) it times ``napari_hdn.denoise`` as it runs today
(``fast``: direct/fast_inference.py, tiles fitted to the plane) and as it ran before (``plain``: the
U-Net's own forward on 512-pixel tiles), optionally ONNX Runtime on the fitted tiles (``onnxruntime``,
needs napari-hdn[onnx]), OpenVINO's CPU plug-in on the same ONNX export (``--openvino``, needs
``pip install openvino``; measured, not a dependency) and bfloat16 where the CPU has bf16 instructions. Beside every timing it measures
the float32 matmul peak of this machine (torch.mm of 2048², best of 5) and the load average, so that the
ratio "achieved / peak" is taken in the same minute even on a busy machine. A second, steadier figure
runs everything on one thread and counts process CPU seconds (other processes' load does not enter it).

Achieved GFLOP/s = the network's FLOPs for the plane (torch.utils.flop_counter on DirectUNet.forward, so
the work the fast path saves counts as speed) / seconds. Quality: the fast (and ONNX) output against the
plain one, as the largest difference in units of the data range and, with ``--truth``, as PSNR.

    .venv/bin/python benchmarks/bench_direct_cpu.py                              # untrained denoiser, 2048²
    .venv/bin/python benchmarks/bench_direct_cpu.py --model M --image X.npy --truth S.npy --offset 100
    .venv/bin/python benchmarks/bench_direct_cpu.py --size 512 --repeats 1 --no-single-thread   # smoke

Results (JSON) go to benchmarks/results/direct_cpu_<size>_<time>.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import napari_hdn
from napari_hdn.direct import DirectUNet
from napari_hdn.direct.denoise import DirectJob, direct_denoiser
from napari_hdn.direct import fast_inference
from napari_hdn.direct.fast_inference import cpu_tiling
from napari_hdn.inference.driver import numpy_events
from napari_hdn.checks.inputs import check_tiling
from napari_hdn.foundation.progress import drive

RESULTS = Path(__file__).resolve().parent / "results"
MM = 2048


def cpu_info() -> dict:
    """Model name and the flags that decide bf16 (``/proc/cpuinfo`` on Linux)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("", platform.machine(), platform.processor()):
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return {"model_name": name, "flags": sorted(f for f in wanted if f in flags),
            "bf16": bool({"avx512_bf16", "amx_bf16"} & flags), "logical_cpus": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def matmul_peak(repeats: int = 5) -> tuple[float, float]:
    """float32 GFLOP/s of torch.mm on 2048 x 2048 matrices, best of ``repeats``: per wall second and per CPU
    second of this process (the second, on one thread, is what the machine gives when nothing else runs)."""
    a, b = torch.randn(MM, MM), torch.randn(MM, MM)
    torch.mm(a, b)
    times = [_seconds(lambda: torch.mm(a, b)) for _ in range(repeats)]
    return 2 * MM**3 / min(t[0] for t in times) / 1e9, 2 * MM**3 / min(t[1] for t in times) / 1e9


def _seconds(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def network_flops(net: DirectUNet, side: int = 256) -> float:
    """FLOPs per pixel of ``net``'s own forward (torch.utils.flop_counter), from a side x side input."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net(torch.zeros(1, 1, side, side))
    return counter.get_total_flops() / side**2


def _model(args):
    if args.model:
        model = napari_hdn.load_model(args.model, device="cpu")
    else:
        from napari_hdn.model import LadderVAE
        from napari_hdn.model.bundle import HDNModel
        from napari_hdn.noise_models import GaussianNoiseModel
        from napari_hdn.training import resolve_config

        torch.manual_seed(0)
        model = HDNModel(LadderVAE(resolve_config("fast")[0]).eval(), GaussianNoiseModel(10.0), 120.0, 25.0)
        net = DirectUNet().eval()
        with torch.no_grad():
            net.out.weight.normal_(0.0, 0.05)  # not the identity: the whole network matters to the output
        model.direct_denoisers = {"all-on": net}
    return model


def _plane(args) -> np.ndarray:
    if args.image:
        small = np.load(args.image, allow_pickle=False).astype(np.float32)
        reps = (-(-args.size // small.shape[0]), -(-args.size // small.shape[1]))
        return np.ascontiguousarray(np.tile(small, reps)[: args.size, : args.size])
    return np.random.default_rng(1).normal(120, 25, (args.size, args.size)).astype(np.float32)


class OrtForward:
    """ONNX Runtime in place of the network inside a DirectJob (numpy in, torch out)."""

    def __init__(self, net, threads: int):
        from napari_hdn.direct.onnx_export import onnx_bytes, session

        self.session = session(onnx_bytes(net, np.zeros((1, 1, 64, 64), np.float32)), threads)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from napari_hdn.direct.onnx_export import run

        return torch.from_numpy(run(self.session, x.numpy()))


class OpenVinoForward:
    """OpenVINO (CPU plug-in) in place of the network inside a DirectJob, compiled from the same ONNX export."""

    def __init__(self, net, threads: int):
        import openvino as ov

        from napari_hdn.direct.onnx_export import onnx_bytes

        core = ov.Core()
        network = core.read_model(onnx_bytes(net, np.zeros((1, 1, 64, 64), np.float32)), b"")
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
                  "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(network, "CPU", config)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.compiled(x.numpy())[0]))


def variants(model, plane: np.ndarray, args) -> dict:
    """{name: function returning the estimate} for each way of running the plane."""
    net = direct_denoiser(model, ())
    stride = max(model.network.stride, net.stride)
    today = check_tiling(None, None, stride)
    fitted = cpu_tiling(today, plane.shape)

    def job_run(job, tiling):
        return lambda: drive(numpy_events(job, plane, tiling, 0, None, "denoise"))[0][0]

    out = {"plain": job_run(DirectJob(model, net, False, fast=False), today),
           "plain_fitted": job_run(DirectJob(model, net, False, fast=False), fitted),
           "fast": lambda: napari_hdn.denoise(model, plane, precision="float32")}
    if args.onnx:
        try:
            ort = DirectJob(model, net, False, fast=False)
            ort.forward = OrtForward(net, torch.get_num_threads())
            out["onnxruntime"] = job_run(ort, fitted)
        except Exception as err:  # the optional extra is missing or the export failed: say so, go on
            print(f"onnxruntime skipped: {err}")
    if args.openvino:
        try:
            ovj = DirectJob(model, net, False, fast=False)
            ovj.forward = OpenVinoForward(net, torch.get_num_threads())
            out["openvino"] = job_run(ovj, fitted)
        except Exception as err:  # openvino is not installed (not a dependency: measured only)
            print(f"openvino skipped: {err}")
    if cpu_info()["bf16"]:
        out["bf16"] = lambda: napari_hdn.denoise(model, plane, precision="bfloat16")
    return out, {"plain": today, "fitted": fitted}


@contextmanager
def threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure(name: str, fn, flops: float, repeats: int) -> tuple[dict, np.ndarray]:
    """Best of ``repeats`` after one warm-up run, the matmul peak just before and after, the load average."""
    result = fn()
    peaks, times = [matmul_peak()], []  # (wall, CPU-second) peaks
    load = [os.getloadavg()[0]]
    for _ in range(repeats):
        times.append(_seconds(fn))
        load.append(os.getloadavg()[0])
    peaks.append(matmul_peak())
    wall = min(t[0] for t in times)
    cpu = min(t[1] for t in times)
    peak = max(p[0] for p in peaks)
    row = {"variant": name, "threads": torch.get_num_threads(), "seconds": wall, "cpu_seconds": cpu,
           "gflops_per_s": flops / wall / 1e9, "matmul_peak_gflops_per_s": peak,
           "matmul_peak_cpu_gflops_per_cpu_s": max(p[1] for p in peaks), "matmul_peaks_wall_cpu": peaks,
           "fraction_of_peak": flops / wall / 1e9 / peak, "load_average": load}
    print(f"{name:13s} {row['threads']} thr: {wall:7.2f} s ({cpu:7.2f} CPU s), {row['gflops_per_s']:6.1f} GFLOP/s, "
          f"peak {peak:6.1f} -> {row['fraction_of_peak']:5.1%}, load {load[0]:.2f}..{load[-1]:.2f}", flush=True)
    return row, result


def quality(results: dict, args, offset: float, gain: float) -> dict:
    if "plain" not in results:
        return {}  # nothing to compare with (--skip plain)
    reference = results["plain"]
    value_range = float(np.ptp(reference))
    out = {}
    for name, estimate in results.items():
        row = {"max_abs_difference_over_range": float(np.abs(estimate - reference).max()) / value_range}
        if args.truth:
            from napari_hdn.inference.metrics import psnr

            small = np.load(args.truth, allow_pickle=False).astype(np.float64)
            truth = np.tile(small, (-(-args.size // small.shape[0]), -(-args.size // small.shape[1])))
            truth = truth[: args.size, : args.size]
            row["psnr_db"] = psnr(truth, (estimate - offset) / gain)
        out[name] = row
    if args.truth:
        for row in out.values():
            row["psnr_minus_plain_db"] = row["psnr_db"] - out["plain"]["psnr_db"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model folder with an all-on direct denoiser (default: untrained, default size)")
    parser.add_argument("--image", help="a 2-D .npy tiled to the plane size (default: synthetic noise)")
    parser.add_argument("--truth", help="its ground truth (.npy, photons) for PSNR")
    parser.add_argument("--offset", type=float, default=0.0, help="camera offset for PSNR (photons = (x - offset) / gain)")
    parser.add_argument("--gain", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--max-tile", type=int, help="largest fitted tile side (default: fast_inference.MAX_TILE_PIXELS)")
    parser.add_argument("--skip", default="", help="variants to leave out, e.g. plain_fitted,onnxruntime")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false")
    parser.add_argument("--openvino", action="store_true", help="also OpenVINO's CPU plug-in (pip install openvino)")
    parser.add_argument("--no-single-thread", dest="single", action="store_false",
                        help="leave out the one-thread CPU-seconds pass")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/direct_cpu_<size>_<time>.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.max_tile:
        fast_inference.MAX_TILE_PIXELS = args.max_tile**2
    model = _model(args)
    plane = _plane(args)
    net = direct_denoiser(model, ())
    per_pixel = network_flops(net)
    flops = per_pixel * plane.size
    runs, tilings = variants(model, plane, args)
    runs = {k: v for k, v in runs.items() if k not in args.skip.split(",")}
    info = {**cpu_info(), "load_average_start": os.getloadavg()}
    print(f"{info['model_name']} ({', '.join(info['flags'])}), torch {info['torch']}, {args.threads} threads; "
          f"network {per_pixel / 1e3:.1f} kFLOP/pixel = {flops / 1e9:.0f} GFLOP per {args.size}² plane; "
          f"tiles: today {tilings['plain'].tile} (overlap {tilings['plain'].overlap}), fitted {tilings['fitted'].tile}")
    rows, estimates = [], {}
    for name, fn in runs.items():
        row, estimates[name] = measure(name, fn, flops, args.repeats)
        rows.append(row)
    single = []
    if args.single:
        with threads(1):
            for name in [n for n in ("plain", "fast", "onnxruntime", "openvino") if n in runs]:
                fn = runs[name]
                if name in ("onnxruntime", "openvino"):
                    job = DirectJob(model, net, False, fast=False)
                    job.forward = (OrtForward if name == "onnxruntime" else OpenVinoForward)(net, 1)
                    fn = lambda job=job: drive(numpy_events(job, plane, tilings["fitted"], 0, None, "d"))[0][0]  # noqa: E731
                single.append(measure(name, fn, flops, 1)[0])
        for row in single:  # CPU seconds on one thread: the steadier ratio on a busy machine
            row["fraction_of_peak_cpu_seconds"] = (flops / row["cpu_seconds"] / 1e9
                                                   / row["matmul_peak_cpu_gflops_per_cpu_s"])
            print(f"  one thread, CPU seconds: {row['variant']} {row['fraction_of_peak_cpu_seconds']:.1%} of the peak")
    report = {"size": args.size, "model": args.model or "untrained direct denoiser (default size)",
              "image": args.image or "synthetic N(120, 25)", "cpu": info, "flops_per_pixel": per_pixel,
              "flops_per_plane": flops,
              "tiling": {k: {"tile": t.tile, "overlap": t.overlap, "stride": t.stride} for k, t in tilings.items()},
              "rows": rows, "single_thread_rows": single, "quality": quality(estimates, args, args.offset, args.gain),
              "load_average_end": os.getloadavg(), "when": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    for name, row in report["quality"].items():
        print(f"quality {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()))
    out = Path(args.out) if args.out else RESULTS / f"direct_cpu_{args.size}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
