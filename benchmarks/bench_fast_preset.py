"""Quality of the ``fast`` preset versus training time on the public "nuclei-pg" benchmark.

Trains on the 60 noisy slices of ``napari_hdn.io.sample_data`` with the ``fast``
preset for ``--minutes`` (the Poisson-Gaussian noise model with the known camera
parameters: gain 1, offset 100, read sigma 3), keeps a copy of the ``last``
checkpoint whenever training time passes one of ``--snapshots`` minutes, then
scores every snapshot and the final model (the best by validation loss): the
MMSE of ``--samples`` posterior samples of the whole 256x256 test slice (plain,
no test-time augmentation), PSNR against the ground truth in photons with the
benchmark's data range (see ../shared/benchmark.md). Snapshots are taken during
the one run, so their learning rate has not yet decayed as it would in a run
of that length: the curve is a lower bound for shorter budgets.

    python benchmarks/bench_fast_preset.py --minutes 15
    python benchmarks/bench_fast_preset.py --minutes 5 --set n_filters=48 --set lr=1e-3   # exploring

Results (JSON, with the machine's load) go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from napari_hdn.io import sample_data
from napari_hdn.inference.metrics import psnr
from napari_hdn.model import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel
from napari_hdn.training import PRESETS, TrainingEvent, training_events

RESULTS = Path(__file__).resolve().parent / "results"


def parse_value(text: str):
    """``--set`` values: JSON when they parse (numbers, true/false, null), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def mmse_builtin(model, image: np.ndarray, n_samples: int, seed: int, batch: int = 10) -> np.ndarray:
    """A minimal posterior sampler (the bottom-up pass once, the top-down pass per batch of samples)."""
    net = model.network.eval()
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(model.normalize(image.astype(np.float64)), dtype=np.float32))[None, None]
    total = torch.zeros(image.shape, dtype=torch.float64)
    with torch.no_grad():
        padded, (h, w) = net.pad(x.to(model.device))
        bu = net.bottom_up(padded)
        for start in range(0, n_samples, batch):
            n = min(batch, n_samples - start)
            out = net.top_down(bu, n_samples=n, deactivate=model.deactivated_layers()).out[:, 0, :h, :w]
            total += model.denormalize(out.double().cpu()).sum(0)
    return (total / n_samples).numpy()


def mmse(model, image: np.ndarray, n_samples: int, seed: int, sampler: str) -> np.ndarray:
    if sampler == "restore":
        from napari_hdn import restore

        return np.asarray(restore(model, image, n_samples=n_samples, keep_samples=1, tta=False, seed=seed).mmse)
    return mmse_builtin(model, image, n_samples, seed)


