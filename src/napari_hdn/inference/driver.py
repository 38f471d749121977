"""Runs a per-tile job over images of any size: stacks plane by plane, large planes in
overlapping tiles, dask arrays block by block (lazily, also on a distributed cluster).

A job computes, for one tile, C "averaged" channels (blended by weighted average)
and K sample channels (blended as variance-preserving deviations, see
:mod:`.tiling`). Outputs are float32 arrays of shape (C, *image.shape) and
(K, *image.shape).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..foundation.progress import Progress, StopToken, Timer
from ..foundation.threads import configure_threads
from .engine import N_STATISTICS, SamplingSettings, TileEngine, tile_seed
from .tiling import Tile, TileBlender, TileGrid, Tiling

TileResult = tuple[np.ndarray, "np.ndarray | None"]


class TileJob(Protocol):
    n_averaged: int
    n_deviations: int

    def run(self, tile: np.ndarray, seed: int, stop: StopToken | None) -> Generator[float, None, TileResult | None]:
        """Compute one tile, yielding the fraction done; None if stopped."""


class BatchedTileJob(TileJob, Protocol):
    """A deterministic job that can also compute several tiles of one size in one call."""

    batch: int  # tiles per call

    def run_batch(self, tiles: list[np.ndarray]) -> list[np.ndarray]:
        """The (C, h, w) averaged values of each tile (no deviations)."""


class SamplingJob:
    """Posterior samples of a tile: mean, variance and median, plus K sample deviations."""

    def __init__(self, engine: TileEngine, settings: SamplingSettings):
        self.engine = engine
        self.settings = settings
        self.n_averaged = N_STATISTICS
        self.n_deviations = settings.n_kept

    def run(self, tile, seed, stop):
        return self.engine.sample_tile(tile, self.settings, seed, stop)


class ActivationsJob:
    """Per-layer contributions and KL maps of a tile (deterministic)."""

    def __init__(self, engine: TileEngine):
        self.engine = engine
        self.n_averaged = 2 * engine.n_layers
        self.n_deviations = 0
        self.always_off = tuple(engine.model.deactivated_layers(()))

    def run(self, tile, seed, stop):
        result = self.engine.activations_tile(tile, self.always_off)
        yield 1.0
        return result, None


@dataclass(frozen=True)
class PlaneProgress(Progress):
    """Progress of a restoration: ``done`` counts tiles over all planes; ``plane`` is 1-based."""

    plane: int = 0
    n_planes: int = 0


def _plane_events(
    job: TileJob,
    plane: np.ndarray,
    tiling: Tiling,
    seed_at: Callable[[int, int], int],
    averaged: np.ndarray,
    deviations: np.ndarray | None,
    stop: StopToken | None,
) -> Generator[float, None, bool]:
    """Fill the (C, H, W) / (K, H, W) outputs of one plane; yields tiles done; returns False if stopped."""
    grid = tiling.grid(plane.shape)
    if getattr(job, "batch", 1) > 1:
        return (yield from _batched_plane_events(job, plane, grid, averaged, stop))
    blender = TileBlender(averaged, deviations)
    complete = True
    for index, tile in enumerate(grid):
        if stop:
            complete = False
            break
        values = np.asarray(plane[tile.region], dtype=np.float32)
        tile_events = job.run(values, seed_at(tile.y, tile.x), stop)
        while True:
            try:
                fraction = next(tile_events)
            except StopIteration as finished:
                result = finished.value
                break
            yield index + fraction
        if result is None:
            complete = False
            break
        blender.add(tile, *result)
    blender.finish()
    return complete


def _tile_batches(grid: TileGrid, batch: int) -> Iterator[list[Tile]]:
    """Consecutive tiles of the same size, at most ``batch`` at a time (one network call each)."""
    group: list[Tile] = []
    for tile in grid:
        if group and (len(group) == batch or (tile.height, tile.width) != (group[0].height, group[0].width)):
            yield group
            group = []
        group.append(tile)
    if group:
        yield group


def _batched_plane_events(
    job: BatchedTileJob, plane: np.ndarray, grid: TileGrid, averaged: np.ndarray, stop: StopToken | None
) -> Generator[float, None, bool]:
    """:func:`_plane_events` for a deterministic job that computes several tiles in one call (GPUs)."""
    blender = TileBlender(averaged)
    done, complete = 0, True
    for group in _tile_batches(grid, job.batch):
        if stop:
            complete = False
            break
        results = job.run_batch([np.asarray(plane[t.region], dtype=np.float32) for t in group])
        for tile, result in zip(group, results):
            blender.add(tile, result)
        done += len(group)
        yield done
    blender.finish()
    return complete


def numpy_events(
    job: TileJob,
    image: np.ndarray,
    tiling: Tiling,
    seed: int,
    stop: StopToken | None,
    stage: str,
) -> Generator[PlaneProgress, None, tuple[np.ndarray, np.ndarray | None, bool]]:
    """Run ``job`` over a numpy image (..., H, W), plane by plane; returns (averaged, deviations, complete)."""
    height, width = image.shape[-2:]
    planes = image.reshape(-1, height, width)
    n_planes = planes.shape[0]
    averaged = np.full((job.n_averaged, n_planes, height, width), np.nan, dtype=np.float32)
    deviations = None
    if job.n_deviations:
        deviations = np.full((job.n_deviations, n_planes, height, width), np.nan, dtype=np.float32)
    tiles_per_plane = len(tiling.grid((height, width)))
    total = n_planes * tiles_per_plane
    timer = Timer()
    complete = True
    yield PlaneProgress(stage, 0, total, "starting", plane=1, n_planes=n_planes)
    for p in range(n_planes):
        plane_events = _plane_events(
            job,
            planes[p],
            tiling,
            lambda y, x, p=p: tile_seed(seed, p, y, x),
            averaged[:, p],
            None if deviations is None else deviations[:, p],
            stop,
        )
        while True:
            try:
                tiles_done = next(plane_events)
            except StopIteration as finished:
                complete = finished.value
                break
            done = p * tiles_per_plane + tiles_done
            where = f"plane {p + 1}/{n_planes}, " if n_planes > 1 else ""
            yield PlaneProgress(
                stage,
                done,
                total,
                f"{where}tile {min(int(tiles_done) + 1, tiles_per_plane)}/{tiles_per_plane}",
                timer.elapsed,
                timer.eta(done, total),
                plane=p + 1,
                n_planes=n_planes,
            )
        if not complete:
            break
    shape = image.shape
    averaged = averaged.reshape(job.n_averaged, *shape)
    if deviations is not None:
        deviations = deviations.reshape(job.n_deviations, *shape)
    return averaged, deviations, complete


# -- dask -------------------------------------------------------------------------------------------------
def sampling_job(model: Any, device: Any, bf16: bool, settings: SamplingSettings) -> SamplingJob:
    """A :class:`JobSpec` job maker: posterior samples of each tile."""
    return SamplingJob(TileEngine(model, device, bf16), settings)


def activations_job(model: Any, device: Any, bf16: bool, settings: None) -> ActivationsJob:
    """A :class:`JobSpec` job maker: per-layer contributions of each tile."""
    return ActivationsJob(TileEngine(model, device, bf16))


@dataclass(frozen=True)
class JobSpec:
    """Everything a dask worker needs to rebuild a job: small and picklable.

    ``model`` is the path of a model bundle (loaded once per worker process) or,
    when the user passed a model object, the object itself (dask ships it).
    ``make_job(model, torch_device, bf16, settings)`` builds the job in the worker: a module-level
    function (:func:`sampling_job`, :func:`activations_job`, the one-pass denoiser's ``direct_job``),
    so that it pickles by name.
    """

    model: Any
    device: str
    bf16: bool
    make_job: Callable[[Any, Any, bool, Any], TileJob]
    settings: Any
    threads: int | None

    def build(self) -> TileJob:
        model = self.model
        if isinstance(model, (str, os.PathLike)):
            model = _load_cached(str(Path(model).resolve()), self.device)
        import torch

        return self.make_job(model, torch.device(self.device), self.bf16, self.settings)


def dask_model(model_arg: Any, model: Any) -> Any:
    """What a :class:`JobSpec` carries: a path as a path (each worker loads the bundle once), else the model."""
    return str(model_arg) if isinstance(model_arg, (str, os.PathLike)) else model


@lru_cache(maxsize=4)
def _load_cached(path: str, device: str) -> Any:
    from ..model.bundle import load_model

    return load_model(path, device=device)


def _block(
    block: np.ndarray,
    spec: JobSpec,
    tiling: Tiling,
    seed: int,
    depth: tuple[int, int],
    lead_shape: tuple[int, ...],
    block_info: dict,
) -> np.ndarray:
    """One dask block, extended by up to ``depth`` pixels of its neighbours in Y and X -> (C + K, *block)."""
    # dask already runs one block per worker thread: one torch thread each unless the user asked for more,
    # else cores x cores threads fight over the cores.
    configure_threads(spec.threads or 1)
    job = spec.build()
    info = block_info[None]
    location = info["array-location"][1:]  # the output's first axis is the channel axis
    block_index = info["chunk-location"][1:]
    # Blocks at the image's border have no neighbour (and no overlap) on that side.
    before = [d if block_index[a] > 0 else 0 for a, d in zip((-2, -1), depth)]
    (y0, y1), (x0, x1) = location[-2:]
    height, width = y1 - y0, x1 - x0
    lead_start = [start for start, _ in location[:-2]]
    lead_block = block.shape[:-2]
    planes = block.reshape(-1, *block.shape[-2:])
    out = np.empty((job.n_averaged + job.n_deviations, planes.shape[0], height, width), dtype=np.float32)
    crop = (slice(None), slice(before[0], before[0] + height), slice(before[1], before[1] + width))
    for p, plane in enumerate(planes):
        local = np.unravel_index(p, lead_block) if lead_block else ()
        global_index = tuple(s + i for s, i in zip(lead_start, local))
        plane_index = int(np.ravel_multi_index(global_index, lead_shape)) if lead_shape else 0
        averaged = np.empty((job.n_averaged, *plane.shape), dtype=np.float32)
        deviations = np.empty((job.n_deviations, *plane.shape), dtype=np.float32) if job.n_deviations else None
        # Tiles are seeded by their position in the whole image, as in the numpy path.
        oy, ox = y0 - before[0], x0 - before[1]
        seed_at = lambda y, x, q=plane_index: tile_seed(seed, q, oy + y, ox + x)  # noqa: E731
        for _ in _plane_events(job, plane, tiling, seed_at, averaged, deviations, None):
            pass
        out[: job.n_averaged, p] = averaged[crop]
        if deviations is not None:
            out[job.n_averaged :, p] = deviations[crop]
    return out.reshape(out.shape[0], *lead_block, height, width)


def aligned_chunks(chunks: tuple[int, ...], stride: int, minimum: int) -> tuple[int, ...]:
    """Chunks whose boundaries are multiples of ``stride`` and that are at least ``minimum`` long.

    Boundaries are moved to the nearest multiple of the stride (so that every block
    sees the network's downsampling grid as the whole image does); chunks shorter
    than ``minimum`` are merged into their neighbour.
    """
    size = sum(chunks)
    bounds = sorted({min(stride * round(b / stride), size) for b in np.cumsum(chunks)[:-1]} - {0, size})
    edges = [0]
    for b in bounds:
        if b - edges[-1] >= minimum and size - b >= minimum:
            edges.append(b)
    edges.append(size)
    return tuple(int(b - a) for a, b in zip(edges[:-1], edges[1:]))


def dask_map(spec: JobSpec, n_channels: int, image: Any, tiling: Tiling, seed: int) -> Any:
    """Lazy (n_channels, *image.shape) float32 dask array of the job of ``spec`` over a dask image."""
    import dask
    import dask.array as da

    ndim = image.ndim
    stride = tiling.stride
    # Context each block gets from its neighbours: the tile overlap, in whole strides.
    depth = -(-max(tiling.overlap, stride) // stride) * stride
    image = image.rechunk({a: aligned_chunks(image.chunks[a], stride, depth) for a in (ndim - 2, ndim - 1)})
    depths = {a: (depth if a >= ndim - 2 and len(image.chunks[a]) > 1 else 0) for a in range(ndim)}
    overlapped = da.overlap.overlap(image, depth=depths, boundary="none")
    model = spec.model
    if not isinstance(model, (str, os.PathLike)):
        # One graph node for a model object: shipped once per worker, not once per block.
        model = dask.delayed(model, pure=True)
    return da.map_blocks(
        _dask_block,
        overlapped,
        model,
        spec.device,
        spec.bf16,
        spec.make_job,
        spec.settings,
        spec.threads,
        tiling,
        seed,
        (depths[ndim - 2], depths[ndim - 1]),
        tuple(image.shape[:-2]),
        new_axis=0,
        chunks=((n_channels,), *image.chunks),
        dtype=np.float32,
        meta=np.empty((0,) * (ndim + 1), dtype=np.float32),
    )


def _dask_block(block, model, device, bf16, make_job, settings, threads, tiling, seed, depth, lead_shape,
                block_info=None):
    spec = JobSpec(model, device, bf16, make_job, settings, threads)
    return _block(block, spec, tiling, seed, depth, lead_shape, block_info)
