"""GMM noise-model fit: time on 10 frames of 512 x 512 on CPU, and how accurate the fit is.

Data: the nuclei image of the public benchmark (slice 30, tiled 2 x 2 to
512 x 512, scaled to 0-30 photons) seen through a Poisson-Gaussian camera
(gain 2, offset 100, read sigma 5 by default), 10 repeated frames. The script
times ``calibrate(stack, kind="gmm")`` end to end (pairs, initialisation, fit)
and prints:

- the largest relative error of the fitted variance-vs-signal curve against the
  truth gain * (s - offset) + sigma^2 over the 5-95 percentile range of the true signal;
- the mean negative log-likelihood of fresh observations given the *true* signal
  under the fitted GMM, next to that of the true parameters' Gaussian
  approximation (lower is better; a well-fitted GMM matches or beats it).

    .venv/bin/python benchmarks/bench_gmm_fit.py [--steps S] [--batch-size B] [--learning-rate LR] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from napari_hdn.io import sample_data
from napari_hdn.noise_models import GMMOptions, PoissonGaussianNoiseModel, calibrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--gain", type=float, default=2.0)
    parser.add_argument("--read-sigma", type=float, default=5.0)
    parser.add_argument("--offset", type=float, default=100.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the fit (default: the library's)")
    parser.add_argument("--steps", type=int, default=None, help="GMM fit steps (default: the library's)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    clean = sample_data.clean_stack()[sample_data.TEST_SLICE]
    reps = -(-args.size // clean.shape[0])
    photons = np.tile(clean, (reps, reps))[: args.size, : args.size]
    truth = PoissonGaussianNoiseModel(args.gain, args.offset, args.read_sigma)
    signal = args.gain * photons + args.offset
    stack = np.stack([truth.sample(signal, seed=args.seed * 1000 + k) for k in range(args.frames)]).astype(np.float32)

    chosen = {"steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
              "threads": args.threads}
    options = {key: value for key, value in chosen.items() if value is not None}
    start = time.perf_counter()
    model = calibrate(stack, kind="gmm", device="cpu", seed=args.seed, **options)
    fit_s = time.perf_counter() - start

    low, high = np.percentile(signal, (5, 95))
    s = np.linspace(low, high, 200)
    variance = model.moments(s)[1].double().numpy()
    true_variance = args.gain * (s - args.offset) + args.read_sigma**2
    variance_error = float(np.max(np.abs(variance / true_variance - 1.0)))

    fresh = truth.sample(signal, seed=10**6 + args.seed)
    with torch.no_grad():
        nll_gmm = float(-model.log_likelihood(fresh, signal).double().mean())
        nll_truth = float(-truth.log_likelihood(fresh, signal).double().mean())

    print(f"data: {args.frames} frames of {args.size}x{args.size}, gain {args.gain}, read sigma {args.read_sigma}")
    print(f"options: {options or 'defaults'} (GMMOptions: {GMMOptions()})")
    print(f"model: {model.describe()}")
    print(f"GMM fit time: {fit_s:.2f} s")
    print(f"max variance-curve error (5-95 % signal range): {100 * variance_error:.2f} %")
    print(f"NLL of fresh data given the true signal: GMM {nll_gmm:.4f}, true model (Gaussian approx.) {nll_truth:.4f}")


if __name__ == "__main__":
    main()
