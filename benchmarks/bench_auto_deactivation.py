"""The automatic path end to end: a noise model, 15 minutes of training, deactivate="auto" (issue 25).

For one set of ../shared/benchmark.md (nuclei-cam, nuclei-struct, nuclei-low, nuclei-pg) the fast preset
trains for ``--minutes`` (estimation, bootstrapping and the end-of-training layer record included) with

- ``--noise auto``: ``noise_model="auto"`` (the noisy training images only), or
- ``--noise calibration``: a GMM calibrated on the set's calibration stack (100 frames of slice 30),

then restores the test slice with an MMSE of ``--samples`` samples with every layer on, z1 off, z1-z2 off
and ``deactivate="auto"`` (the layers the model recorded, else the suggestion on the test slice), scored
in photons against the truth. The model is kept in ``--keep`` for other benchmarks (e.g. coverage).

    .venv/bin/python benchmarks/bench_auto_deactivation.py --set nuclei-cam --noise auto
    .venv/bin/python benchmarks/bench_auto_deactivation.py --set nuclei-cam --minutes 0.5 --samples 4   # smoke
    .venv/bin/python benchmarks/bench_auto_deactivation.py --set nuclei-cam --steps 1500  # fixed steps: load-proof
    .venv/bin/python benchmarks/bench_auto_deactivation.py --set nuclei-cam --model KEPT --samples 100  # restore only
    .venv/bin/python benchmarks/bench_auto_deactivation.py --set nuclei-cam --model KEPT --redecide   # new rules
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import nuclei_cam
from bench_auto_noise import test_slice as white_test_slice
from bench_noise_estimate import training_stack

import napari_hdn
from napari_hdn.io import sample_data
from napari_hdn.inference.metrics import psnr
from napari_hdn.training import as_planes
from napari_hdn.training.noise_layers import noise_layer_record, suggest_on_training_plane

RESULTS = Path(__file__).resolve().parent / "results"
SETS = ("nuclei-cam", "nuclei-struct", "nuclei-low", "nuclei-pg")
LOW_CALIBRATION_SEED = 4000  # nuclei-low: calibration stack of slice 30, seeds 4000..4099


def load_set(name: str) -> dict:
    """Training stack, test slice, its truth (photons), the raw -> photons map and a calibration stack maker."""
    if name == "nuclei-cam":
        test, truth = nuclei_cam.test_slice()
        return {"train": nuclei_cam.training_stack(60), "test": test, "truth": truth,
                "photons": nuclei_cam.to_photons, "calibration": nuclei_cam.calibration_stack}
    if name == "nuclei-struct":
        return {"train": sample_data.noisy_stack(structured=True), "test": sample_data.test_image(structured=True),
                "truth": sample_data.ground_truth(), "photons": sample_data.photons,
                "calibration": lambda: sample_data.calibration_stack(structured=True)}
    train, _ = training_stack(name, 60)
    test, truth = white_test_slice(name)
    gain = 2.0 if name == "nuclei-low" else 1.0
    photons = lambda raw: (np.asarray(raw, dtype=np.float64) - 100.0) / gain  # noqa: E731
    if name == "nuclei-low":
        clean = sample_data.clean_stack()[sample_data.TEST_SLICE] / sample_data.PEAK_PHOTONS * 8.0

        def calibration():
            frames = []
            for k in range(100):
                rng = np.random.default_rng(LOW_CALIBRATION_SEED + k)
                x = 2.0 * rng.poisson(clean) + rng.normal(0.0, 1.5, clean.shape) + 100.0
                frames.append(np.clip(np.round(x), 0, 65535).astype(np.uint16))
            return np.stack(frames)
    else:
        calibration = sample_data.calibration_stack
    return {"train": train, "test": test, "truth": truth, "photons": photons, "calibration": calibration}


def photons_per_raw_unit(data: dict) -> float:
    """The slope of a set's raw -> photons map (``load_set(...)["photons"]``, which is affine)."""
    to_photons = data["photons"]
    return float(to_photons(np.float64(1.0)) - to_photons(np.float64(0.0)))