def score(model, data, n_samples: int, seed: int, sampler: str) -> dict:
    t0 = time.perf_counter()
    estimate = sample_data.photons(mmse(model, data.test_image, n_samples, seed, sampler))
    truth = data.ground_truth
    return {
        "psnr_db": round(float(psnr(truth, estimate, data_range=float(truth.max() - truth.min()))), 3),
        "restore_s": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget (default 15)")
    parser.add_argument("--steps", type=int, default=None,
                        help="a budget of steps instead of minutes (for comparing settings on a busy machine)")
    parser.add_argument("--snapshots", default="2,4,6,8,10,12,14",
                        help="training minutes (steps with --steps) at which to keep a checkpoint to score")
    parser.add_argument("--samples", type=int, default=100, help="posterior samples in the MMSE (default 100)")
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all usable CPUs)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a network/training setting of the preset (repeatable)")
    parser.add_argument("--sampler", choices=("restore", "builtin"), default="restore",
                        help="napari_hdn.restore (default) or the minimal sampler of this script")
    parser.add_argument("--tag", default="", help="a label added to the results file name")
    parser.add_argument("--keep-model", metavar="DIR",
                        help="copy the trained model's folder (best and last checkpoints) to DIR, e.g. for later analysis")
    args = parser.parse_args(argv)
    if args.keep_model and Path(args.keep_model).exists():
        parser.error(f"--keep-model {args.keep_model} already exists: give a new folder (nothing is overwritten)")

    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name.strip()] = parse_value(value.strip())
    if args.threads:
        overrides["threads"] = args.threads
    budget = {"steps": args.steps} if args.steps else {"minutes": args.minutes}
    limit = args.steps or args.minutes
    marks = sorted(float(m) for m in args.snapshots.split(",") if m.strip() and float(m) < limit)

    data = sample_data.load()
    noise_model = PoissonGaussianNoiseModel(sample_data.GAIN, sample_data.OFFSET, sample_data.READ_SIGMA)
    work = Path(tempfile.mkdtemp(prefix="bench_fast_"))
    out = work / "model"
    snapshots: list[tuple[float, Path]] = []
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    last: TrainingEvent | None = None
    gen = training_events(data.noisy_stack, noise_model, preset=args.preset, out=out, seed=args.seed,
                          device="cpu", **budget, **overrides)
    try:
        while True:
            event = next(gen)
            last = event
            if event.kind == "setup" or event.kind == "validation":
                print(f"[{event.elapsed_s:7.1f}s] {event.message}", flush=True)
            if event.kind == "checkpoint" and event.checkpoint and event.checkpoint.endswith("last"):
                minutes = (time.perf_counter() - t_start) / 60
                position = event.step if args.steps else minutes
                if marks and position >= marks[0]:
                    while marks and position >= marks[0]:
                        marks.pop(0)
                    copy = work / f"snapshot_{event.step:06d}"
                    shutil.copytree(event.checkpoint, copy)
                    snapshots.append((minutes, time.process_time() - cpu_start, copy))
                    print(f"  snapshot at {minutes:.2f} min, step {event.step}", flush=True)
    except StopIteration as finished:
        model = finished.value
    wall_min = (time.perf_counter() - t_start) / 60
    cpu_min = (time.process_time() - cpu_start) / 60
    load_during = os.getloadavg()
    print(f"training took {wall_min:.2f} min ({model.step} steps)", flush=True)

    curve = []
    for minutes, cpu_s, path in snapshots:
        snap = load_model(path)
        result = {"minutes": round(minutes, 2), "cpu_minutes": round(cpu_s / 60, 2), "step": snap.step,
                  **score(snap, data, args.samples, args.seed, args.sampler)}
        curve.append(result)
        print(f"  {result}", flush=True)
    final = {"minutes": round(wall_min, 2), "cpu_minutes": round(cpu_min, 2), "step": model.step,
             "model": "best (by validation loss)",
             **score(model.to("cpu"), data, args.samples, args.seed, args.sampler)}
    curve.append(final)
    print(f"final: {final}", flush=True)

    from napari_hdn.config.validated import config_to_dict

    result = {
        "benchmark": "nuclei-pg (../shared/benchmark.md), test slice 30, whole 256x256, plain MMSE",
        "command": "python benchmarks/bench_fast_preset.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "preset": args.preset,
        "overrides": overrides,
        "model_config": config_to_dict(model.config),
        "train_config": config_to_dict(model.train_config),
        "n_parameters": model.network.n_parameters(),
        "noise_model": noise_model.describe(),
        "samples": args.samples,
        "sampler": args.sampler,
        "training_wall_minutes": round(wall_min, 2),
        "training_cpu_minutes": round(cpu_min, 2),
        "steps": model.step,
        "curve": curve,
        "history": model.history,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after_training": load_during,
        },
        "last_event": last.message if last else None,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tag = f"_{args.tag}" if args.tag else ""
    path = RESULTS / f"fast_preset_{stamp}{tag}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"results written to {path}")
    if args.keep_model:
        shutil.copytree(out, args.keep_model, dirs_exist_ok=False)
        print(f"model kept in {args.keep_model}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
