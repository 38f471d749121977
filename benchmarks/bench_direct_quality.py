"""Direct denoiser quality: PSNR of the one-pass estimate vs the 100-sample MMSE (../shared/benchmark.md).

Three parts:

``pg``: nuclei-pg, fast preset, ``--minutes`` (default 15) of training *in total* with the
direct denoiser trained concurrently inside the VAE loop (``train(..., direct_denoiser=True)``).

``pg-seq``: nuclei-pg, the same total time split: the VAE alone for ``--minutes`` minus
``--distill-minutes``, then the direct denoiser distilled from it (``train_direct_denoiser``).

``struct``: nuclei-struct, the model given with ``--model DIR`` (or trained here with the fast
preset for ``--struct-minutes``), a direct denoiser distilled for z1 off in ``--distill-minutes``
(default 3) with ``train_direct_denoiser``; scored against the model's ``--samples``-sample
MMSE with z1 off.

PSNR in photons against the ground truth, plus the PSNR of the direct estimate against the MMSE.

    .venv/bin/python benchmarks/bench_direct_quality.py --parts struct --model MODEL_DIR
    .venv/bin/python benchmarks/bench_direct_quality.py --parts struct --struct-minutes 0.3 --distill-minutes 0.2 --samples 4  # smoke
    .venv/bin/python benchmarks/bench_direct_quality.py --parts pg-seq  # 12 + 3 minutes

Results (JSON) go to benchmarks/results/direct_quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

import napari_hdn
from napari_hdn.io import sample_data
from napari_hdn.foundation.device import use_bfloat16
from napari_hdn.inference.metrics import psnr
from napari_hdn.noise_models import PoissonGaussianNoiseModel

RESULTS = Path(__file__).resolve().parent / "results"


def _camera():
    return PoissonGaussianNoiseModel(sample_data.GAIN, sample_data.OFFSET, sample_data.READ_SIGMA)


def _scores(model, data, off, samples: int, t_direct_train: float) -> dict:
    t0 = time.perf_counter()
    mmse = napari_hdn.restore(model, data.test_image, n_samples=samples, keep_samples=0, deactivate=off).mmse
    t1 = time.perf_counter()
    direct = napari_hdn.denoise(model, data.test_image, deactivate=off)
    t2 = time.perf_counter()
    gt = data.ground_truth
    row = {"deactivate": list(off), "samples": samples, "psnr_mmse_db": psnr(gt, sample_data.photons(mmse)),
           "psnr_direct_db": psnr(gt, sample_data.photons(direct)),
           "psnr_direct_vs_mmse_db": psnr(sample_data.photons(mmse), sample_data.photons(direct)),
           "mmse_s": t1 - t0, "direct_s": t2 - t1, "direct_training_s": t_direct_train}
    print(json.dumps(row), flush=True)
    return row


def part_pg(args, root: Path) -> dict:
    data = sample_data.load(structured=False)
    t0 = time.perf_counter()
    model = napari_hdn.train(data.noisy_stack, noise_model=_camera(), preset="fast", minutes=args.minutes,
                             out=root / "pg", seed=args.seed, device="cpu", direct_denoiser=True)
    return {"part": "nuclei-pg, concurrent", **_scores(model, data, (), args.samples, time.perf_counter() - t0)}


def part_pg_sequential(args, root: Path) -> dict:
    """The alternative: the VAE alone for all but --distill-minutes, then distillation (same total time)."""
    data = sample_data.load(structured=False)
    t0 = time.perf_counter()
    model = napari_hdn.train(data.noisy_stack, noise_model=_camera(), preset="fast",
                             minutes=args.minutes - args.distill_minutes, out=root / "pg-seq", seed=args.seed,
                             device="cpu")
    napari_hdn.train_direct_denoiser(model, data.noisy_stack, minutes=args.distill_minutes, seed=args.seed)
    model.save(root / "pg-seq" / "with-direct", overwrite=True)
    return {"part": "nuclei-pg, sequential", **_scores(model, data, (), args.samples, time.perf_counter() - t0)}


def part_struct(args, root: Path) -> dict:
    data = sample_data.load(structured=True)
    if args.model:
        model = napari_hdn.load_model(args.model, device="cpu")
    else:
        print(f"training nuclei-struct model (fast preset, {args.struct_minutes} min)", flush=True)
        model = napari_hdn.train(data.noisy_stack, noise_model=_camera(), preset="fast",
                                 minutes=args.struct_minutes, out=root / "struct", seed=args.seed, device="cpu")
    t0 = time.perf_counter()
    napari_hdn.train_direct_denoiser(model, data.noisy_stack, deactivate=(1,), minutes=args.distill_minutes,
                                     seed=args.seed)
    return {"part": "nuclei-struct, distilled z1 off", **_scores(model, data, (1,), args.samples,
                                                                 time.perf_counter() - t0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("pg", "pg-seq", "struct"), default=["pg", "struct"])
    parser.add_argument("--minutes", type=float, default=15.0, help="pg: total training time")
    parser.add_argument("--model", help="struct: an existing nuclei-struct model (skips its training)")
    parser.add_argument("--struct-minutes", type=float, default=15.0)
    parser.add_argument("--distill-minutes", type=float, default=3.0)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-models", help="folder to keep the trained models in (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.keep_models or tempfile.mkdtemp(prefix="bench_direct_quality_"))
    parts = {"pg": part_pg, "pg-seq": part_pg_sequential, "struct": part_struct}
    rows = [parts[p](args, root) for p in args.parts]
    write_results(f"direct_quality_{'_'.join(args.parts)}.json",
                  "../shared/benchmark.md test slice, direct vs sampled MMSE", args, rows)


def write_results(name: str, benchmark: str, args: argparse.Namespace, rows: list[dict]) -> None:
    """benchmarks/results/NAME: the rows with the threads, precision, load average and arguments."""
    out = RESULTS / name
    out.write_text(json.dumps({"benchmark": benchmark, "threads": torch.get_num_threads(),
                               "bfloat16": use_bfloat16("auto", torch.device("cpu")),
                               "load_average_at_end": os.getloadavg(), "args": vars(args), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
