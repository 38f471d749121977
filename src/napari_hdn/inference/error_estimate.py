"""How far the restoration is from the truth, estimated without the truth: Stein's unbiased risk estimate.

For a noisy image x = s + n with noise of covariance C and any restoration m(x) that varies smoothly with x,

    E ||s - m||^2 = E ||x - m||^2 - tr(C) + 2 tr(J C),    J = dm/dx (Stein 1981; Eldar 2009 for any C).

``tr(J C)`` (how much of the noise passes through the restoration) is measured by a Monte-Carlo probe
(Ramani, Blu & Unser 2008): b, one draw of the noise itself (the noise model's variance at each pixel and, where
it is recorded, its correlation between neighbours), so that E[b^T J b] = tr(J C), and
b^T (m(x + eps b) - m(x)) / eps. The restorations are drawn with the same seed (common random numbers): with its
random draws fixed, the mean of the posterior samples is a smooth function of x, and the difference holds no
sampling noise. Both use ``SAMPLES`` samples; the estimate is then moved from that mean to the mean of the N
samples of the restoration itself by the Monte-Carlo part of their errors (posterior variance / K vs / N).

What it needs, measured (``benchmarks/bench_uncertainty.py``): the noise model's variance. The error of a good
restoration is a few per cent of the noise variance, so a noise model whose variance is off by 3 % moves the
estimate by about half the error itself (on nuclei-cam with the automatic path's bootstrapped model, whose
variance is 3.4 % below the noise's: 1.5-1.8 dB too pessimistic; with a correct variance, 0.3 dB). Differences
between two restorations of the same image (e.g. which layers to switch off) depend on it far less: ranking
choices is the estimate's safest use. A noise model bootstrapped from restorations of correlated noise (the
automatic path on such cameras) is low by construction (the restorations keep part of the noise): there the
estimate is marked rough. With noise models calibrated on repeated acquisitions it was within 0.5 dB.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..noise_models.correlation import is_correlated, record_of
from .uncertainty import central_square, noise_draw

SAMPLES = 10  # posterior samples per probe restoration (the divergence is averaged over the pixels already)
PERTURBATION = 0.1  # eps, relative to one noise draw (0.05 and 0.2 gave divergences within 4 % on nuclei-cam)
MAX_SIDE = 512  # the estimate is made on the central square of the middle plane, at most this wide
BOOTSTRAPPED = ("the noise model was learnt from this model's own restorations of noise correlated between pixels, "
                "which keep part of that noise: its variance is then a few per cent low and the estimate "
                "pessimistic (1-2 dB on the benchmarks); a noise model calibrated on repeated acquisitions makes it "
                "exact. Comparing two restorations of this image with it still works")
FLAT = ("the restoration is one flat value, so there is no range for a PSNR (dB): read the error in intensity "
        "units")


@dataclass(frozen=True)
class ErrorEstimate:
    """The restoration's mean squared error estimated without ground truth (see the module docstring).

    ``mse``: input units^2; ``psnr``: dB with the MMSE's own range (max - min, no truth being known);
    ``noise_variance``: the noise model's mean variance at the restoration; ``passed_through``: the share of the
    noise that the restoration keeps (tr(JC) / tr(C)); ``pixels``: how many it was measured on; ``reliable``
    and ``note``: whether the noise model can carry the estimate, in words; ``posterior_variance``: the mean
    variance of one posterior sample about the mean over the same pixels (NaN where it could not be measured).
    """

    mse: float
    psnr: float
    noise_variance: float
    passed_through: float
    pixels: int
    reliable: bool
    note: str
    posterior_variance: float = float("nan")

    def temperature(self, n_samples: int) -> float | None:
        """The factor that makes the mean variance of an N-sample restoration (variance of the N samples about
        their mean, as the engine computes it: on average the posterior variance x (N - 1) / N) equal to this
        estimated squared error; None where there is none (one sample, no posterior variance, unreliable)."""
        drawn = self.posterior_variance * (n_samples - 1) / max(n_samples, 1)
        if not self.reliable or n_samples < 2 or not drawn > 0 or not math.isfinite(drawn):
            return None
        return self.mse / drawn

    def to_metadata(self) -> dict[str, Any]:
        return {"method": "Stein's unbiased risk estimate (Monte-Carlo divergence, common random numbers)",
                "mse": self.mse, "psnr": self.psnr if math.isfinite(self.psnr) else None,
                "noise_variance": self.noise_variance,
                "passed_through": self.passed_through, "pixels": self.pixels, "reliable": self.reliable,
                "note": self.note, "posterior_variance": self.posterior_variance}


def stein_risk(noisy: np.ndarray, estimate: np.ndarray, noise_variance: np.ndarray, probe: np.ndarray,
               perturbed_estimate: np.ndarray, eps: float) -> tuple[float, float]:
    """(estimated mean squared error of ``estimate``, share of the noise passed through).

    ``probe``: one zero-mean draw of the noise (its covariance is what the divergence is weighted by);
    ``perturbed_estimate``: the same restoration of ``noisy + eps * probe``. Pixel means, float64.
    """
    x, m, v, b, mp = (np.asarray(a, dtype=np.float64) for a in (noisy, estimate, noise_variance, probe,
                                                                 perturbed_estimate))
    residual = float(np.mean((x - m) ** 2))
    noise = float(np.mean(v))
    divergence = float(np.mean(b * (mp - m))) / eps
    return residual - noise + 2.0 * divergence, divergence / max(noise, 1e-30)


def noise_probe(noise_model: Any, signal: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(a zero-mean noise draw at ``signal``, the noise model's variance there): Gaussian with the model's
    variance per pixel and, where the noise model records it, the measured correlation between neighbours."""
    _, noise, variance = noise_draw(noise_model, signal, rng)
    return noise, variance


