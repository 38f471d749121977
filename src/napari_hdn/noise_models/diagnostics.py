"""How well a noise model fits data: p(x|s) curves against histograms, and variance against signal.

:func:`noise_model_diagnostics` returns the numbers as arrays (for tests, widgets
and reports); :func:`save_diagnostics_plot` draws them to a PNG (matplotlib's
Agg backend, imported only when a figure is drawn).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..foundation.errors import InputError
from ..io.atomic import atomic_path
from .base import NoiseModel
from .pairs import CalibrationPairs, binned_residuals, grid_bin_width, image_pairs, stack_pairs


@dataclass(frozen=True)
class NoiseModelDiagnostics:
    """p(x|s) at a few signal levels and the variance curve, for the model and for the data."""

    description: str  # the model's one-line description
    signal_levels: np.ndarray  # (L,) mean signal of the pairs near each level
    observation_grid: np.ndarray  # (L, G) centres of the observation bins at each level
    model_density: np.ndarray  # (L, G) the model's p(x|s) there
    empirical_density: np.ndarray  # (L, G) normalised histogram of the observations near the level
    level_counts: np.ndarray  # (L,) pairs behind each histogram
    signal: np.ndarray  # (M,) mean signal of each variance bin
    data_variance: np.ndarray  # (M,) variance of x - s in the bin
    model_variance: np.ndarray  # (M,) the model's variance at that signal

    @property
    def max_relative_variance_error(self) -> float:
        """max |model / data - 1| of the variance over the bins."""
        return float(np.max(np.abs(self.model_variance / np.maximum(self.data_variance, 1e-30) - 1.0)))


def _pairs(stack, signal, observation, clip_percentiles, max_pairs, seed) -> CalibrationPairs:
    if stack is not None and signal is None and observation is None:
        return stack_pairs(stack, clip_percentiles, max_pairs, seed)
    if stack is None and signal is not None and observation is not None:
        return image_pairs(signal, observation, clip_percentiles, max_pairs, seed)
    raise InputError("Give either a calibration stack, or a signal image and its noisy observation.")


def _histogram_edges(x: np.ndarray, grid_size: int, spacing: float | None) -> np.ndarray:
    """``grid_size`` equal bins over the central 99.8 % of ``x`` (whole multiples of the grid of camera counts)."""
    low, high = np.percentile(x, (0.1, 99.9))
    if not low < high:
        low, high = low - 0.5, high + 0.5
    width = grid_bin_width(low, high, grid_size, spacing)
    start = low - 0.5 * width
    return start + width * np.arange(grid_size + 1)


def noise_model_diagnostics(
    model: NoiseModel,
    *,
    stack: Any = None,
    signal: Any = None,
    observation: Any = None,
    n_levels: int = 5,
    n_bins: int = 40,
    grid_size: int = 60,
    clip_percentiles: tuple[float, float] = (0.5, 99.5),
    max_pairs: int = 2_000_000,
    seed: int = 0,
) -> NoiseModelDiagnostics:
    """Compare ``model`` with data: a calibration ``stack``, or a ``signal`` with its ``observation``.

    The levels are ``n_levels`` signals evenly spaced between the 5th and 95th
    percentile of the signal; the histogram at a level uses the 2 % of pairs
    whose signal is closest to it.
    """
    if n_levels < 1 or n_bins < 2 or grid_size < 2:
        raise InputError("n_levels must be >= 1, and n_bins and grid_size >= 2.")
    pairs = _pairs(stack, signal, observation, clip_percentiles, max_pairs, seed)
    order = np.argsort(pairs.signal, kind="stable")
    sorted_signal = pairs.signal[order]
    n = order.size
    half_band = max(n // 100, 50)
    spacing = pairs.observation_spacing
    levels, grids, empirical, counts = [], [], [], []
    for target in np.linspace(*np.percentile(sorted_signal, (5, 95)), n_levels):
        centre = int(np.clip(np.searchsorted(sorted_signal, target), half_band, max(n - half_band - 1, half_band)))
        band = order[max(centre - half_band, 0) : centre + half_band + 1]
        x = pairs.observation[band].astype(np.float64)
        edges = _histogram_edges(x, grid_size, spacing)
        hist, _ = np.histogram(x, bins=edges)
        levels.append(float(pairs.signal[band].mean()))
        grids.append(0.5 * (edges[:-1] + edges[1:]))
        empirical.append(hist / (band.size * (edges[1] - edges[0])))
        counts.append(band.size)
    levels_a = np.array(levels)
    grids_a = np.stack(grids)
    binned = binned_residuals(pairs, n_bins)
    with torch.no_grad():
        density = model.log_likelihood(grids_a, levels_a[:, None]).exp().cpu().numpy()
        variance = model.moments(binned.signal)[1].cpu().numpy()
    return NoiseModelDiagnostics(
        description=model.describe(),
        signal_levels=levels_a,
        observation_grid=grids_a,
        model_density=density.astype(np.float64),
        empirical_density=np.stack(empirical),
        level_counts=np.array(counts),
        signal=binned.signal,
        data_variance=binned.variance,
        model_variance=variance.astype(np.float64),
    )


@dataclass(frozen=True)
class NoiseModelCurves:
    """A noise model's own curves, without data: its variance against the signal and p(x|s) at a few levels."""

    signal: np.ndarray  # (M,) signal values
    variance: np.ndarray  # (M,) the model's variance of x at each
    signal_levels: np.ndarray  # (L,) a few signal levels inside the range
    observation_grid: np.ndarray  # (L, G) observations around each level's mean (+- 4 sigma)
    density: np.ndarray  # (L, G) the model's p(x|s) there


