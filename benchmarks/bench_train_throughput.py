"""Training throughput (patches per second) of a preset, by default the ``paper`` preset.

Runs a few optimisation steps of ``training_events`` on the benchmark's noisy
stack (no validation, nothing written) and reports the median patches/s of the
steps after the first (which includes one-off kernel set-up), for each
precision asked for. On a CPU with bf16 matrix units (Intel AMX) the default
precision ("auto") trains in bfloat16; "float32" is what other CPUs run.

    python benchmarks/bench_train_throughput.py                       # paper preset, CPU, auto + float32
    python benchmarks/bench_train_throughput.py --device cuda --precision auto
    python benchmarks/bench_train_throughput.py --preset fast --steps 20

Results (JSON, with the machine's load) go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_hdn.io import sample_data
from napari_hdn.foundation.device import resolve_device, use_bfloat16
from napari_hdn.noise_models import PoissonGaussianNoiseModel
from napari_hdn.training import PRESETS, resolve_config, training_events

RESULTS = Path(__file__).resolve().parent / "results"


def measure(preset: str, steps: int, device: str, precision: str, threads: int | None) -> dict:
    stack = sample_data.noisy_stack()
    noise_model = PoissonGaussianNoiseModel(sample_data.GAIN, sample_data.OFFSET, sample_data.READ_SIGMA)
    options = {"precision": precision, "val_fraction": 0.0}
    if threads:
        options["threads"] = threads
    times = []
    last = None
    cpu_start = time.process_time()
    for event in training_events(stack, noise_model, preset=preset, steps=steps, device=device, **options):
        if event.kind == "step":
            now = time.perf_counter()
            if last is not None:
                times.append(now - last)
            last = now
        elif event.kind == "setup" and "parameters" in event.message:
            print(f"  {event.message}", flush=True)
            last = time.perf_counter()
    model_config, train_config = resolve_config(preset, steps=steps, **options)
    seconds = float(np.median(times[1:] if len(times) > 1 else times))
    return {
        "preset": preset,
        "device": device,
        "precision": precision,
        "bfloat16": use_bfloat16(precision, resolve_device(device)),
        "batch_size": train_config.batch_size,
        "patch_size": train_config.patch_size,
        "steps_timed": max(len(times) - 1, 1),
        "seconds_per_step": round(seconds, 3),
        "patches_per_s": round(train_config.batch_size / seconds, 2),
        "cpu_seconds_per_step": round((time.process_time() - cpu_start) / steps, 3),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=4, help="steps per measurement (the first is not timed)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto,float32", help="comma-separated: auto, float32, bfloat16")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all usable CPUs)")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    runs = []
    for precision in args.precision.split(","):
        print(f"{args.preset} preset, {args.device}, precision {precision}:", flush=True)
        runs.append(measure(args.preset, args.steps, args.device, precision.strip(), args.threads))
        print(f"  {runs[-1]}", flush=True)
    result = {
        "command": "python benchmarks/bench_train_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "runs": runs,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"train_throughput_{args.preset}_{args.device.replace(':', '')}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
