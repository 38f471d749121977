"""The "nuclei-cam" set of ../shared/benchmark.md: column-correlated read noise, whole-number output.

Generated exactly as defined there (truth: the nuclei-pg truth smoothed by a 1-px Gaussian; read noise:
white N(0, 3^2) of shape (Y + 2, X) convolved down each column with [0.4, 1.0, 0.4] / its L2 norm;
x = round(Poisson(s) + read + 100), clipped to 0..65535, uint16; Poisson drawn first).
Training slice i: seed 5000 + i; test slice 30: seed 6042; calibration stack of slice 30: seeds 7000..7099.
Scored as x - 100 against s (photons).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_hdn.io import sample_data

PEAK, GAIN, READ_SIGMA, OFFSET = 30.0, 1.0, 3.0, 100.0
KERNEL = np.array([0.4, 1.0, 0.4]) / np.linalg.norm([0.4, 1.0, 0.4])
TRAIN_SEED, TEST_SEED, CALIBRATION_SEED = 5000, 6042, 7000
# Correlation of the read noise between vertical neighbours at lags 1, 2 (the kernel's autocorrelation).
READ_CORRELATION_Y = (float(KERNEL[:-1] @ KERNEL[1:]), float(KERNEL[0] * KERNEL[2]))


def truth(index: int) -> np.ndarray:
    """The true signal of slice ``index`` in photons (float64)."""
    return gaussian_filter(sample_data.clean_stack()[index].astype(np.float64) / sample_data.PEAK_PHOTONS * PEAK, 1.0)


def noisy(s: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    photons = rng.poisson(s)
    white = rng.normal(0.0, READ_SIGMA, (s.shape[0] + 2, s.shape[1]))
    read = np.stack([np.convolve(white[:, j], KERNEL, mode="valid") for j in range(s.shape[1])], axis=1)
    return np.clip(np.round(GAIN * photons + read + OFFSET), 0, 65535).astype(np.uint16)


def training_stack(n: int = 60) -> np.ndarray:
    return np.stack([noisy(truth(i), TRAIN_SEED + i) for i in range(n)])


def test_slice() -> tuple[np.ndarray, np.ndarray]:
    """(noisy test slice 30, its truth in photons)."""
    s = truth(sample_data.TEST_SLICE)
    return noisy(s, TEST_SEED), s


def calibration_stack(n: int = 100) -> np.ndarray:
    s = truth(sample_data.TEST_SLICE)
    return np.stack([noisy(s, CALIBRATION_SEED + k) for k in range(n)])


def to_photons(raw: np.ndarray) -> np.ndarray:
    return (np.asarray(raw, dtype=np.float64) - OFFSET) / GAIN