def noise_model_curves(model: NoiseModel, signal_range: tuple[float, float] | None = None,
                       points: int = 64, levels: int = 5, grid: int = 120) -> NoiseModelCurves:
    """The curves of ``model`` over ``signal_range`` (default: the range it was calibrated on)."""
    low, high = model.signal_range if signal_range is None else signal_range
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise InputError(f"The noise model's curves need a finite signal range (low < high), not {low}..{high}: "
                         "give signal_range=(low, high), e.g. the data's 1st and 99th percentiles.")
    signal = np.linspace(low, high, points)
    level_values = np.linspace(low, high, levels + 2)[1:-1]
    with torch.no_grad():
        mean, variance = (t.cpu().numpy().astype(np.float64) for t in model.moments(level_values))
        spread = 4.0 * np.sqrt(variance)
        observation = np.linspace(mean - spread, mean + spread, grid, axis=1)
        density = model.log_likelihood(observation, level_values[:, None]).exp().cpu().numpy()
        curve = model.moments(signal)[1].cpu().numpy()
    return NoiseModelCurves(signal, curve, level_values, observation, density)


def save_diagnostics_plot(
    diagnostics: NoiseModelDiagnostics, path: str | os.PathLike, overwrite: bool = True
) -> None:
    """Draw the diagnostics (two panels) to a PNG file, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    d = diagnostics
    figure = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    colours = [f"C{i % 10}" for i in range(len(d.signal_levels))]
    for level, grid, model_p, data_p, colour in zip(
        d.signal_levels, d.observation_grid, d.model_density, d.empirical_density, colours
    ):
        width = grid[1] - grid[0]
        left.bar(grid, data_p, width=width, color=colour, alpha=0.3, linewidth=0)
        left.plot(grid, model_p, color=colour, label=f"s = {level:.4g}")
    shown = np.maximum(d.model_density, d.empirical_density) > 2e-3 * d.empirical_density.max()
    if shown.any():  # the grids may reach past the data (whole-number bins); show where there is mass
        left.set_xlim(d.observation_grid[shown].min(), d.observation_grid[shown].max())
    left.set_xlabel("observation x (raw units)")
    left.set_ylabel("p(x | s)")
    left.set_title("p(x|s): model (lines) vs data (bars)")
    left.legend(fontsize="small")
    right.plot(d.signal, d.data_variance, "o", markersize=3, color="0.3", label="data")
    right.plot(d.signal, d.model_variance, "-", color="C3", label="model")
    right.set_xlabel("signal s (raw units)")
    right.set_ylabel("variance of x given s")
    right.set_title(f"variance vs signal (max error {100 * d.max_relative_variance_error:.1f} %)")
    right.legend(fontsize="small")
    figure.suptitle(d.description, fontsize="small")
    figure.tight_layout()
    with atomic_path(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, format="png")
