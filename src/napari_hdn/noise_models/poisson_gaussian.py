"""Poisson-Gaussian camera noise: x = gain * Poisson(photons) + N(offset, read_sigma^2).

Unit convention: ``s`` is the noise-free camera value in raw data units,
s = E[x] = gain * photons + offset (the same units as the decoder's output and
the data). Then

    mean(x|s) = s,    var(x|s) = gain * (s - offset) + read_sigma^2,

and the variance is clamped below at read_sigma^2 (a signal below the dark level
carries no photons). The likelihood is the Gaussian with that mean and variance,
the usual approximation of the Poisson-Gaussian law (accurate once a pixel
collects a few photons, and smooth in s).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..foundation.errors import InputError
from .base import NoiseModel, gaussian_log_density
from .pairs import CalibrationPairs, binned_residuals


class PoissonGaussianNoiseModel(NoiseModel):
    """Gaussian approximation of a Poisson-Gaussian camera (see the module docstring)."""

    kind = "poisson_gaussian"

    def __init__(
        self,
        gain: float,
        offset: float,
        read_sigma: float,
        signal_range=(-math.inf, math.inf),
        device=None,
    ) -> None:
        super().__init__(signal_range, device)
        gain, offset, read_sigma = float(gain), float(offset), float(read_sigma)
        if not (math.isfinite(gain) and gain > 0):
            raise InputError(f"The camera gain must be a positive number (raw units per photon); got {gain}.")
        if not math.isfinite(offset):
            raise InputError(f"The camera offset (dark level) must be a finite number; got {offset}.")
        if not (math.isfinite(read_sigma) and read_sigma > 0):
            raise InputError(f"The read-noise sigma must be a positive number; got {read_sigma}.")
        self.gain = gain
        self.offset = offset
        self.read_sigma = read_sigma
        self.provenance = {"source": "known_parameters"}  # calibration, estimation and loading replace it

    def describe(self) -> str:
        return f"Poisson-Gaussian, gain {self.gain:.4g}, offset {self.offset:.4g}, read sigma {self.read_sigma:.4g}"

    def sample(self, s, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draw x given the signal ``s`` (numpy, raw units) from the exact Poisson-Gaussian law.

        Photons are (s - offset) / gain, clipped at 0; used to simulate data with known noise.
        """
        rng = np.random.default_rng(seed)
        photons = np.maximum((np.asarray(s, dtype=np.float64) - self.offset) / self.gain, 0.0)
        return self.gain * rng.poisson(photons) + rng.normal(self.offset, self.read_sigma, photons.shape)

    def _variance(self, s: torch.Tensor) -> torch.Tensor:
        read_variance = self.read_sigma**2
        return (self.gain * (s - self.offset) + read_variance).clamp(min=read_variance)

    def _log_likelihood(self, x, s):
        return gaussian_log_density(x, s, self._variance(s))

    def _moments(self, s):
        return s.clone(), self._variance(s)

    def _parameter_arrays(self):
        return {
            "gain": np.array(self.gain),
            "offset": np.array(self.offset),
            "read_sigma": np.array(self.read_sigma),
            "signal_range": np.array(self._signal_range),
        }


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the Theil-Sen line: medians of pairwise slopes and of the residual offsets."""
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    usable = dx > 0
    slope = float(np.median((y[j] - y[i])[usable] / dx[usable]))
    return slope, float(np.median(y - slope * x))


def estimate_poisson_gaussian(pairs: CalibrationPairs, offset: float | None, n_bins: int) -> PoissonGaussianNoiseModel:
    """Gain and read noise from the variance-vs-signal line of the data.

    The variance of x - s is measured in ``n_bins`` signal bins of equal counts
    and a Theil-Sen line (robust to outlying bins: hot pixels, saturation) is
    fitted: var = gain * s + intercept. Only the intercept is identifiable from
    variances, intercept = read_sigma^2 - gain * offset, so the offset (dark
    level) is taken as given or, by default, as the low end of the clipped
    signal range (the darkest pixels). The variance curve over the data does not
    depend on that choice; the offset only sets where the variance stops
    falling (at read_sigma^2) and the reported read sigma.
    """
    binned = binned_residuals(pairs, n_bins)
    if binned.signal.size < 2:
        raise InputError(
            "The signal has too few distinct levels to fit a Poisson-Gaussian model: calibrate on a scene with "
            "a range of intensities."
        )
    gain, intercept = theil_sen(binned.signal, binned.variance)
    if not gain > 0:
        raise InputError(
            f"The noise variance does not grow with the signal (fitted gain {gain:.3g}): this does not look like "
            "Poisson-Gaussian camera noise. Use kind='gmm' (or 'gaussian' for signal-independent noise)."
        )
    if offset is None:
        offset = pairs.signal_range[0]
    read_variance = intercept + gain * offset
    if not read_variance > 0:
        raise InputError(
            f"The offset (dark level) {offset:.4g} lies below the level at which the data's noise variance would "
            f"reach zero ({-intercept / gain:.4g}); give the camera's real offset (offset=...)."
        )
    return PoissonGaussianNoiseModel(gain, offset, float(np.sqrt(read_variance)), signal_range=pairs.signal_range)
