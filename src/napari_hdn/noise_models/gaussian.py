"""Gaussian noise with a known, signal-independent standard deviation (synthetic data)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..foundation.errors import InputError
from .base import NoiseModel, gaussian_log_density
from .pairs import CalibrationPairs


class GaussianNoiseModel(NoiseModel):
    """x = s + N(0, sigma^2): mean s, variance sigma^2 at every signal.

    ``signal_range`` is informative only (the model is the same at every s); it is
    unbounded unless the model was fitted to data.
    """

    kind = "gaussian"

    def __init__(self, sigma: float, signal_range=(-math.inf, math.inf), device=None) -> None:
        super().__init__(signal_range, device)
        sigma = float(sigma)
        if not (math.isfinite(sigma) and sigma > 0):
            raise InputError(f"The Gaussian noise sigma must be a positive number; got {sigma}.")
        self.sigma = sigma
        self.provenance = {"source": "known_parameters"}  # calibration and loading replace it

    def describe(self) -> str:
        return f"Gaussian, sigma {self.sigma:g}"

    def _log_likelihood(self, x, s):
        return gaussian_log_density(x, s, torch.full_like(s, self.sigma**2))

    def _moments(self, s):
        return s.clone(), torch.full_like(s, self.sigma**2)

    def _parameter_arrays(self):
        return {"sigma": np.array(self.sigma), "signal_range": np.array(self._signal_range)}


def estimate_gaussian(pairs: CalibrationPairs) -> GaussianNoiseModel:
    """sigma = the standard deviation of x - s over all pairs."""
    residual = pairs.observation.astype(np.float64) - pairs.signal
    sigma = float(residual.std())
    if not sigma > 0:
        raise InputError("The observations equal the signal exactly: there is no noise to measure.")
    return GaussianNoiseModel(sigma, signal_range=pairs.signal_range)
