"""Training data: images as 2-D planes, the normalisation, validation patches and the patch sampler."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks.arrays import is_dask
from ..checks.inputs import check_image
from ..config import TrainConfig
from ..foundation.errors import InputError


# Training data larger than this (as float32) stays lazy when given as a dask array.
MAX_IN_MEMORY_BYTES = 2 * 1024**3


@dataclass
class TrainingData:
    """2-D training regions (numpy views or lazy dask slices), fixed validation patches and the normalisation."""

    train: list[Any]
    val_patches: np.ndarray  # (N, 1, p, p) float32, raw units
    data_mean: float
    data_std: float
    notes: list[str] = field(default_factory=list)


def as_planes(images: Any) -> list[Any]:
    """One or more images or stacks -> a list of 2-D planes (leading axes of a stack are planes).

    ``images`` is one array (2-D image, 3-D stack or time series, ...) or a list/tuple
    of such arrays (sizes may differ). Numpy and dask are accepted; dask stays lazy.
    """
    many = isinstance(images, (list, tuple)) and all(hasattr(a, "shape") for a in images)
    arrays = list(images) if many else [images]
    if not arrays:
        raise InputError("No training images given: pass an image, a stack or a list of them.")
    planes: list[Any] = []
    for i, array in enumerate(arrays):
        name = "training image" if len(arrays) == 1 else f"training image {i}"
        array = check_image(array, 1, name)  # dask: NaN or infinite values are reported per block, lazily
        h, w = array.shape[-2:]
        stack = array.reshape((-1, h, w))
        planes.extend(stack[k] for k in range(stack.shape[0]))
    return planes


def _mean_std(planes: Sequence[Any]) -> tuple[float, float]:
    """Mean and standard deviation over all pixels (float64, plane by plane, dask computed lazily)."""
    count, mean, m2 = 0, 0.0, 0.0
    for plane in planes:
        if is_dask(plane):
            import dask

            p_mean, p_var, n_bad = dask.compute(plane.mean(dtype=np.float64), plane.var(dtype=np.float64),
                                                (~_isfinite_dask(plane)).sum())
            if n_bad:
                raise InputError(
                    f"The training data contains {int(n_bad)} NaN or infinite value(s): replace or crop them."
                )
        else:
            p64 = np.asarray(plane, dtype=np.float64)
            p_mean, p_var = p64.mean(), p64.var()
        n = int(np.prod(plane.shape))
        delta = float(p_mean) - mean
        total = count + n
        mean += delta * n / total
        m2 += float(p_var) * n + delta * delta * count * n / total  # Chan et al.'s pairwise update
        count = total
    return mean, math.sqrt(m2 / count)


def _isfinite_dask(plane):
    import dask.array as da

    return da.isfinite(plane)


def prepare_data(images: Any, train_config: TrainConfig, seed: int | None = None) -> TrainingData:
    """Planes -> training regions and validation patches, as described in :class:`TrainConfig`.

    The validation split is by whole planes when ``val_fraction`` of them is at
    least one plane, else by regions: the last rows (or columns) of every plane.
    """
    cfg = train_config
    p = cfg.patch_size
    planes = as_planes(images)
    notes: list[str] = []
    too_small = [(i, tuple(pl.shape)) for i, pl in enumerate(planes) if min(pl.shape) < p]
    if too_small:
        i, shape = too_small[0]
        raise InputError(
            f"{len(too_small)} of {len(planes)} training plane(s) are smaller than the {p}x{p} training patches "
            f"(plane {i} is {shape[0]}x{shape[1]}): use larger images or a smaller patch_size."
        )
    rng = np.random.default_rng([cfg.seed if seed is None else seed, 1])
    n_val = int(round(cfg.val_fraction * len(planes)))
    if cfg.val_fraction == 0:
        train, val = planes, []
    elif n_val >= 1 and len(planes) - n_val >= 1:
        order = rng.permutation(len(planes))
        val_set = set(order[:n_val].tolist())
        train = [pl for i, pl in enumerate(planes) if i not in val_set]
        val = [pl for i, pl in enumerate(planes) if i in val_set]
        notes.append(f"validation: {n_val} of {len(planes)} planes")
    else:
        train, val = [], []
        for i, plane in enumerate(planes):
            axis = 0 if plane.shape[0] >= plane.shape[1] else 1
            size = plane.shape[axis]
            n_val_px = max(p, int(round(cfg.val_fraction * size)))
            if size - n_val_px < p:
                raise InputError(
                    f"Training plane {i} ({plane.shape[0]}x{plane.shape[1]}) is too small to hold out a validation "
                    f"region and still train on {p}x{p} patches: it needs at least {2 * p} pixels along one side. "
                    "Give more or larger images, a smaller patch_size, or val_fraction=0 (no validation)."
                )
            cut = size - n_val_px
            if axis == 0:
                train.append(plane[:cut]), val.append(plane[cut:])
            else:
                train.append(plane[:, :cut]), val.append(plane[:, cut:])
        notes.append(f"validation: the last {cfg.val_fraction:.0%} of the rows/columns of each plane")

    val_patches = _grid_patches(val, p, cfg.val_patches, rng)
    mean, std = _mean_std(train)
    if not std > 0:
        raise InputError("The training data is constant (standard deviation 0): there is nothing to learn from.")

    n_bytes = sum(int(np.prod(pl.shape)) for pl in train) * 4
    if any(is_dask(pl) for pl in train):
        if n_bytes <= MAX_IN_MEMORY_BYTES:
            train = [np.asarray(pl.compute() if is_dask(pl) else pl, dtype=np.float32) for pl in train]
            notes.append(f"loaded {n_bytes / 2**20:.0f} MiB of training data into memory")
        else:
            notes.append(f"training data ({n_bytes / 2**30:.1f} GiB) is read lazily, patch by patch")
    else:
        train = [pl if pl.dtype == np.float32 else pl.astype(np.float32) for pl in train]
        notes.append(f"{n_bytes / 2**20:.0f} MiB of training data in memory (float32)")
    return TrainingData(train=train, val_patches=val_patches, data_mean=mean, data_std=std, notes=notes)


def _grid_patches(planes: Sequence[Any], p: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Non-overlapping patches of ``planes`` on a grid; a random subset of at most ``limit``."""
    corners = [(i, r, c) for i, pl in enumerate(planes)
               for r in range(0, pl.shape[0] - p + 1, p) for c in range(0, pl.shape[1] - p + 1, p)]
    if len(corners) > limit:
        chosen = rng.choice(len(corners), size=limit, replace=False)
        corners = [corners[k] for k in sorted(chosen)]
    patches = [planes[i][r : r + p, c : c + p] for i, r, c in corners]
    if any(is_dask(x) for x in patches):
        import dask

        patches = list(dask.compute(*patches))
    if not patches:
        return np.zeros((0, 1, p, p), np.float32)
    return np.stack([np.asarray(x, dtype=np.float32) for x in patches])[:, None]


