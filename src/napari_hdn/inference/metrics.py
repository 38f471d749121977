"""Image quality measures used by tests and benchmarks."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, estimate: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the reference's max - min."""
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.shape != estimate.shape:
        raise ValueError(f"Shapes differ: {reference.shape} vs {estimate.shape}.")
    if data_range is None:
        data_range = float(reference.max() - reference.min())
    mse = float(np.mean((reference - estimate) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * np.log10(data_range**2 / mse)


def _checked(truth: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth, dtype=np.float64)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != truth.ndim + 1 or samples.shape[1:] != truth.shape:
        raise ValueError(f"samples must have shape (N, *truth.shape) = (N, {truth.shape}); got {samples.shape}.")
    if samples.shape[0] < 2:
        raise ValueError("At least 2 samples are needed to measure an interval.")
    return truth, samples


def interval_coverage(truth: np.ndarray, samples: np.ndarray, level: float) -> float:
    """Share of pixels whose truth lies inside the central ``level`` interval of the samples (per pixel)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, not {level}.")
    truth, samples = _checked(truth, samples)
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(np.mean((truth >= low) & (truth <= high)))


def mean_squared_z(truth: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> float:
    """Mean of (truth - mean)^2 / variance: 1 for a calibrated Gaussian uncertainty, above 1 if over-confident."""
    truth, mean, variance = (np.asarray(a, dtype=np.float64) for a in (truth, mean, variance))
    if not truth.shape == mean.shape == variance.shape:
        raise ValueError(f"Shapes differ: {truth.shape}, {mean.shape}, {variance.shape}.")
    if not np.all(variance > 0):
        raise ValueError("The variance must be positive everywhere.")
    return float(np.mean((truth - mean) ** 2 / variance))


def reliability_diagram(truth: np.ndarray, samples: np.ndarray,
                        levels=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)) -> list[tuple[float, float]]:
    """(nominal level, observed coverage) of the samples' central intervals: on the diagonal when calibrated."""
    return [(float(level), interval_coverage(truth, samples, level)) for level in levels]


def calibration_report(truth: np.ndarray, samples: np.ndarray, mean: np.ndarray | None = None,
                       variance: np.ndarray | None = None) -> dict:
    """Coverage at 50/90/95 %, the mean squared z-score and the reliability diagram, JSON-ready."""
    truth, samples = _checked(truth, samples)
    mean = samples.mean(axis=0) if mean is None else mean
    variance = samples.var(axis=0, ddof=1) if variance is None else variance
    return {
        "coverage": {f"{int(100 * level)}%": interval_coverage(truth, samples, level) for level in (0.5, 0.9, 0.95)},
        "mean_squared_z": mean_squared_z(truth, mean, variance),
        "reliability": reliability_diagram(truth, samples),
    }
