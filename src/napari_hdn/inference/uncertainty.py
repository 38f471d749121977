"""Uncertainty without ground truth: a self-calibration of the posterior spread, and an error estimate (opt-in).

Status: opt-in (``restore(..., calibrate=True)``). Where the error estimate (``error_estimate.py``) is
reliable, it sets the temperature of the spread (``self_calibration.py``); the simulation below is the fallback.
Measured with ``benchmarks/bench_uncertainty.py`` (see the README's "Reading the uncertainty").

A ladder VAE's amortised posterior is narrower than the true one (a known trait of variational inference),
and the MMSE's error also holds what the model gets wrong, which no posterior spread shows: on the benchmark
sets the central 90 % interval of the samples covered 41-75 % of the true pixels.

The fallback correction is measured on a problem whose truth *is* known, built from the image itself (a
parametric bootstrap): on a central crop,

1. a posterior sample s* of the crop stands in for a truth with the image's own texture and contrast (under a
   calibrated posterior the truth is statistically one more sample);
2. the noise model (and, where the noise is correlated between pixels, the measured correlation) draws a new
   noisy crop x* from s*;
3. x* is restored as the image was (same layers off, same number of samples): the mean squared z-score
   (s* - MMSE*)^2 / variance* over the crop is the factor by which the posterior variance is too small.

The variance map is multiplied by that factor and the samples spread about the MMSE by its square root. The
error estimate (the expected squared error of the MMSE, input units^2, and from it a PSNR with the MMSE's own
range) is Stein's unbiased risk estimate (``error_estimate.py``) where one was made, else the calibrated
variance averaged over the image. Nothing here uses a truth.

Limits: where the noise model is wrong, the simulated problem is wrong too; where the noise is correlated but
its correlation unknown (no record), the estimate is marked unreliable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..noise_models.correlation import is_correlated, record_of

CROP = 128  # side of the central crop simulated (pixels): 1/4 of a 256 x 256 restoration's work, twice
BORDER = 4  # pixels at the crop's border left out (the network sees less context there)
MAX_FACTOR = 100.0  # a larger correction means the simulation failed, not that the posterior is that narrow


@dataclass(frozen=True)
class UncertaintyCalibration:
    """What the self-calibration found (see the module docstring).

    ``factor``: the posterior variance's multiplier (1 = calibrated as drawn); ``estimated_mse``: the
    expected squared error of the MMSE over the image, input units^2 (Stein's unbiased risk estimate where
    ``error`` holds one, else the calibrated variance's mean); ``estimated_psnr``: dB, with the MMSE's
    range; ``reliable``: False where the simulation cannot describe the noise; ``note``: why, in words;
    ``includes``: what the variance map includes.
    """

    factor: float
    estimated_mse: float
    estimated_psnr: float
    reliable: bool
    note: str
    includes: str
    error: Any = None  # the error estimate behind estimated_mse (inference.error_estimate), where one was made

    def to_metadata(self) -> dict[str, Any]:
        psnr = self.estimated_psnr if math.isfinite(self.estimated_psnr) else None  # JSON has no NaN
        return {"factor": self.factor, "estimated_mse": self.estimated_mse, "estimated_psnr": psnr,
                "reliable": self.reliable, "note": self.note, "includes": self.includes,
                "error_estimate": None if self.error is None else self.error.to_metadata()}

    def describe(self, units: str = "") -> str:
        """'estimated error ±… (about … dB)' in plain words."""
        unit = f" {units}" if units else ""
        text = f"estimated error \u00b1{math.sqrt(max(self.estimated_mse, 0.0)):.3g}{unit}"
        if math.isfinite(self.estimated_psnr):
            text += f" (about {self.estimated_psnr:.1f} dB)"
        else:  # a PSNR needs a range: the restoration is one flat value
            text += " (no dB figure: the restoration has no range)"
        return text if self.reliable else text + f"; rough: {self.note}"


def central_square(shape: tuple[int, ...], size: int = CROP) -> tuple[slice, slice]:
    """The central crop (at most ``size`` per side) of the last two axes."""
    h, w = shape[-2:]
    ch, cw = min(h, size), min(w, size)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return slice(y0, y0 + ch), slice(x0, x0 + cw)


def correlated_field(shape: tuple[int, int], record: dict[str, Any], signal_level: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(stationary Gaussian noise with the record's covariance between neighbours at ``signal_level``, its variance).

    The field's power spectrum is v + sum_d C(d) cos(w . d) with the smallest v that keeps it non-negative
    (the least variance that can carry those covariances); the rest of the pixel variance is white.
    """
    lags = [tuple(int(v) for v in lag) for lag in record["lags"]]
    covariance = {lag: float(a) + float(b) * signal_level
                  for lag, a, b in zip(lags, record["covariance_intercept"], record["covariance_slope"])}
    fy = np.fft.fftfreq(shape[0])[:, None] * 2 * np.pi
    fx = np.fft.fftfreq(shape[1])[None, :] * 2 * np.pi
    spectrum = np.zeros(shape)
    for (dy, dx), c in covariance.items():
        spectrum += 2.0 * c * np.cos(fy * dy + fx * dx)
    floor = max(0.0, -float(spectrum.min()))
    spectrum = np.maximum(spectrum + floor, 0.0)
    white = rng.standard_normal(shape)
    field = np.real(np.fft.ifft2(np.fft.fft2(white) * np.sqrt(spectrum)))
    return field, floor


def noise_draw(noise_model: Any, signal: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the noise model's mean at ``signal``, a zero-mean Gaussian draw of its noise, its variance): the variance
    per pixel, with the measured correlation between neighbours where the noise model carries one."""
    with torch.inference_mode():
        mean, variance = (t.double().cpu().numpy() for t in noise_model.moments(np.asarray(signal, np.float32)))
    record = record_of(noise_model)
    white_variance, correlated = variance, 0.0
    if is_correlated(record):
        correlated, field_variance = correlated_field(signal.shape, record, float(np.mean(signal)), rng)
        white_variance = np.maximum(variance - field_variance, 0.0)
    return mean, np.sqrt(white_variance) * rng.standard_normal(signal.shape) + correlated, variance


def simulated_noisy(noise_model: Any, signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A noisy image of ``signal`` as the camera would give it (see :func:`noise_draw`)."""
    mean, noise, _ = noise_draw(noise_model, signal, rng)
    return (mean + noise).astype(np.float32)


def calibration_factor(truth: np.ndarray, mmse: np.ndarray, variance: np.ndarray) -> float:
    """Mean squared z-score (truth - mmse)^2 / variance over the inner pixels."""
    inner = (slice(BORDER, -BORDER or None),) * 2 if min(truth.shape) > 4 * BORDER else (slice(None),) * 2
    t, m, v = (np.asarray(a, dtype=np.float64)[inner] for a in (truth, mmse, variance))
    floor = 1e-6 * max(float(np.median(v)), 1e-30)
    return float(np.mean((t - m) ** 2 / np.maximum(v, floor)))


def correlation_unknown(noise_model: Any) -> bool:
    """True where nothing is known of the noise's correlation between pixels (no measurement recorded)."""
    return record_of(noise_model) is None


def summary(factor: float, variance: np.ndarray, mmse: np.ndarray, noise_model: Any, calibrated: bool,
            error: Any = None, by_error: bool = False) -> UncertaintyCalibration:
    """The calibration record for a variance map (before calibration) and the factor found; ``error``: the
    error estimate (``inference.error_estimate.ErrorEstimate``), which replaces the calibrated variance's mean
    as the estimate of the squared error; ``by_error``: whether the factor is that estimate's temperature
    (else the simulation's)."""
    wanted = float(factor)
    factor = float(min(max(factor, 1e-3), MAX_FACTOR))
    mse = float(np.nanmean(np.asarray(variance, dtype=np.float64))) * factor
    span = float(np.nanmax(mmse) - np.nanmin(mmse))
    psnr = 10.0 * math.log10(span**2 / mse) if mse > 0 and span > 0 else float("nan")
    if error is not None:
        return UncertaintyCalibration(factor, error.mse, error.psnr, error.reliable, error.note,
                                      _includes(factor, calibrated, by_error, wanted), error)
    reliable, note = True, "self-calibrated on a simulated copy of the image"
    if not calibrated:
        reliable, note = False, "not calibrated (too few samples or calibration switched off): the posterior spread alone"
    elif correlation_unknown(noise_model):
        reliable, note = False, ("the noise model says nothing of the noise's correlation between pixels, "
                                 "so a correlated camera noise would be simulated as white")
    return UncertaintyCalibration(factor, mse, psnr, reliable, note, _includes(factor, calibrated, False, wanted))


def _includes(factor: float, calibrated: bool, by_error: bool, wanted: float) -> str:
    if not calibrated:
        return "the posterior spread of the samples"
    capped = (f" (the most it is scaled: {wanted:.3g} was asked for, so the map is still too narrow)"
              if wanted > factor else "")
    if by_error:
        return (f"the posterior spread of the samples, scaled by {factor:.3g} so that its mean over the central "
                "crop equals the squared error estimated without ground truth (what the model gets wrong included)"
                + capped)
    return ("the posterior spread of the samples, scaled by the factor found on a simulated copy of a crop, "
            f"{factor:.3g}" + capped)