def central_plane_crop(image: np.ndarray, side: int = MAX_SIDE) -> np.ndarray:
    """The central square (at most ``side`` wide) of the middle plane of a (..., Y, X) image (numpy or dask: only
    the square is read), float32."""
    planes = image.reshape(-1, *image.shape[-2:])
    return np.asarray(planes[planes.shape[0] // 2][central_square(planes.shape, side)], dtype=np.float32)


def estimate_error(restore_crop: Callable[[np.ndarray, int], Generator[Any, None, Any]], noise_model: Any,
                   crop: np.ndarray, n_samples: int, span: float, seed: int) -> Generator[Any, None, ErrorEstimate | None]:
    """The error estimate of an N-sample restoration (``n_samples``), measured on ``crop``; None if stopped.

    ``restore_crop(image, part)``: a restoration generator of ``image`` with ``SAMPLES`` samples and one fixed
    seed (``part`` 0 or 1: for its progress); ``span``: the MMSE's range, for the PSNR.
    """
    base = yield from restore_crop(crop, 0)
    if base is None or not base.complete:
        return None
    rng = np.random.default_rng([seed, 4099])
    probe, variance = noise_probe(noise_model, base.mmse, rng)
    perturbed = yield from restore_crop((crop + PERTURBATION * probe).astype(np.float32), 1)
    if perturbed is None or not perturbed.complete:
        return None
    mse_k, passed = stein_risk(crop, base.mmse, variance, probe, perturbed.mmse, PERTURBATION)
    k, posterior = base.n_samples, float("nan")
    if k > 1:  # the mean of K samples errs by the posterior variance / K, that of N samples by / N
        posterior = float(np.mean(base.variance)) * k / (k - 1)
        mse_k -= posterior * (1.0 / k - 1.0 / max(n_samples, 1))
    return replace(_verdict(mse_k, float(np.mean(variance)), passed, crop.size, span, noise_model),
                   posterior_variance=posterior)


def bootstrapped_on_correlated_noise(noise_model: Any) -> bool:
    """Whether the noise model was bootstrapped from an HDN model's restorations of noise correlated between
    pixels: those restorations keep part of that noise, so the residual the variance was fitted to is smaller
    than the noise by about twice the share kept (``passed_through``), less the restoration's own error."""
    provenance = getattr(noise_model, "provenance", None) or {}
    return provenance.get("source") == "bootstrapped" and is_correlated(record_of(noise_model))


def _verdict(mse: float, noise: float, passed: float, pixels: int, span: float, noise_model: Any) -> ErrorEstimate:
    reliable, note = True, "from the noise model and the noisy image alone"
    if record_of(noise_model) is None:
        reliable, note = False, ("the noise model says nothing of the noise's correlation between pixels: "
                                 "correlated camera noise would make the error look smaller")
    elif bootstrapped_on_correlated_noise(noise_model):
        reliable, note = False, BOOTSTRAPPED
    floor = 1e-3 * noise  # below this the noise model claims more noise than the image holds
    if not mse > floor:
        reliable, note = False, ("the noise model describes more noise than the image holds around the "
                                 "restoration: it is likely wrong for this image (the estimate is a floor)")
        mse = floor
    psnr = float("nan")  # a PSNR needs a range: none where the restoration is one flat value (said in words)
    if span > 0:
        psnr = 10.0 * math.log10(span**2 / mse)
    else:
        note = f"{note}; {FLAT}"
    return ErrorEstimate(mse, psnr, noise, passed, pixels, reliable, note)
