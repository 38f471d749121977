"""Would a lighter one-pass U-Net lose quality? (issue 30: a "fast one-pass" preset only if it loses none)

For each kept HDN model given (``--models SET=FOLDER``, sets of ../shared/benchmark.md), one-pass denoisers of
several sizes (``--sizes DEPTHxWIDTH``; the default size, 2x32, first) are distilled from the same model, for
the layers it records as noise (``deactivate="auto"``), with the same seed:

- for ``--steps`` steps each (equal steps: load-proof), and
- the lighter ones also for as many steps as the same *time* buys them: ``--steps`` times the ratio of the
  sizes' distillation step times measured in this run (``--probe-steps`` steps each, the HDN's posterior
  samples included).

Each is scored on the set's test slice in photons against the truth and against the model's MMSE of
``--samples`` samples with the same layers off (what the one-pass denoiser imitates), beside the network's
FLOPs per pixel (torch's FLOP counter) and its one-pass time on a 1024x1024 plane on one thread (ratios
within the run; wall times depend on the load, which is recorded).

    .venv/bin/python benchmarks/bench_direct_light.py --models nuclei-pg=MODEL nuclei-cam=MODEL
    .venv/bin/python benchmarks/bench_direct_light.py --models nuclei-pg=MODEL --steps 20 --samples 4   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from bench_auto_deactivation import _cpu_name, load_set
from bench_direct_cpu import network_flops

import napari_hdn
from napari_hdn.direct import DirectUNet
from napari_hdn.foundation.progress import drive
from napari_hdn.inference.metrics import psnr

RESULTS = Path(__file__).resolve().parent / "results"


def one_pass_seconds(model, off: tuple[int, ...], side: int = 1024) -> float:
    plane = np.random.default_rng(0).normal(110.0, 5.0, (side, side)).astype(np.float32)
    torch.set_num_threads(1)  # the distillation set its own count in this thread
    napari_hdn.denoise(model, plane[:256, :256], off)  # warm-up
    start = time.perf_counter()
    napari_hdn.denoise(model, plane, off)
    return time.perf_counter() - start


def distilled(folder: str, train, off, depth: int, width: int, steps: int, seed: int):
    model = napari_hdn.load_model(folder, device="cpu")
    model.direct_denoisers = {}
    start = time.perf_counter()
    drive(napari_hdn.distill_events(model, train, off, steps=steps, depth=depth, width=width, seed=seed))
    return model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="SET=MODEL_FOLDER ...")
    parser.add_argument("--sizes", nargs="+", default=["2x32", "2x16", "1x16"], help="DEPTHxWIDTH, default first")
    parser.add_argument("--steps", type=int, default=500, help="distillation steps (about 3 quiet minutes at 2x32)")
    parser.add_argument("--probe-steps", type=int, default=20, help="steps timed per size for the equal-time budget")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "direct_light.json")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
    flops = {size: network_flops(DirectUNet(*size)) for size in sizes}
    rows = []
    for spec in args.models:
        name, folder = spec.split("=", 1)
        data = load_set(name)
        hdn = napari_hdn.load_model(folder, device="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mmse_result = napari_hdn.restore(hdn, data["test"], n_samples=args.samples, keep_samples=0,
                                             seed=args.seed, deactivate="auto")
        off = tuple(mmse_result.deactivate)
        mmse = data["photons"](mmse_result.mmse)
        base = {"set": name, "model": folder, "layers_off": list(off), "psnr_mmse_db": psnr(data["truth"], mmse)}
        step_s = {size: distilled(folder, data["train"], off, *size, args.probe_steps, args.seed)[1]
                  / args.probe_steps for size in sizes}
        print(f"{name}: layers off {list(off)}, MMSE of {args.samples}: {base['psnr_mmse_db']:.2f} dB", flush=True)
        for size in sizes:
            budgets = [("equal steps", args.steps)]
            if size != sizes[0]:
                budgets.append(("equal time", int(round(args.steps * step_s[sizes[0]] / step_s[size]))))
            for budget, steps in budgets:
                model, seconds = distilled(folder, data["train"], off, *size, steps, args.seed)
                direct = data["photons"](napari_hdn.denoise(model, data["test"], off))
                row = {**base, "depth": size[0], "width": size[1], "budget": budget, "steps": steps,
                       "distill_s": seconds, "distill_step_s": step_s[size], "kflops_per_pixel": flops[size] / 1e3,
                       "one_pass_1024_s": one_pass_seconds(model, off),
                       "psnr_direct_db": psnr(data["truth"], direct),
                       "psnr_direct_vs_mmse_db": psnr(mmse, direct, float(data["truth"].max() - data["truth"].min()))}
                row["direct_minus_default_db"] = None
                rows.append(row)
                print(f"  {size[0]}x{size[1]} {budget:11s} {steps:5d} steps: {row['psnr_direct_db']:.2f} dB "
                      f"({row['psnr_direct_db'] - base['psnr_mmse_db']:+.2f} vs MMSE), "
                      f"{row['one_pass_1024_s']:.2f} s per 1024^2", flush=True)
        default = next(r for r in rows if r["set"] == name and (r["depth"], r["width"]) == sizes[0])
        for r in rows:
            if r["set"] == name:
                r["direct_minus_default_db"] = r["psnr_direct_db"] - default["psnr_direct_db"]
    meta = {"benchmark": "lighter one-pass U-Nets (issue 30)", "cpu": _cpu_name(), "threads": 1,
            "samples": args.samples, "steps": args.steps, "load_average_at_end": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**meta, "rows": rows}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