def restorations(model, data: dict, samples: int, seed: int) -> dict:
    out = {}
    for label, deactivate in (("all on", ()), ("z1 off", (1,)), ("z1-z2 off", (1, 2)), ("auto", "auto")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = napari_hdn.restore(model, data["test"], n_samples=samples, keep_samples=0, seed=seed,
                                        deactivate=deactivate)
        out[label] = {"psnr_db": psnr(data["truth"], data["photons"](result.mmse)),
                      "layers_off": list(result.deactivate)}
        if result.suggestion is not None:
            out[label]["decided_by"] = result.suggestion.decided_by
            out[label]["summary"] = result.suggestion.summary
        print(f"  {label:9s} {out[label]['psnr_db']:6.2f} dB  off {out[label]['layers_off']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=SETS, required=True)
    parser.add_argument("--noise", choices=("auto", "calibration"), default="auto")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--steps", type=int,
                        help="train exactly this many steps instead of --minutes (runs compare whatever the load; "
                             "give what 15 quiet minutes reach on this CPU and say so)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="restore with this kept model instead of training one")
    parser.add_argument("--redecide", action="store_true",
                        help="with --model: record the noise layers anew, as the end of training does (new rules)")
    parser.add_argument("--keep", type=Path, help="folder to train into (kept); default: a folder under /tmp")
    parser.add_argument("--out", type=Path, help="JSON file (default: results/auto_deactivation_SET_NOISE.json)")
    args = parser.parse_args()
    data = load_set(args.set)
    row = {"set": args.set, "noise": args.noise, "machine": platform.processor() or platform.machine(),
           "cpu": _cpu_name(), "samples": args.samples}
    if args.model:
        model = napari_hdn.load_model(args.model, device="cpu")
        row["model"] = args.model
        if args.redecide:
            suggestion = suggest_on_training_plane(model, as_planes(data["train"]))
            row["recorded_before"] = model.noise_layers
            model.noise_layers = noise_layer_record(suggestion, model.step)
    else:
        noise = "auto"
        if args.noise == "calibration":
            noise = napari_hdn.calibrate(data["calibration"](), kind="gmm")
        out = args.keep or Path(f"/tmp/bench-auto-{args.set}-{args.noise}-{os.getpid()}")
        t0 = time.perf_counter()
        model = napari_hdn.train(data["train"], noise_model=noise, preset="fast", seed=args.seed,
                                 **({"steps": args.steps} if args.steps else {"minutes": args.minutes}),
                                 device="cpu", out=out, overwrite=True,
                                 on_event=lambda e: print(f"[{e.elapsed_s:7.1f}s] {e.message}", flush=True)
                                 if e.kind in ("setup", "bootstrap", "noise_layers", "done") else None)
        row.update(model=str(out), budget={"steps": args.steps} if args.steps else {"minutes": args.minutes},
                   training_wall_s=time.perf_counter() - t0, steps=model.step,
                   load_average_at_end=os.getloadavg())
    row["noise_model"] = {"kind": model.noise_model.kind, "provenance": model.noise_model.provenance}
    row["noise_layers"] = model.noise_layers
    row["psnr_noisy_db"] = psnr(data["truth"], data["photons"](data["test"]))
    print(f"{args.set} ({args.noise}): noisy {row['psnr_noisy_db']:.2f} dB", flush=True)
    row["restorations"] = restorations(model, data, args.samples, args.seed)
    fixed = {k: v["psnr_db"] for k, v in row["restorations"].items() if k != "auto"}
    row["best_fixed"] = max(fixed, key=fixed.get)
    row["auto_minus_best_fixed_db"] = row["restorations"]["auto"]["psnr_db"] - fixed[row["best_fixed"]]
    print(f"auto - best fixed ({row['best_fixed']}): {row['auto_minus_best_fixed_db']:+.2f} dB", flush=True)
    target = args.out or RESULTS / f"auto_deactivation_{args.set}_{args.noise}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(row, indent=1, default=str))
    print(f"-> {target}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
