"""Robust fit of the noise variance line var = slope * signal + intercept to local (mean, residual) pairs.

1. ``select_flat``: a first line through the per-bin medians of the local residual energy (Theil-Sen,
   robust to bins crowded with edges) predicts the energy of pure noise; pixels whose energy exceeds
   it by more than 6 times the spread pure noise shows (estimated from the data itself, robustly)
   carry signal in their residual and are dropped, as are single residuals beyond 10 sigma (hot pixels).
2. ``binned_sums``: the kept pairs fall into signal bins of equal counts; per bootstrap tile and bin
   the sums of 1, signal, residual and leak-corrected residual^2 are kept, so that every refit is a
   small matrix product.
3. ``fit_line``: weighted least squares of the bin variances, weights n / (2 var^2) (the variance of a
   sample variance), iterated; bins that disagree with the line (leftover structure) are dropped.
4. ``bootstrap_lines``: the fit repeated on tiles drawn with replacement (block bootstrap: residuals
   are correlated between neighbours, so pairs are not independent but tiles nearly are).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .local_statistics import LocalPairs
from .poisson_gaussian import theil_sen

_OUTLIER_SIGMAS = 10.0  # single residuals beyond this are hot pixels or specks, not noise
_SPREADS = 6.0  # pure noise rarely has a local energy this many (robust) spreads above its median


def quantile_bins(values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin index of each value, edges) for ``n_bins`` bins holding equal numbers of values."""
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, max(edges.size - 2, 0))
    return which, edges


def _bin_medians(which: np.ndarray, values: np.ndarray, n_bins: int) -> np.ndarray:
    order = np.lexsort((values, which))
    starts = np.searchsorted(which[order], np.arange(n_bins + 1))
    return np.array([np.median(values[order[a:b]]) if b > a else np.nan for a, b in zip(starts[:-1], starts[1:])])


