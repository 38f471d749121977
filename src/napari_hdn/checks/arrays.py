"""Checks on user arrays, done once at the edge so that the core can trust its inputs."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..foundation.errors import InputError


def is_dask(array: Any) -> bool:
    return type(array).__module__.startswith("dask.")


def as_real_array(image: Any, name: str = "image") -> Any:
    """Return a numpy (or dask) array of real numbers, or raise a clear error.

    Accepts numpy, dask, lists and array-likes (torch tensors, xarray). Rejects
    empty, complex, boolean, object and string arrays.
    """
    if image is None:
        raise InputError(f"No {name} given: pass an image array.")
    if isinstance(image, (str, bytes, os.PathLike)):
        raise InputError(
            f"The {name} is a file name ({image!r}), not an array: read it first "
            "(tifffile.imread(path) for a TIFF, numpy.load(path) for .npy) and pass the array."
        )
    if not is_dask(image):
        if hasattr(image, "detach"):  # torch tensor
            image = image.detach().cpu().numpy()
        image = _as_numpy(image, name)
    if image.size == 0:
        raise InputError(f"The {name} is empty (shape {tuple(image.shape)}): pass an image with pixels.")
    if image.dtype.kind not in "uif":
        raise InputError(
            f"The {name} has data type {image.dtype}; napari-hdn needs a real-valued (integer or float) image."
        )
    return image


def _as_numpy(image: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(image)
    except ValueError as err:  # numpy's "inhomogeneous shape": a ragged list
        if not isinstance(image, (list, tuple)):
            raise
        shapes = sorted({tuple(np.shape(item)) for item in image if _has_shape(item)}, key=str)
        seen = f" (shapes {', '.join(map(str, shapes))})" if len(shapes) > 1 else ""
        raise InputError(
            f"The {name} is a list of images of different shapes{seen}: numpy cannot make one array of them. "
            "Pass one array (stack images of one size), or process the images one at a time (training accepts a "
            "list of arrays of different sizes)."
        ) from None


def _has_shape(item: Any) -> bool:
    try:
        np.shape(item)
    except ValueError:
        return False
    return True


def check_finite(image: np.ndarray, name: str = "image") -> None:
    """Raise if a numpy array holds NaN or Inf (dask arrays are checked per block later)."""
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        n_bad = int((~np.isfinite(image)).sum())
        raise InputError(
            f"The {name} contains {n_bad} NaN or infinite value(s): replace or crop them before using napari-hdn."
        )


def check_not_rgb(image: Any, name: str = "image", rgb: bool | None = None) -> None:
    """RGB(A) images are not supported: HDN models one intensity channel."""
    looks_rgb = image.ndim >= 3 and image.shape[-1] in (3, 4) and image.shape[-2] > 4
    if rgb or (rgb is None and looks_rgb and image.ndim == 3 and image.dtype == np.uint8):
        raise InputError(
            f"The {name} looks like an RGB(A) colour image (shape {tuple(image.shape)}); "
            "HDN works on single-channel intensity images: split the channels and restore each one."
        )


# Above this share of pixels at an integer type's largest value, a camera image is saturated (clipped).
SATURATED_SHARE = 0.01


def warn_if_saturated(image: np.ndarray, name: str = "image") -> float:
    """Warn (SaturationWarning) when many pixels of an integer image sit at its type's largest value.

    Clipped pixels have no noise: a noise model fitted on them underestimates the noise at
    high signal. Returns the saturated share.
    """
    import warnings

    from ..foundation.errors import SaturationWarning

    if image.dtype.kind not in "ui":
        return 0.0
    top = np.iinfo(image.dtype).max
    share = float(np.count_nonzero(image == top)) / image.size
    if share > SATURATED_SHARE:
        warnings.warn(
            f"{share:.0%} of the {name}'s pixels are saturated (at {top}, the largest {image.dtype} value): "
            "clipped pixels carry no noise, so the fit underestimates the noise at high signal. Acquire with "
            "less exposure or gain, or crop the saturated regions.",
            SaturationWarning,
            stacklevel=3,
        )
    return share