class PatchSampler:
    """Random ``p x p`` patches of the training regions with one of the 8 flips/rotations each.

    Regions are drawn in proportion to their number of patch positions, so every
    pixel is equally likely to be seen.
    """

    def __init__(self, regions: Sequence[Any], patch_size: int, rng: np.random.Generator):
        self.regions = list(regions)
        self.p = patch_size
        self.rng = rng
        positions = np.array([(r.shape[0] - patch_size + 1) * (r.shape[1] - patch_size + 1) for r in self.regions],
                             dtype=np.float64)
        self.weights = positions / positions.sum()

    def sample(self, n: int) -> np.ndarray:
        """(n, 1, p, p) float32 patches in raw units."""
        p, rng = self.p, self.rng
        which = rng.choice(len(self.regions), size=n, p=self.weights)
        crops = []
        for k in which:
            region = self.regions[k]
            r = int(rng.integers(0, region.shape[0] - p + 1))
            c = int(rng.integers(0, region.shape[1] - p + 1))
            crops.append(region[r : r + p, c : c + p])
        if any(is_dask(x) for x in crops):
            import dask

            crops = list(dask.compute(*crops))
        transforms = rng.integers(0, 8, size=n)
        out = np.empty((n, 1, p, p), np.float32)
        for j, (crop, t) in enumerate(zip(crops, transforms)):
            crop = np.rot90(np.asarray(crop, dtype=np.float32), int(t) % 4)
            out[j, 0] = crop[:, ::-1] if t >= 4 else crop
        return out
