"""The layer suggestion's second criterion: does the residual correlate between neighbours as the noise does?

The fit ratio (``suggest``) compares the residual x - r of a restoration r with the noise model's variance,
so a noise model whose variance is off fools it. This criterion needs only the *shape* of the noise: its
correlation between neighbouring pixels, measured in the noisy images (``noise_models.correlation``).

- A restoration that keeps part of the noise (a latent layer learnt the correlated read noise) leaves a
  residual that lacks that part: its correlation between neighbours is lower than the noise's.
- A restoration that lost image detail (a layer with content switched off) leaves a residual holding
  edges and texture, which correlate between neighbours in every direction: higher than the noise's.

So among the prefixes z1..zk (k = 0: all on) that leave out no content (no excess correlation over the noise's,
in any direction) the one whose residual correlates most like the noise removes the noise and keeps the content. The correlations are scale-free (covariance over variance),
so a wrong noise-model scale cannot move them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Lags (dy, dx) compared: direct and second neighbours along y and x, and both diagonals.
LAGS = ((1, 0), (0, 1), (2, 0), (0, 2), (1, 1), (1, -1))
# Switching layers off must bring the residual's correlations closer to the noise's by at least this
# (Euclidean distance over LAGS, in correlation coefficients): a sampling error of the correlations on a
# 256 x 256 crop is about 0.005 each, and a smaller gain is not worth losing a layer's detail for.
MIN_GAIN = 0.02


def residual_correlations(noisy: np.ndarray, restored: np.ndarray, border: int) -> np.ndarray:
    """(len(LAGS),) correlation coefficients of the residual noisy - restored at each lag (inner region)."""
    e = np.asarray(noisy, dtype=np.float64) - np.asarray(restored, dtype=np.float64)
    if border and min(e.shape) > 4 * border:
        e = e[border:-border, border:-border]
    e = e - e.mean()
    variance = float((e * e).mean())
    if not variance > 0:
        return np.zeros(len(LAGS))
    h, w = e.shape
    out = []
    for dy, dx in LAGS:
        a = e[: h - dy, max(0, -dx) : w - max(0, dx)]  # pixel p
        b = e[dy:, max(0, dx) : w + min(0, dx)]  # pixel p + (dy, dx)
        out.append(float((a * b).mean()) / variance)
    return np.array(out)


def noise_correlations(record: dict[str, Any], signal: np.ndarray) -> np.ndarray | None:
    """(len(LAGS),) the noise's correlation coefficients over an image whose signal is ``signal`` (raw units).

    The covariances and the variance are lines in the signal, so their means over the pixels are their
    values at the mean signal; None where the record lacks what is needed.
    """
    try:
        lags = [tuple(int(v) for v in lag) for lag in record["lags"]]
        intercept = [float(v) for v in record["covariance_intercept"]]
        slope = [float(v) for v in record["covariance_slope"]]
        variance_slope, variance_intercept = (float(v) for v in record["variance_line"])
    except (KeyError, TypeError, ValueError):
        return None
    s = float(np.mean(signal))
    variance = variance_slope * s + variance_intercept
    if not (math.isfinite(variance) and variance > 0):
        return None
    out = []
    for dy, dx in LAGS:
        key = (dy, dx) if (dy, dx) in lags else (-dy, -dx)
        if key not in lags:
            return None
        j = lags.index(key)
        out.append((intercept[j] + slope[j] * s) / variance)
    return np.array(out)


def distances(noisy: np.ndarray, restored: list[np.ndarray], noise: np.ndarray, border: int) -> list[float]:
    """Per restoration, the distance between its residual's correlations and the noise's."""
    return [float(np.linalg.norm(residual_correlations(noisy, r, border) - noise)) for r in restored]


def excess(noisy: np.ndarray, restored: list[np.ndarray], noise: np.ndarray, border: int) -> list[float]:
    """Per restoration, how much its residual correlates *more* than the noise (summed over LAGS).

    The noise cannot correlate more than it does: an excess is image content the restoration left out, in every
    direction (a layer with content switched off), whereas noise a restoration kept shows as a shortfall.
    """
    return [float(np.clip(residual_correlations(noisy, r, border) - noise, 0.0, None).sum()) for r in restored]


# An excess above this (summed over the 6 lags) is content lost. Its floor is the measurement's own error: each
# correlation of a 248 x 248 residual has a sampling error of about 1/248 = 0.004 and the noise's measured one
# about 0.01, so the positive parts of 6 differences sum to about 0.03 with no content lost at all.
MAX_EXCESS = 0.05


def best_prefix(distance: list[float], candidates: list[int], excesses: list[float] | None = None) -> int:
    """The prefix k (0 = all on) among ``candidates`` whose residual correlates most like the noise, among those
    that lose no content (excess at most MAX_EXCESS), if it gains at least MIN_GAIN over all layers on; else 0."""
    allowed = [k for k in candidates if k == 0 or excesses is None or excesses[k] <= MAX_EXCESS]
    best = min(allowed, key=lambda k: (distance[k], k))
    return best if distance[0] - distance[best] >= MIN_GAIN else 0
