"""Local (mean, noise residual) pairs from ordinary noisy images, for estimating the noise from one image.

After Foi et al. (2008), "Practical Poissonian-Gaussian noise modeling and fitting for single-image
raw-data": at every pixel a low-pass estimate of the signal (the local mean) is paired with a
high-pass residual that holds (almost) only noise. The residual is the separable second difference
[1, -2, 1] / sqrt(6) along both axes: its squared weights sum to 1, so for white noise its variance
equals the pixel variance exactly, and it removes every signal of the form a(y) + b(y) x + c(x) + d(x) y
(flat areas, ramps and edges along the axes). Where the signal curves faster (corners, spots) the
residual carries signal too; such pixels are recognised by their local residual energy and dropped
before the fit (``select_flat``).

Only numpy (valid-mode filters, no padding): every map is cropped to the pixels whose whole window
lies in the image, ``MARGIN`` pixels from each border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MEAN_HALF = 3  # the local mean is a 7 x 7 box (without its centre, see ring_mean)
ENERGY_HALF = 3  # the local residual energy: 7 x 7 box of squared residuals (residuals reach 1 pixel further)
MARGIN = ENERGY_HALF + 1  # pixels lost at each border (also what the leak estimate needs: 1 + LEAK_LAG)
RING_PIXELS = (2 * MEAN_HALF + 1) ** 2 - 9  # pixels averaged by ring_mean
LEAK_LAG = 3  # residuals this far apart share no pixel (the residual's support is 3 x 3)
TILE = 32  # pixels per side of the blocks resampled by the bootstrap (residuals are correlated only locally)


def box_mean(a: np.ndarray, half: int) -> np.ndarray:
    """Mean over (2 half + 1)^2 windows, valid mode: the result is 2 half smaller along both axes."""
    width = 2 * half + 1
    c = np.cumsum(a, axis=0, dtype=np.float64)
    c = np.concatenate([np.zeros((1, a.shape[1])), c], axis=0)
    rows = c[width:] - c[:-width]
    c = np.cumsum(rows, axis=1)
    c = np.concatenate([np.zeros((rows.shape[0], 1)), c], axis=1)
    return (c[:, width:] - c[:, :-width]) / (width * width)


def second_difference_residual(x: np.ndarray) -> np.ndarray:
    """[1, -2, 1] / sqrt(6) along both axes (unit L2 norm): the residual, 1 pixel smaller at each border."""
    dx = x[:, :-2] - 2.0 * x[:, 1:-1] + x[:, 2:]
    return (dx[:-2] - 2.0 * dx[1:-1] + dx[2:]) / 6.0


def ring_mean(x: np.ndarray) -> np.ndarray:
    """Mean over the 7 x 7 box without its central 3 x 3 (the residual's support), valid mode.

    Its noise is independent of the residual and of the weighted mean at the centre, so grouping pixels
    by it does not bias the variance or the signal measured in a group (grouping by a mean that shares
    pixels with them would: the darkest group would collect the pixels whose noise happened to be low).
    """
    big, small = 2 * MEAN_HALF + 1, 3
    outer = box_mean(x, MEAN_HALF) * big * big
    inner = _crop(box_mean(x, 1), MEAN_HALF - 1) * small * small
    return (outer - inner) / (big * big - small * small)


def residual_weighted_mean(x: np.ndarray) -> np.ndarray:
    """The mean with the residual's squared weights ([1, 4, 1] / 6 along both axes), 1 pixel smaller per border.

    The residual's variance is exactly the variance at this weighted signal (sum of k_i^2 var(x_i)), so the
    variance line is fitted against it; the 7 x 7 box mean, less noisy, only groups pixels into bins.
    """
    wx = (x[:, :-2] + 4.0 * x[:, 1:-1] + x[:, 2:]) / 6.0
    return (wx[:-2] + 4.0 * wx[1:-1] + wx[2:]) / 6.0


def leak_estimate(residual: np.ndarray) -> np.ndarray:
    """Products of each residual with its 4 neighbours LEAK_LAG pixels away (mean), valid mode.

    Residuals that far apart share no pixel, so their noise is independent and the products average to
    zero; signal that leaks into the residual (curvature of small bright objects) varies slowly and
    shows up as leak^2 in both r^2 and these products. Subtracting them removes the leak from r^2.
    """
    k = LEAK_LAG
    centre = residual[k:-k, k:-k]
    around = residual[:-2 * k, k:-k] + residual[2 * k :, k:-k] + residual[k:-k, :-2 * k] + residual[k:-k, 2 * k :]
    return centre * around / 4.0


def _crop(a: np.ndarray, border: int) -> np.ndarray:
    return a[border : a.shape[0] - border, border : a.shape[1] - border] if border else a


def clipped_levels(images: np.ndarray) -> tuple[float | None, float | None]:
    """The lowest and highest value if they look like clipping (many pixels exactly there), else None.

    A sensor or a conversion that saturates piles pixels up at one value; continuous data has each
    value about once, and whole-number data without clipping a few times at its extremes.
    """
    flat = images.ravel()
    threshold = max(10, int(1e-4 * flat.size))
    low, high = float(flat.min()), float(flat.max())
    low_clipped = low if np.count_nonzero(flat == low) > threshold else None
    high_clipped = high if np.count_nonzero(flat == high) > threshold else None
    return low_clipped, high_clipped


@dataclass(frozen=True)
class LocalPairs:
    """Flat arrays over the interior pixels of all planes."""

    mean: np.ndarray  # local 7 x 7 ring mean (low-noise signal estimate: groups pixels into signal bins)
    signal: np.ndarray  # the residual-weighted local mean (the signal at which the residual's variance applies)
    residual: np.ndarray  # high-pass residual (noise estimate, unit-norm filter)
    power: np.ndarray  # residual^2 less the signal leaking into it (see leak_estimate): E = noise variance
    energy: np.ndarray  # local mean of residual^2 (large where the signal leaks into the residual)
    tile: np.ndarray  # index of the TILE x TILE block (over all planes), for the block bootstrap
    n_tiles: int
    plane: np.ndarray  # which plane each pair comes from, and where it lies in that plane (row, column)
    py: np.ndarray
    px: np.ndarray


def plane_pairs(
    plane: np.ndarray,
    clipped: tuple[float | None, float | None],
    first_tile: int,
    tile_fraction: float = 1.0,
    rng: np.random.Generator | None = None,
    plane_index: int = 0,
):
    """(LocalPairs fields for one plane without its clipped neighbourhoods, number of tiles).

    With ``tile_fraction`` < 1 only that fraction of the tiles, drawn with ``rng``, is kept (large data).
    """
    x = plane.astype(np.float64, copy=False)
    mean = _crop(ring_mean(x), MARGIN - MEAN_HALF)
    residual = second_difference_residual(x)
    energy = box_mean(residual * residual, ENERGY_HALF)
    power = _crop(_crop(residual, LEAK_LAG) ** 2 - leak_estimate(residual), MARGIN - 1 - LEAK_LAG)
    residual = _crop(residual, MARGIN - 1)
    signal = _crop(residual_weighted_mean(x), MARGIN - 1)
    bad = np.zeros(x.shape, dtype=np.float64)
    low, high = clipped
    if low is not None:
        bad += x <= low
    if high is not None:
        bad += x >= high
    # Any clipped pixel in the 9 x 9 window spoils both the mean and the residual there.
    usable = box_mean(bad, MARGIN) == 0 if (low is not None or high is not None) else np.ones(mean.shape, bool)
    ny, nx = mean.shape
    tiles_x = -(-nx // TILE)
    tile = first_tile + (np.arange(ny)[:, None] // TILE) * tiles_x + np.arange(nx)[None, :] // TILE
    n_tiles = (-(-ny // TILE)) * tiles_x
    if tile_fraction < 1.0:
        usable &= (rng.random(n_tiles) < tile_fraction)[tile - first_tile]
    ry, rx = np.nonzero(usable)
    fields = (mean[usable], signal[usable], residual[usable], power[usable], energy[usable], tile[usable])
    where = (np.full(ry.size, plane_index, np.int32), (ry + MARGIN).astype(np.int32),
             (rx + MARGIN).astype(np.int32))
    return fields + where, n_tiles


def concatenate_pairs(parts: list[tuple], n_tiles: int) -> LocalPairs:
    """One :class:`LocalPairs` from the per-plane fields of :func:`plane_pairs`."""
    mean, signal, residual, power, energy, tile, plane, py, px = (np.concatenate(column) for column in zip(*parts))
    return LocalPairs(mean, signal, residual, power, energy, tile.astype(np.int64), n_tiles, plane, py, px)


def direction_ratio(planes: np.ndarray, max_planes: int = 4) -> float:
    """median(r_x^2) / median(r_y^2) of the second differences along x and along y (unit norm each).

    For noise independent between pixels both see the same variance (ratio 1; medians are robust to
    edges). Noise correlated along rows or columns (line artefacts of scanning or readout) is partly
    smooth in that direction, so the difference along it sees less: the ratio departs from 1, and
    high-pass residuals underestimate that noise.
    """
    along_x, along_y = [], []
    for plane in planes[:max_planes]:
        x = plane.astype(np.float64, copy=False)
        along_x.append(((x[:, :-2] - 2.0 * x[:, 1:-1] + x[:, 2:]) ** 2)[1:-1, :].ravel())
        along_y.append(((x[:-2] - 2.0 * x[1:-1] + x[2:]) ** 2)[:, 1:-1].ravel())
    return float(np.median(np.concatenate(along_x)) / max(np.median(np.concatenate(along_y)), 1e-30))