def select_flat(pairs: LocalPairs, n_bins: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Boolean mask of the pairs to fit, and the first (slope, intercept) of the energy line."""
    which, edges = quantile_bins(pairs.mean, n_bins)
    nb = edges.size - 1
    counts = np.bincount(which, minlength=nb)
    centres = np.bincount(which, pairs.mean, minlength=nb) / np.maximum(counts, 1)
    medians = _bin_medians(which, pairs.energy, nb)
    ok = (counts > 0) & np.isfinite(medians)
    slope, intercept = theil_sen(centres[ok], medians[ok]) if ok.sum() >= 2 else (0.0, float(np.nanmedian(medians)))
    predicted = np.maximum(slope * pairs.mean + intercept, 1e-12 * max(float(np.nanmax(medians)), 1e-30))
    ratio = pairs.energy / predicted
    centre = np.median(ratio)
    spread = 1.4826 * np.median(np.abs(ratio - centre))
    keep = ratio <= centre + _SPREADS * spread
    keep &= pairs.residual**2 <= _OUTLIER_SIGMAS**2 * predicted / max(centre, 1e-12)
    return keep, (slope, intercept)


@dataclass(frozen=True)
class BinnedSums:
    """Per (tile, bin) sums over the kept pairs: shape (n_tiles, n_bins) each."""

    count: np.ndarray
    signal: np.ndarray
    residual: np.ndarray
    residual2: np.ndarray  # sum of the leak-corrected squared residuals (LocalPairs.power)
    cell: np.ndarray | None = None  # per kept pair: its (filled tile, bin) cell, tile * n_bins + bin

    def total(self, weights: np.ndarray | None = None) -> BinnedSums:
        """Sums over the tiles (weighted: how often each tile was drawn), shape (1, n_bins)."""
        if weights is None:
            return BinnedSums(*(a.sum(axis=0, keepdims=True) for a in self._arrays()))
        return BinnedSums(*((weights @ a)[None] for a in self._arrays()))

    def _arrays(self):
        return (self.count, self.signal, self.residual, self.residual2)

    def bin_statistics(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean signal, residual variance, count) per bin of the summed statistics (bins with < 2 pairs: NaN)."""
        n, m, r, r2 = (a.sum(axis=0) for a in self._arrays())
        safe = np.maximum(n, 2.0)
        variance = np.where(n >= 2, (r2 - r * r / safe) / (safe - 1.0), np.nan)
        return np.where(n > 0, m / np.maximum(n, 1.0), np.nan), variance, n


def binned_sums(pairs: LocalPairs, keep: np.ndarray, n_bins: int) -> BinnedSums:
    """Sums per (tile, bin): bins by the box mean, signal coordinate the residual-weighted mean."""
    mean, signal, residual, tile = pairs.mean[keep], pairs.signal[keep], pairs.residual[keep], pairs.tile[keep]
    power = pairs.power[keep]
    n_tiles = pairs.n_tiles
    which, edges = quantile_bins(mean, n_bins)
    nb = edges.size - 1
    index = tile * nb + which
    size = n_tiles * nb

    def sums(weights):
        return np.bincount(index, weights, minlength=size).reshape(n_tiles, nb).astype(np.float64)

    count = sums(None)
    filled = count.sum(axis=1) > 0  # tiles left empty (clipped, not drawn) would only dilute the bootstrap
    return BinnedSums(count[filled], sums(signal)[filled], sums(residual)[filled], sums(power)[filled],
                      cell=np.cumsum(filled)[tile] * nb - nb + which)


def cell_bins(sums: BinnedSums) -> int:
    """The number of signal bins of ``sums`` (cells are tile * bins + bin over the filled tiles)."""
    return sums.count.shape[1]


def _weighted_line(s: np.ndarray, v: np.ndarray, n: np.ndarray, start: tuple[float, float]) -> tuple[float, float]:
    slope, intercept = start
    for _ in range(4):
        predicted = np.maximum(slope * s + intercept, 1e-12 * np.max(v))
        w = n / predicted**2
        design = np.stack([s, np.ones_like(s)], axis=1)
        lhs = design.T @ (design * w[:, None])
        rhs = design.T @ (w * v)
        slope, intercept = (float(c) for c in np.linalg.solve(lhs, rhs))
    return slope, intercept


def fit_line(sums: BinnedSums, correction: np.ndarray | None = None) -> tuple[float, float, np.ndarray]:
    """(slope, intercept, mask of the bins used) of the variance-vs-signal line.

    ``correction``: per bin, what the noise's correlation between pixels adds to the residual variance
    (see ``correlation``); subtracted, so that the line describes the pixel variance.
    """
    s, v, n = sums.bin_statistics()
    if correction is not None:
        v = v - correction
    used = np.isfinite(v) & (n >= 2)
    line = _weighted_line(s[used], v[used], n[used], theil_sen(s[used], v[used]))
    for _ in range(2):  # drop bins far off the line (structure left in their residuals), refit
        predicted = np.maximum(line[0] * s + line[1], 1e-12)
        relative = np.where(used, v / predicted - 1.0, 0.0)
        scale = 1.4826 * np.median(np.abs(relative[used] - np.median(relative[used])))
        keep = used & (np.abs(relative) <= max(4.0 * scale, 0.05))
        if keep.sum() < 3 or keep.sum() == used.sum():
            break
        used = keep
        line = _weighted_line(s[used], v[used], n[used], line)
    return line[0], line[1], used


def bootstrap_lines(sums: BinnedSums, used: np.ndarray, n_boot: int, seed: int, correction_of=None) -> np.ndarray:
    """(n_boot, 2) slopes and intercepts refitted on tiles drawn with replacement (the same bins).

    ``correction_of(weights)``: the per-bin correlation correction (see :func:`fit_line`) of the same draw.
    """
    rng = np.random.default_rng(seed)
    n_tiles = sums.count.shape[0]
    lines = np.empty((n_boot, 2))
    for k in range(n_boot):
        weights = rng.multinomial(n_tiles, np.full(n_tiles, 1.0 / n_tiles)).astype(np.float64)
        s, v, n = sums.total(weights).bin_statistics()
        if correction_of is not None:
            v = v - correction_of(weights)
        ok = used & np.isfinite(v) & (n >= 2)
        try:
            lines[k] = _weighted_line(s[ok], v[ok], n[ok], theil_sen(s[ok], v[ok]))
        except (np.linalg.LinAlgError, IndexError):  # a draw without enough distinct bins
            lines[k] = np.nan
    return lines
