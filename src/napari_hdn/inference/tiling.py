"""Overlapping tiles and their smooth blending, so that images of any size are restored
with memory bounded by the tile size and without seams.

Along each axis the tiles are spread evenly from one border to the other; two
neighbours share at least ``overlap`` pixels. In a shared strip the outer quarter
on each side is context only (weight 0: the network sees it but its border
effects are not used), and across the middle half the weights cross-fade with a
squared sine, so that the weights of two neighbours sum to exactly 1 there.

:class:`TileBlender` accumulates per-tile results:

* averaged quantities (posterior mean, variance, median, activations) are
  blended as ``sum(w * v) / sum(w)``;
* posterior samples are blended as deviations from the blended mean, scaled by
  ``1 / sqrt(sum(w**2))``. Two tiles draw independent samples, and a plain
  weighted average of two independent draws would have a lower variance in the
  overlap (a visible band in every sample); this scaling keeps the variance of a
  blended sample equal to that of the tiles' samples, and the mean of the blended
  samples equal to the blended mean.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..foundation.errors import InputError


def axis_tiles(size: int, tile: int, overlap: int, stride: int) -> list[tuple[int, int]]:
    """(start, length) of the tiles covering ``size`` pixels along one axis.

    Tiles start at multiples of ``stride``: the network downsamples by ``stride``,
    and a tile on another phase of that grid would see a differently sampled
    image and give a (slightly) different result than the whole image. Starts are
    spread evenly, neighbours share at least ``overlap`` pixels, and the last tile
    ends at the border (it may be shorter, and is then padded like the whole image).
    """
    if size <= tile:
        return [(0, size)]
    max_step = (tile - overlap) // stride  # in units of the stride
    if max_step < 1 or overlap < 0:
        raise InputError(
            f"The tile overlap ({overlap}) must be at least 0 and at most the tile size ({tile}) "
            f"minus the model's stride ({stride})."
        )
    last = -(-(size - tile) // stride)  # first start (in strides) whose tile reaches the end
    n_steps = -(-last // max_step)
    starts = [stride * ((2 * k * last + n_steps) // (2 * n_steps)) for k in range(n_steps + 1)]
    return [(start, min(tile, size - start)) for start in starts]


def _ramp(n_shared: int, length: int) -> np.ndarray:
    """Weights rising over a strip of ``n_shared`` pixels shared with the previous tile."""
    t = np.arange(length, dtype=np.float64)
    if n_shared <= 0:
        return np.ones(length)
    context = n_shared / 4.0  # outer quarter of the shared strip: context only
    fade = n_shared - 2.0 * context
    u = np.clip((t + 0.5 - context) / fade, 0.0, 1.0)
    return np.sin(0.5 * np.pi * u) ** 2


def axis_weights(tiles: list[tuple[int, int]]) -> list[np.ndarray]:
    """One 1-D window per tile: 1 inside, cross-fading where it overlaps a neighbour."""
    windows = []
    for k, (start, length) in enumerate(tiles):
        w = np.ones(length, dtype=np.float64)
        if k > 0:
            previous_start, previous_length = tiles[k - 1]
            w *= _ramp(previous_start + previous_length - start, length)
        if k < len(tiles) - 1:
            w *= _ramp(start + length - tiles[k + 1][0], length)[::-1]
        windows.append(w)
    return windows


@dataclass(frozen=True)
class Tile:
    """One tile: its position in the plane, its size and its blending weights."""

    y: int
    x: int
    height: int
    width: int
    weight: np.ndarray  # (height, width), float32

    @property
    def region(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


class TileGrid:
    """The tiles of an (H, W) plane for a given tile size, overlap and network stride."""

    def __init__(self, shape: tuple[int, int], tile: int, overlap: int, stride: int):
        self.shape = (int(shape[0]), int(shape[1]))
        self._tiles = [axis_tiles(n, tile, overlap, stride) for n in self.shape]
        self._weights = [axis_weights(t) for t in self._tiles]

    def __len__(self) -> int:
        return len(self._tiles[0]) * len(self._tiles[1])

    def __iter__(self) -> Iterator[Tile]:
        for (y, h), wy in zip(self._tiles[0], self._weights[0]):
            for (x, w), wx in zip(self._tiles[1], self._weights[1]):
                yield Tile(y, x, h, w, np.outer(wy, wx).astype(np.float32))


class TileBlender:
    """Accumulates per-tile results of one plane into output arrays, then normalises them.

    ``averaged`` is a (C, H, W) output array for quantities blended by weighted
    average, ``samples`` an optional (K, H, W) output array for posterior samples,
    blended as deviations from channel ``mean_channel`` of ``averaged`` (see the
    module docstring). The outputs are filled in place: :meth:`finish` leaves the
    results in them (NaN where no tile contributed, e.g. after a stop request).
    """

    def __init__(self, averaged: np.ndarray, samples: np.ndarray | None = None, mean_channel: int = 0):
        self.averaged = averaged
        self.samples = samples
        self.mean_channel = mean_channel
        self.averaged[...] = 0.0
        self.weight_sum = np.zeros(averaged.shape[-2:], dtype=np.float32)
        if samples is not None:
            self.samples[...] = 0.0
            self.weight_sq_sum = np.zeros(averaged.shape[-2:], dtype=np.float32)

    def add(self, tile: Tile, averaged: np.ndarray, deviations: np.ndarray | None = None) -> None:
        """Add one tile's (C, h, w) averaged values and (K, h, w) sample deviations from its mean."""
        region = (Ellipsis, *tile.region)
        w = tile.weight
        self.averaged[region] += w * averaged
        self.weight_sum[tile.region] += w
        if self.samples is not None and deviations is not None:
            self.samples[region] += w * deviations
            self.weight_sq_sum[tile.region] += w * w

    def finish(self) -> None:
        covered = self.weight_sum > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            self.averaged /= self.weight_sum
            self.averaged[:, ~covered] = np.nan
            if self.samples is not None:
                self.samples /= np.sqrt(self.weight_sq_sum)
                self.samples += self.averaged[self.mean_channel]
                self.samples[:, ~covered] = np.nan


@dataclass(frozen=True)
class Tiling:
    tile: int
    overlap: int
    stride: int  # the network's: tiles and dask blocks start at multiples of it

    def grid(self, shape: tuple[int, int]) -> TileGrid:
        return TileGrid(shape, self.tile, self.overlap, self.stride)
