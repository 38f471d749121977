"""Direct-denoiser distillation options compared on one trained model (nuclei-pg, ../shared/benchmark.md).

Each variant distils a fresh direct denoiser for ``--minutes`` (default 3) from the model given with
``--model`` (e.g. the VAE kept by ``bench_direct_quality.py --parts pg-seq --keep-models DIR``:
``DIR/pg-seq/with-direct``) and scores its one-pass estimate on the test slice against the truth.
Variants are JSON dicts of ``train_direct_denoiser`` options; ``{}`` is the default.

    .venv/bin/python benchmarks/bench_distill_options.py --model DIR '{"ema": null}' '{"ema": 0.99}'

Results (JSON) go to benchmarks/results/distill_options.json.
"""

from __future__ import annotations

import argparse
import json
import time

from bench_direct_quality import write_results

import napari_hdn
from napari_hdn.io import sample_data
from napari_hdn.inference.metrics import psnr
from napari_hdn.foundation.progress import drive


def score(model_dir: str, options: dict, minutes: float, data) -> dict:
    model = napari_hdn.load_model(model_dir, device="cpu")
    model.direct_denoisers = {}
    events = []
    t0 = time.perf_counter()
    drive(napari_hdn.distill_events(model, data.noisy_stack, minutes=minutes, seed=0, **options), events.append)
    direct = napari_hdn.denoise(model, data.test_image)
    row = {"options": options, "steps": len(events), "seconds": time.perf_counter() - t0,
           "psnr_direct_db": psnr(data.ground_truth, sample_data.photons(direct))}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained nuclei-pg model folder")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("variants", nargs="+", help="JSON dicts of train_direct_denoiser options")
    args = parser.parse_args()
    data = sample_data.load(structured=False)
    rows = [score(args.model, json.loads(v), args.minutes, data) for v in args.variants]
    write_results("distill_options.json", "../shared/benchmark.md nuclei-pg test slice, distillation options",
                  args, rows)


if __name__ == "__main__":
    main()
