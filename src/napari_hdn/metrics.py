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
