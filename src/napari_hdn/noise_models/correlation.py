"""The noise's spatial covariance between neighbouring pixels, measured in the flat areas of noisy images.

Why: the estimate's high-pass residual r = k * x (k = [1, -2, 1] x [1, -2, 1] / 6, unit norm) sees
E[r^2] = sum_d A(d) C(d), where A is k's autocorrelation and C the noise's autocovariance at lag d.
For noise independent between pixels only C(0) is left and r^2 measures the pixel variance. Real
cameras' read noise is correlated between neighbours (C(d) > 0 at small lags), and A(d) is negative
at lag 1: r^2 then misses much of the noise (a third of it for nuclei-cam's column-correlated read
noise), and so would any estimate built on neighbour differences.

How: the products r(p) r(p + d) of the same residual at lags |d| <= ``LAGS`` (per signal bin, over the
flat pixels the variance fit keeps) are sum_e A(d - e) C(e) plus a constant from the slowly varying
signal that leaks into r. With C assumed zero beyond ``SUPPORT`` pixels in either axis, this is a small
least-squares problem per bin: C(d) and the leak constant. What the variance fit needs is
``correction(signal)`` = sum_{d != 0} A(d) C(d; signal), so that C(0) = E[r^2] - correction; each
C(d), d != 0, is fitted as a line in the signal (constant for correlated read noise, growing with the
signal where the photon noise itself is correlated, e.g. by a camera's pixel crosstalk).

Limit: noise correlated over more than ``SUPPORT`` pixels (whole-row offsets, long stripes) is partly
or wholly invisible to high-pass residuals; its far part is not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# A correlation coefficient between neighbours above this (at the dark level, where read noise dominates) is
# called correlated noise: the finest latent layer then may learn it as detail.
CORRELATED = 0.1
LAGS = 5  # residual products are measured at lags up to this in each axis
SUPPORT = 3  # the noise covariance is taken as zero beyond this lag in either axis
# The covariance is measured on x less its local quadratic fit over 9 x 9 pixels: a filter whose spectrum
# vanishes only at frequency 0 (the deconvolution stays well conditioned, unlike with the variance fit's second
# differences, which vanish along both axes) and which leaves out ramps and curvature (little signal leaks in).
FIT_HALF = 4
FIT_DEGREE = 2
_KERNEL_1D = np.array([1.0, -2.0, 1.0]) / np.sqrt(6.0)


def half_plane(radius: int) -> list[tuple[int, int]]:
    """Lags (dy, dx) with |dy|, |dx| <= radius, one of each pair +-d (dy > 0, or dy == 0 and dx >= 0)."""
    return [(dy, dx) for dy in range(0, radius + 1) for dx in range(-radius, radius + 1) if dy > 0 or dx >= 0]


MEASURED = half_plane(LAGS)
UNKNOWN = half_plane(SUPPORT)


def _autocorrelation(kernel: np.ndarray) -> dict[tuple[int, int], float]:
    """sum_p k(p) k(p + d) for every lag d where it is not 0."""
    h, w = kernel.shape
    out = {}
    for dy in range(-h + 1, h):
        for dx in range(-w + 1, w):
            a = kernel[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
            b = kernel[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
            out[(dy, dx)] = float((a * b).sum())
    return out


def _local_fit_weights(half: int, degree: int) -> np.ndarray:
    """The weights giving the centre value of a least-squares polynomial fit over 2 half + 1 points."""
    x = np.arange(-half, half + 1, dtype=np.float64)
    basis = np.stack([x**k for k in range(degree + 1)], axis=1)
    return (basis @ np.linalg.pinv(basis))[half]


_SMOOTH = _local_fit_weights(FIT_HALF, FIT_DEGREE)


def _fit_residual_kernel() -> np.ndarray:
    kernel = -np.outer(_SMOOTH, _SMOOTH)
    kernel[FIT_HALF, FIT_HALF] += 1.0
    return kernel


_A = _autocorrelation(np.outer(_KERNEL_1D, _KERNEL_1D))  # of the variance fit's residual
_B = _autocorrelation(_fit_residual_kernel())  # of the residual the covariance is measured on


def _design() -> np.ndarray:
    """(len(MEASURED), len(UNKNOWN) + 1): E[n(p) n(p + d)] = sum_e B(d - e) C(e) + leak, C(e) = C(-e)."""
    rows = []
    for dy, dx in MEASURED:
        row = []
        for ey, ex in UNKNOWN:
            weight = _B.get((dy - ey, dx - ex), 0.0)
            if (ey, ex) != (0, 0):
                weight += _B.get((dy + ey, dx + ex), 0.0)
            row.append(weight)
        rows.append(row + [1.0])
    return np.array(rows)


_DESIGN = _design()
# sum_{d != 0} A(d) C(d) over the whole plane, as weights on UNKNOWN (each e stands for +-e).
_CORRECTION_WEIGHTS = np.array([0.0 if e == (0, 0) else 2.0 * _A.get(e, 0.0) for e in UNKNOWN])


def fit_residual(plane: np.ndarray) -> np.ndarray:
    """x less its local polynomial fit (separable, valid mode: FIT_HALF pixels smaller at each border)."""
    x = plane.astype(np.float64, copy=False)
    width = 2 * FIT_HALF + 1
    h, w = x.shape
    rows = sum(_SMOOTH[k] * x[k : h - width + 1 + k] for k in range(width))
    smooth = sum(_SMOOTH[k] * rows[:, k : w - width + 1 + k] for k in range(width))
    return x[FIT_HALF:-FIT_HALF, FIT_HALF:-FIT_HALF] - smooth


def lag_products(
    residual: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(products (n, len(MEASURED)), mask of the n pixels whose lags all lie inside ``residual``).

    For lag d the product is r(p) (r(p + d) + r(p - d)) / 2 (symmetric, as C is).
    """
    h, w = residual.shape
    inside = (ys >= LAGS) & (ys < h - LAGS) & (xs >= LAGS) & (xs < w - LAGS)
    y, x = ys[inside], xs[inside]
    centre = residual[y, x]
    out = np.empty((y.size, len(MEASURED)), dtype=np.float64)
    for j, (dy, dx) in enumerate(MEASURED):
        out[:, j] = centre * (residual[y + dy, x + dx] + residual[y - dy, x - dx]) * 0.5
    return out, inside


