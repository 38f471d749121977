"""Automatic selective deactivation: does ``restore(..., deactivate="auto")`` pick good layers?

Three data sets (../shared/benchmark.md), each with a model trained with the ``fast``
preset for ``--minutes`` with every layer on and the pixel-wise Poisson-Gaussian
noise model of the known camera (gain 1, offset 100, read sigma 3):

1. nuclei-struct (read noise correlated along rows): ``auto`` must reach within
   0.2 dB of the best of {all on, z1 off, z1-z2 off};
2. nuclei-pg (white read noise): ``auto`` must switch nothing off, or lose at most 0.05 dB;
3. nuclei-camera, a simulated camera whose read noise is correlated between
   neighbouring pixels in both directions (white noise convolved with the 3x3 kernel
   outer([0.5, 1, 0.5]) normalised to unit L2 norm, so that the per-pixel sigma stays 3;
   slice i of the training stack drawn with seed 12 + i, the test slice with 42, Poisson
   first, as for nuclei-pg): ``auto`` must beat all layers on by at least 0.5 dB.

PSNR of the MMSE of ``--samples`` posterior samples of the test slice (photons, the
benchmark's data range). Existing models can be given (``--model`` for nuclei-struct,
e.g. the all-on model of ``bench_deactivation.py --keep-models``; ``--model-pg``,
``--model-camera``); ``--keep-models`` keeps the ones trained here.

    .venv/bin/python benchmarks/bench_suggest_deactivation.py --keep-models /tmp/suggest_models   # 3 x 15 min
    .venv/bin/python benchmarks/bench_suggest_deactivation.py --minutes 0.3 --samples 4 --results /tmp/smoke.json

Results (JSON) go to benchmarks/results/suggest_deactivation.json (or ``--results``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from bench_deactivation import train_model  # the same training as the deactivation benchmark

from napari_hdn.io import sample_data
from napari_hdn.inference import restore, suggest_deactivation
from napari_hdn.inference.metrics import psnr
from napari_hdn.model.bundle import load_model

RESULTS = Path(__file__).resolve().parent / "results"
CHOICES = {"all on": (), "z1 off": (1,), "z1-z2 off": (1, 2)}
STRUCT_MARGIN_DB = 0.2
PG_MAX_LOSS_DB = 0.05
CAMERA_GAIN_DB = 0.5
CAMERA_KERNEL = np.outer([0.5, 1.0, 0.5], [0.5, 1.0, 0.5])


@dataclass(frozen=True)
class Data:
    noisy_stack: np.ndarray
    test_image: np.ndarray
    ground_truth: np.ndarray


def _correlated_camera(signal: np.ndarray, seed: int) -> np.ndarray:
    """Poisson-Gaussian camera whose read noise is white noise convolved (circularly) with CAMERA_KERNEL."""
    rng = np.random.default_rng(seed)
    photons = rng.poisson(signal).astype(np.float64)
    white = rng.normal(0.0, 1.0, size=signal.shape)
    kernel = CAMERA_KERNEL / np.linalg.norm(CAMERA_KERNEL)
    read = sum(kernel[dy + 1, dx + 1] * np.roll(white, (dy, dx), axis=(-2, -1))
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    return sample_data.GAIN * photons + sample_data.READ_SIGMA * read + sample_data.OFFSET


def load_data(name: str) -> Data:
    if name in ("struct", "pg"):
        data = sample_data.load(structured=name == "struct")
        return Data(data.noisy_stack, data.test_image, data.ground_truth)
    clean = sample_data.clean_stack()
    stack = np.stack([_correlated_camera(c, sample_data.TRAIN_SEED_BASE + i) for i, c in enumerate(clean)])
    test = _correlated_camera(clean[sample_data.TEST_SLICE], sample_data.TEST_SEED)
    return Data(stack, test, clean[sample_data.TEST_SLICE].copy())


def mmse_psnr(model, data: Data, off: tuple[int, ...], args) -> float:
    result = restore(model, data.test_image, n_samples=args.samples, keep_samples=0, deactivate=off, seed=args.seed)
    return psnr(data.ground_truth, sample_data.photons(result.mmse))


def score_case(name: str, model_path: str | None, args) -> dict:
    data = load_data(name)
    if model_path:
        model = load_model(model_path, device="cpu")
    else:
        root = Path(args.keep_models) if args.keep_models else Path(tempfile.mkdtemp(prefix="bench_suggest_"))
        model_path = str(root / name)
        print(f"[{name}] training (fast preset, {args.minutes} min, all layers on)", flush=True)
        model = train_model(data, args.minutes, args.seed, Path(model_path))
    if model.trained_deactivated:
        off = list(model.trained_deactivated)
        raise SystemExit(f"{model_path} was trained with layers {off} off: give a model trained with all layers on")
    start = time.perf_counter()
    suggestion = suggest_deactivation(model, data.test_image)
    seconds = time.perf_counter() - start
    print(f"[{name}] {suggestion.summary} ({seconds:.1f} s)", flush=True)
    for verdict in suggestion.verdicts:
        print(f"[{name}]   z{verdict.layer}: score {verdict.score:+.3f}, {verdict.reason}", flush=True)
    choices = CHOICES if name == "struct" else {"all on": ()}
    scores = {label: mmse_psnr(model, data, off, args) for label, off in choices.items()}
    known = {off: scores[label] for label, off in choices.items()}
    auto = known.get(suggestion.layers)
    if auto is None:
        auto = mmse_psnr(model, data, suggestion.layers, args)
    scores["auto"] = auto
    print(f"[{name}] PSNR: " + ", ".join(f"{k} {v:.2f} dB" for k, v in scores.items()), flush=True)
    if name == "struct":
        best = max(v for k, v in scores.items() if k != "auto")
        margin = auto - best
        target, met = f"auto >= best of {list(CHOICES)} - {STRUCT_MARGIN_DB} dB", margin >= -STRUCT_MARGIN_DB
    elif name == "pg":
        margin = auto - scores["all on"]
        target, met = f"auto >= all on - {PG_MAX_LOSS_DB} dB", margin >= -PG_MAX_LOSS_DB
    else:
        margin = auto - scores["all on"]
        target, met = f"auto >= all on + {CAMERA_GAIN_DB} dB", margin >= CAMERA_GAIN_DB
    print(f"[{name}] {target}: {margin:+.2f} dB -> {'met' if met else 'NOT met'}", flush=True)
    return {
        "model": model_path,
        "training_steps": model.step,
        "suggested_layers": list(suggestion.layers),
        "suggestion_seconds": round(seconds, 2),
        "suggestion": suggestion.to_metadata(),
        "psnr_db": {k: round(v, 3) for k, v in scores.items()},
        "target": target,
        "margin_db": round(margin, 3),
        "met": bool(met),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="existing all-on model for nuclei-struct (skips its training)")
    parser.add_argument("--model-pg", help="existing all-on model for nuclei-pg")
    parser.add_argument("--model-camera", help="existing all-on model for the correlated-read-noise camera")
    parser.add_argument("--cases", default="struct,pg,camera", help="which data sets (default struct,pg,camera)")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget of each model (default 15)")
    parser.add_argument("--samples", type=int, default=100, help="posterior samples per MMSE (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-models", help="folder to keep the trained models in (default: a temporary folder)")
    parser.add_argument("--results", default=str(RESULTS / "suggest_deactivation.json"), help="JSON file to write")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - {"struct", "pg", "camera"}
    if unknown:
        raise SystemExit(f"unknown --cases {sorted(unknown)}: choose among struct, pg, camera")
    given = {"struct": args.model, "pg": args.model_pg, "camera": args.model_camera}
    record = {
        "benchmark": "deactivate='auto' vs fixed choices, test slice 30, 256x256 (../shared/benchmark.md)",
        "command": "python benchmarks/bench_suggest_deactivation.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "training_minutes": args.minutes,
        "n_samples": args.samples,
        "cases": {name: score_case(name, given[name], args) for name in cases},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average": os.getloadavg(), "platform": platform.platform()},
    }
    record["all_met"] = all(case["met"] for case in record["cases"].values())
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    print(f"all targets met: {record['all_met']} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
