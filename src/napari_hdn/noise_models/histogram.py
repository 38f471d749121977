"""Histogram noise model: an empirical p(x|s) on a regular 2-D grid (as in PN2V).

Row i of ``probabilities`` is the distribution of x (mass per observation bin,
summing to 1) for signals in the i-th of equal signal bins over
``signal_range``. Between the bin centres the rows are interpolated linearly
in s, so the likelihood is continuous and differentiable in s; beyond the
first/last centre the end rows are used. Along x the density is constant within
a bin. Empty bins and observations outside ``observation_range`` get the density
``floor / bin_width`` (floor = 1e-10 of the probability mass), so log p is
always finite.
"""

from __future__ import annotations

import numpy as np
import torch

from ..foundation.errors import InputError
from .base import NoiseModel, checked_range

DEFAULT_FLOOR = 1e-10


class HistogramNoiseModel(NoiseModel):
    """p(x|s) from a 2-D histogram (see the module docstring).

    Parameters
    ----------
    probabilities : (n_signal_bins, n_observation_bins), rows summing to 1 (they are normalised).
    signal_range, observation_range : (low, high) of the two regular bin grids.
    floor : smallest probability mass of a bin, > 0.
    """

    kind = "histogram"

    def __init__(self, probabilities, signal_range, observation_range, floor: float = DEFAULT_FLOOR, device=None):
        super().__init__(signal_range, device)
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
            raise InputError(
                f"Histogram probabilities must be a 2-D array (signal bins, observation bins); got shape {p.shape}."
            )
        if not np.isfinite(p).all() or (p < 0).any():
            raise InputError("Histogram probabilities must be finite and non-negative.")
        row_sums = p.sum(axis=1, keepdims=True)
        if (row_sums <= 0).any():
            raise InputError("Every row of the histogram (one signal bin) needs some probability mass.")
        self._observation_range = checked_range(observation_range, "observation_range")
        if not np.isfinite(self._signal_range + self._observation_range).all():
            raise InputError("The histogram's signal and observation ranges must be finite.")
        floor = float(floor)
        if not (0 < floor < 1):
            raise InputError(f"The histogram floor must be between 0 and 1; got {floor}.")
        self.floor = floor
        self._probabilities = torch.from_numpy((p / row_sums).astype(np.float32)).to(self.device)

    @property
    def observation_range(self) -> tuple[float, float]:
        return self._observation_range

    @property
    def probabilities(self) -> np.ndarray:
        return self._probabilities.cpu().numpy().copy()

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._probabilities.shape)

    def describe(self) -> str:
        n_s, n_x = self.shape
        return (
            f"Histogram, {n_s} signal x {n_x} observation bins, signal range "
            f"{self._signal_range[0]:g}..{self._signal_range[1]:g}"
        )

    def _bin_widths(self) -> tuple[float, float]:
        n_s, n_x = self.shape
        (s_lo, s_hi), (x_lo, x_hi) = self._signal_range, self._observation_range
        return (s_hi - s_lo) / n_s, (x_hi - x_lo) / n_x

    def _signal_interpolation(self, s: torch.Tensor):
        """Lower row index, upper row index and the weight of the upper row, for each signal."""
        n_s = self.shape[0]
        ds, _ = self._bin_widths()
        position = ((s - self._signal_range[0]) / ds - 0.5).clamp(0.0, n_s - 1.0)
        lower = position.detach().floor().long().clamp(max=max(n_s - 2, 0))
        upper = (lower + 1).clamp(max=n_s - 1)
        return lower, upper, position - lower.to(position.dtype)

    def _rows(self, s: torch.Tensor) -> torch.Tensor:
        return self._probabilities.to(device=s.device, dtype=s.dtype)

    def _log_likelihood(self, x, s):
        p = self._rows(s)
        n_x = p.shape[1]
        _, dx = self._bin_widths()
        lower, upper, frac = self._signal_interpolation(s)
        column_float = ((x - self._observation_range[0]) / dx).floor()
        inside = (column_float >= 0) & (column_float < n_x)
        column = column_float.clamp(0, n_x - 1).long()
        mass = (1 - frac) * p[lower, column] + frac * p[upper, column]
        mass = torch.where(inside, mass, torch.zeros_like(mass)).clamp(min=self.floor)
        return mass.log() - float(np.log(dx))

    def _row_moments(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, dx = self._bin_widths()
        n_x = p.shape[1]
        centres = self._observation_range[0] + dx * (torch.arange(n_x, device=p.device, dtype=p.dtype) + 0.5)
        mean = p @ centres
        # + dx^2/12: the spread of a value uniformly distributed within its bin.
        variance = p @ centres**2 - mean**2 + dx**2 / 12.0
        return mean, variance.clamp(min=dx**2 / 12.0)

    def _moments(self, s):
        row_mean, row_variance = self._row_moments(self._rows(s))
        lower, upper, frac = self._signal_interpolation(s)
        mean = (1 - frac) * row_mean[lower] + frac * row_mean[upper]
        variance = (1 - frac) * row_variance[lower] + frac * row_variance[upper]
        return mean, variance

    def _move(self, device):
        self._probabilities = self._probabilities.to(device)

    def _parameter_arrays(self):
        return {
            "probabilities": self.probabilities,
            "signal_range": np.array(self._signal_range),
            "observation_range": np.array(self._observation_range),
            "floor": np.array(self.floor),
        }


def fit_histogram(
    signal: np.ndarray,
    observation: np.ndarray,
    signal_range: tuple[float, float],
    observation_range: tuple[float, float],
    signal_bins: int,
    observation_bins: int,
) -> HistogramNoiseModel:
    """Count (signal, observation) pairs on the grid; a signal bin without pairs copies its nearest filled one."""
    counts, _, _ = np.histogram2d(
        signal, observation, bins=(signal_bins, observation_bins), range=(signal_range, observation_range)
    )
    filled = np.flatnonzero(counts.sum(axis=1) > 0)
    if filled.size == 0:
        raise InputError(
            "No (signal, observation) pair falls inside the histogram's ranges: widen observation_range."
        )
    nearest = filled[np.abs(np.arange(signal_bins)[:, None] - filled[None, :]).argmin(axis=1)]
    return HistogramNoiseModel(counts[nearest], signal_range, observation_range)