def binned_lag_sums(
    planes: np.ndarray,
    plane_index: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    bin_tile: np.ndarray,
    n_cells: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(sums of the lag products, counts) per cell (tile x bin), shapes (n_cells, len(MEASURED)) and (n_cells,).

    ``plane_index``, ``ys``, ``xs``: where each kept pixel lies in its plane; ``bin_tile``: its cell.
    """
    sums = np.zeros((n_cells, len(MEASURED)))
    counts = np.zeros(n_cells)
    for p in np.unique(plane_index):
        mine = plane_index == p
        products, inside = lag_products(fit_residual(planes[p]), ys[mine] - FIT_HALF, xs[mine] - FIT_HALF)
        cells = bin_tile[mine][inside]
        counts += np.bincount(cells, minlength=n_cells)
        for j in range(len(MEASURED)):
            sums[:, j] += np.bincount(cells, products[:, j], minlength=n_cells)
    return sums, counts


def solve_covariances(mean_products: np.ndarray) -> np.ndarray:
    """(n_bins, len(UNKNOWN)) covariances C(e) from the mean lag products (n_bins, len(MEASURED)) per bin."""
    ok = np.all(np.isfinite(mean_products), axis=1)
    out = np.full((mean_products.shape[0], len(UNKNOWN)), np.nan)
    if ok.any():
        solution, *_ = np.linalg.lstsq(_DESIGN, mean_products[ok].T, rcond=None)
        out[ok] = solution[:-1].T
    return out


def correction(covariances: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Per bin, sum_{d != 0} A(d) C(d): what the correlation adds to the variance fit's E[r^2] (negative for
    positive correlation between neighbours), times ``weight`` (see :func:`correction_weight`); 0 where unknown."""
    return weight * np.nan_to_num(covariances @ _CORRECTION_WEIGHTS)


# Signal that leaks into the residuals (curvature, a sample's own fine texture) shows up as a small correlation
# between neighbours even where the noise is white (below 0.03 on simulated white noise over real fluorescence
# images and over sharp blobs). Below WHITE the residual variance is taken as it is; from CORRELATED on the
# correction applies in full, with a linear ramp between (no jump in the estimate as the correlation grows).
WHITE = 0.05


def correction_weight(correlation: float) -> float:
    """How much of the correlation correction applies at a neighbour correlation of ``correlation``."""
    return float(np.clip((correlation - WHITE) / (CORRELATED - WHITE), 0.0, 1.0))


_ZERO = UNKNOWN.index((0, 0))
_LEVEL_BINS = 3  # bins pooled for the correlation reported at a level (the darkest, the median)


def _pooled(covariances: np.ndarray, counts: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Correlation coefficients C(d) / C(0) of the covariances pooled over ``bins`` (weighted by count)."""
    ok = bins[np.all(np.isfinite(covariances[bins]), axis=1) & (counts[bins] > 0)]
    if ok.size == 0:
        return np.zeros(len(UNKNOWN))
    pooled = counts[ok] @ covariances[ok]
    return pooled / pooled[_ZERO] if pooled[_ZERO] > 0 else np.zeros(len(UNKNOWN))


def level_bins(signal: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """The bins pooled for the "dark" level (the darkest ones) and the "median" level (around the median)."""
    filled = np.flatnonzero((counts > 0) & np.isfinite(signal))
    filled = filled[np.argsort(signal[filled])]
    if filled.size == 0:
        return {}
    middle = filled.size // 2
    lo = max(0, middle - _LEVEL_BINS // 2)
    return {"dark": filled[:_LEVEL_BINS], "median": filled[lo : lo + _LEVEL_BINS]}


def dark_correlation(signal: np.ndarray, covariances: np.ndarray, counts: np.ndarray) -> float:
    """The largest |correlation| between direct neighbours over the darkest bins (read noise dominates there)."""
    bins = level_bins(signal, counts)
    if not bins:
        return 0.0
    rho = _pooled(covariances, counts, bins["dark"])
    return max(abs(float(rho[UNKNOWN.index(d)])) for d in ((1, 0), (0, 1)))


def _lines(signal: np.ndarray, covariances: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slope, intercept) per lag of C(d; s): least squares over the bins, weighted by count / C(0)^2 (the
    precision of a bin's covariances), the bins' signals spanning what the line is used for."""
    variance = covariances[:, _ZERO] if covariances.size else np.zeros(0)
    ok = np.isfinite(signal) & np.all(np.isfinite(covariances), axis=1) & (counts > 0) & (variance > 0)
    s, c = signal[ok], covariances[ok]
    w = counts[ok] / variance[ok] ** 2
    if s.size < 2 or np.ptp(s) == 0:
        level = (w @ c) / max(w.sum(), 1e-30) if s.size else np.zeros(len(UNKNOWN))
        return np.zeros(len(UNKNOWN)), np.asarray(level, dtype=np.float64)
    design = np.stack([s, np.ones_like(s)], axis=1)
    slope, intercept = np.linalg.solve(design.T @ (design * w[:, None]), design.T @ (w[:, None] * c))
    return slope, intercept


def correlation_record(signal: np.ndarray, covariances: np.ndarray, counts: np.ndarray, method: str,
                       weight: float = 1.0) -> dict[str, Any]:
    """A JSON-ready description of the noise's covariance between neighbours (stored with the noise model).

    ``signal``, ``covariances``, ``counts``: per signal bin, its mean signal, C(e) for e in UNKNOWN, and pairs.
    The record holds the lines C(d; s) = intercept + slope * s (d = (0, 0) is the pixel variance, in
    ``variance_line``) over the bins' signal range, and the correlation coefficients C(d) / C(0) pooled over
    the darkest bins ("dark") and around the median ("median"); ``weight``: the share of the correction the
    variance fit applied (see :func:`correction_weight`).
    """
    slope, intercept = _lines(signal, covariances, counts)
    finite = signal[np.isfinite(signal) & (counts > 0)]
    along = {}
    for level, bins in level_bins(signal, counts).items():
        rho = _pooled(covariances, counts, bins)
        coeff = {f"{dy},{dx}": float(rho[j]) for j, (dy, dx) in enumerate(UNKNOWN) if (dy, dx) != (0, 0)}
        at = bins[np.isfinite(signal[bins])]
        along[level] = {
            "signal": float(np.average(signal[at], weights=counts[at])) if at.size else float("nan"),
            "x": [coeff[f"0,{k}"] for k in range(1, SUPPORT + 1)],
            "y": [coeff[f"{k},0"] for k in range(1, SUPPORT + 1)],
            "all": coeff,
        }
    others = [j for j, e in enumerate(UNKNOWN) if e != (0, 0)]
    return {
        "method": method,
        "lags": [list(UNKNOWN[j]) for j in others],
        "covariance_intercept": [float(intercept[j]) for j in others],
        "covariance_slope": [float(slope[j]) for j in others],
        "variance_line": [float(slope[_ZERO]), float(intercept[_ZERO])],
        "signal_range": [float(finite.min()), float(finite.max())] if finite.size else None,
        "correction_weight": float(weight),
        "correlation": along,
    }


DECONVOLVED = f"lag products of high-pass residuals in flat areas, deconvolved (support {SUPPORT} px, lags {LAGS} px)"


@dataclass(frozen=True)
class LagSums:
    """Lag-product sums per (tile, bin) cell of the variance fit, for the fit and its block bootstrap."""

    sums: np.ndarray  # (n_tiles, n_bins, len(MEASURED))
    counts: np.ndarray  # (n_tiles, n_bins)

    def covariances(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(covariances (n_bins, len(UNKNOWN)), pairs per bin), tiles weighted by how often a bootstrap drew them."""
        if weights is None:
            sums, counts = self.sums.sum(axis=0), self.counts.sum(axis=0)
        else:
            sums, counts = np.tensordot(weights, self.sums, axes=1), weights @ self.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts[:, None] >= 2, sums / np.maximum(counts, 1)[:, None], np.nan)
        return solve_covariances(mean), counts


def measure_lags(planes: np.ndarray, pairs, keep: np.ndarray, cells: np.ndarray, n_tiles: int, n_bins: int) -> LagSums:
    """The lag products of the kept pairs (``pairs``: LocalPairs; ``cells``: their tile * n_bins + bin)."""
    sums, counts = binned_lag_sums(planes, pairs.plane[keep], pairs.py[keep], pairs.px[keep], cells,
                                   n_tiles * n_bins)
    return LagSums(sums.reshape(n_tiles, n_bins, -1), counts.reshape(n_tiles, n_bins))


def neighbour_correlation(record: dict[str, Any] | None, level: str = "dark") -> tuple[float, float] | None:
    """(vertical, horizontal) lag-1 correlation coefficients of a stored record, or None if there is none."""
    try:
        at = record["correlation"][level]
        return float(at["y"][0]), float(at["x"][0])
    except (KeyError, TypeError, IndexError, ValueError):
        return None


def is_correlated(record: dict[str, Any] | None) -> bool:
    """Whether a stored record shows noise correlated between neighbouring pixels: clearly above CORRELATED,
    by twice the measurement's standard deviation where the record has one."""
    pair = neighbour_correlation(record)
    if pair is None:
        return False
    spread = record.get("dark_correlation_std") or 0.0
    return max(abs(pair[0]), abs(pair[1])) - 2.0 * float(spread) > CORRELATED


def residual_covariance_record(
    residuals: np.ndarray, signal: np.ndarray, scale: float = 1.0, n_bins: int = 10
) -> dict[str, Any]:
    """The record of :func:`correlation_record` measured directly on noise residuals (no deconvolution).

    ``residuals``: (N, Y, X) noise realisations, e.g. a calibration stack's frames less their mean (then
    ``scale`` = N / (N - 1), which undoes the mean's share) or noisy images less a pseudo-clean signal;
    ``signal``: (Y, X) or (N, Y, X), the signal each residual pixel belongs to (``n_bins`` bins of equal counts).
    """
    e = np.asarray(residuals, dtype=np.float64)
    s = np.broadcast_to(np.asarray(signal, dtype=np.float64), e.shape)
    r = SUPPORT
    centre = e[:, r:-r, r:-r]
    level = s[:, r:-r, r:-r].ravel()
    edges = np.unique(np.quantile(level, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, max(edges.size - 2, 0))
    nb = max(edges.size - 1, 1)
    counts = np.bincount(which, minlength=nb).astype(np.float64)
    bin_signal = np.bincount(which, level, minlength=nb) / np.maximum(counts, 1)
    h, w = centre.shape[1:]
    covariances = np.empty((nb, len(UNKNOWN)))
    for j, (dy, dx) in enumerate(UNKNOWN):
        shifted = e[:, r + dy : r + dy + h, r + dx : r + dx + w]
        covariances[:, j] = np.bincount(which, (centre * shifted).ravel(), minlength=nb) / np.maximum(counts, 1)
    return correlation_record(bin_signal, covariances * scale, counts, "covariance of noise residuals, measured directly")


def stack_correlation_record(stack: np.ndarray, max_pixels: int = 4_000_000) -> dict[str, Any]:
    """The noise's spatial covariance measured on a calibration stack (frames less their mean; evenly
    spaced frames holding about ``max_pixels`` pixels are measured)."""
    n = stack.shape[0]
    mean = np.mean(stack, axis=0, dtype=np.float64)
    n_pick = int(min(n, max(2, max_pixels // max(mean.size, 1))))
    pick = np.asarray(stack[np.linspace(0, n - 1, n_pick).round().astype(int)], dtype=np.float64)
    return residual_covariance_record(pick - mean, mean, scale=n / (n - 1.0))


def record_of(noise_model: Any) -> dict[str, Any] | None:
    """The spatial-correlation record stored with a noise model (its provenance, or that of the model it
    was bootstrapped from), or None."""
    provenance = getattr(noise_model, "provenance", None) or {}
    while isinstance(provenance, dict):
        if isinstance(provenance.get("spatial_correlation"), dict):
            return provenance["spatial_correlation"]
        provenance = provenance.get("previous_noise_model")
    return None
