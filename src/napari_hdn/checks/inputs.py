"""The input checks shared by every entry point that runs a trained model on an image (issue 29).

``restore``, ``layer_activations``, ``denoise``, ``suggest_deactivation``, ``train_direct_denoiser``
and the BioImage Model Zoo export all go through :func:`check_model_input` (dimensions, colour,
size, finiteness, intensity range) and read their arguments with :func:`whole_number` and
:func:`layer_numbers`, so that the one-pass path checks exactly what the sampling path checks.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..foundation.errors import InputError
from .arrays import as_real_array, check_finite, check_not_rgb, is_dask
from .intensity_range import check_restoration_range

if TYPE_CHECKING:
    from ..model.bundle import HDNModel


def whole_number(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``: Python and numpy integers are accepted, bools are not."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be a whole number of at least {minimum}, not {value!r}.")
    return int(value)


def positive_number(value: Any, name: str, unit: str = "") -> float | None:
    """``value`` as a positive finite float, or None for None: the one rule for ``minutes``,
    ``snapshot_every_s`` and other budgets (bools are refused: ``minutes=True`` is a slip, not one minute)."""
    if value is None:
        return None
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value) or value <= 0):
        raise InputError(f"{name} must be a positive number{unit}, not {value!r}.")
    return float(value)


def positive_minutes(minutes: Any, name: str = "minutes") -> float | None:
    """A training budget in minutes (None: the job's own default)."""
    return positive_number(minutes, name, " of minutes")


def renamed_option(old_name: str, old_value: Any, new_name: str, new_value: Any) -> Any:
    """The value of an option given under its old spelling (with a DeprecationWarning), else the new one's."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise InputError(f"Give {new_name} only: {old_name} is its old spelling.")
    warnings.warn(f"{old_name}= is deprecated: use {new_name}= (same meaning).", DeprecationWarning, stacklevel=3)
    return old_value


def as_deactivation(deactivate: Any) -> tuple[int, ...] | str:
    """``deactivate`` as every public function reads it: layer numbers (1 = z1), text such as "1,2", or "auto"."""
    return layer_numbers(deactivate, allow_auto=True)


def layer_numbers(deactivate: Any, allow_auto: bool = False) -> tuple[int, ...] | str:
    """Latent layer numbers (1 = z1, the finest) from a number, a sequence or array of numbers, or text.

    Text is read as a whole: "1,2" or "1 2" give (1, 2); "auto" is returned as is where ``allow_auto``
    (restore); anything else is refused. Whether the layers exist is the model's check.
    """
    auto = ' or "auto" (the layers napari_hdn.suggest_deactivation finds noise-like)' if allow_auto else ""
    if isinstance(deactivate, str):
        text = deactivate.strip()
        if allow_auto and text.lower() == "auto":
            return "auto"
        if not re.fullmatch(r"(\d+([\s,]+\d+)*)?", text):
            raise InputError(f"deactivate={deactivate!r} is not a list of latent layer numbers: write e.g. \"1,2\" "
                             f"or (1, 2) (1 = z1, the finest){auto}.")
        return tuple(int(part) for part in re.split(r"[\s,]+", text) if part)
    if deactivate is None:
        return ()
    items = np.asarray(deactivate).ravel().tolist() if isinstance(deactivate, np.ndarray) else deactivate
    if isinstance(items, (int, np.integer)) and not isinstance(items, (bool, np.bool_)):
        items = (items,)
    try:
        items = tuple(items)
    except TypeError:
        items = (items,)
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise InputError(f"deactivate={deactivate!r}: latent layers are whole numbers, e.g. (1, 2) or \"1,2\" "
                             f"(1 = z1, the finest){auto}.")
    return tuple(int(item) for item in items)


def check_image(image: Any, stride: int, name: str = "image") -> Any:
    """A real image of at least 2 dimensions, single-channel, at least ``stride`` pixels per side, finite.

    Numpy arrays are checked for NaN and infinite values at once; dask arrays lazily, block by block
    (:func:`finite_blocks`): computing a result from a block with such values raises an InputError naming it.
    """
    image = as_real_array(image, name)
    if image.ndim < 2:
        raise InputError(
            f"The {name} has {image.ndim} dimension(s) (shape {tuple(image.shape)}); napari-hdn needs 2-D images "
            "(Y, X) or stacks of them (..., Y, X; 3-D stacks and time series are used as sets of 2-D planes)."
        )
    check_not_rgb(image, name)
    height, width = image.shape[-2:]
    if height < stride or width < stride:
        raise InputError(
            f"The {name} is {height}x{width} pixels, smaller than this model's stride of {stride} pixels "
            f"(each latent layer halves the resolution): use an image of at least {stride}x{stride} pixels."
        )
    if is_dask(image):
        return finite_blocks(image, name)
    check_finite(image, name)
    return image


def check_model_input(model: HDNModel, image: Any, stride: int, name: str = "image") -> Any:
    """:func:`check_image`, then the intensity check against the model's training data (refuse or warn)."""
    checked = check_image(image, stride, name)
    # On the unwrapped array: the range looks at a subsample of the finite values, the blocks are checked lazily.
    check_restoration_range(model, as_real_array(image, name) if is_dask(checked) else checked)
    return checked


def finite_blocks(image: Any, name: str = "image") -> Any:
    """The dask array ``image``, each of whose blocks raises an InputError naming it when it holds NaN or inf."""
    if image.dtype.kind != "f":
        return image
    return image.map_blocks(_finite_block, name, dtype=image.dtype, meta=np.empty((0,) * image.ndim, image.dtype))


def _finite_block(block: np.ndarray, name: str, block_info: dict | None = None) -> np.ndarray:
    finite = np.isfinite(block)
    if not finite.all():
        info = (block_info or {}).get(0, {})
        where = tuple(info.get("chunk-location", ()))
        pixels = ", ".join(f"{start}:{stop}" for start, stop in info.get("array-location", ()))
        raise InputError(
            f"The {name}'s block {where} (pixels [{pixels}]) contains {int(block.size - finite.sum())} NaN or "
            "infinite value(s): replace or crop them (e.g. with numpy.nan_to_num, or fix the file) before using "
            "napari-hdn."
        )
    return block


# Planes up to this size (per axis) are restored in one piece; larger ones in tiles of this size.
DEFAULT_TILE = 512
PRECISIONS = ("auto", "float32", "bfloat16")


def check_precision(precision: Any) -> str:
    if precision not in PRECISIONS:
        raise InputError(f"precision={precision!r} must be one of {list(PRECISIONS)}.")
    return precision


def resolve_model(model: Any, device: Any) -> Any:
    """An HDN model on the wanted device, loading it when given a path, or a clear error."""
    import os

    if isinstance(model, (str, os.PathLike)):
        from ..model.bundle import load_model

        return load_model(model, device="auto" if device is None else device)
    if not (hasattr(model, "network") and hasattr(model, "normalize") and hasattr(model, "denormalize")):
        raise InputError(
            f"model must be a trained napari-hdn model (HDNModel) or the path of a model folder, "
            f"not {type(model).__name__}."
        )
    if not (device is None or (isinstance(device, str) and device.strip().lower() == "auto")):
        # "auto" (or None): a model in memory stays where it is; any other device is checked, then used
        from ..foundation.device import resolve_device

        model = model.to(resolve_device(device))
    return model


def check_tiling(tile: Any, overlap: Any, stride: int) -> Any:
    """The tiling (``inference.tiling.Tiling``) for ``tile`` and ``overlap`` (None: the defaults)."""
    from ..inference.tiling import Tiling

    if tile is None:
        tile = max(DEFAULT_TILE, stride)
    else:
        tile = whole_number(tile, "tile", 1)
        if tile < stride:
            raise InputError(f"tile={tile} is smaller than this model's stride ({stride}): use a tile of at least {stride}.")
    tile -= tile % stride  # tiles that are multiples of the stride need no padding
    if overlap is None:
        overlap = min(max(2 * stride, tile // 8), tile - stride)
    else:
        overlap = whole_number(overlap, "overlap", 0)
        if overlap > tile - stride:
            raise InputError(
                f"overlap={overlap} is too large for tiles of {tile} pixels: at most the tile size minus "
                f"the model's stride ({tile - stride})."
            )
    return Tiling(tile, overlap, stride)
