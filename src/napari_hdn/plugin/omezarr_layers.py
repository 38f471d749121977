"""napari reader and writer contributions for OME-Zarr (Qt-free; layer data tuples in and out)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..foundation.errors import InputError
from ..io.omezarr import default_metadata, is_ome_zarr, read_ome_zarr, write_ome_zarr

LayerData = tuple[Any, dict[str, Any], str]


def get_ome_zarr_reader(path: str | os.PathLike | list) -> Callable[[Any], list[LayerData]] | None:
    """napari reader: an OME-Zarr image folder opens as one lazy (dask) image layer with its pixel sizes."""
    if isinstance(path, list) or not Path(path).is_dir() or not is_ome_zarr(path):
        return None
    return _read_layer


def _read_layer(path: Any) -> list[LayerData]:
    data, meta = read_ome_zarr(path)
    return [(data, {"name": Path(path).name.split(".")[0] or "image", "scale": list(meta.scale),
                    "units": [meta.units.get(a, "pixel") for a in meta.axes]}, "image")]


def write_ome_zarr_layers(path: str, layer_data: list[LayerData]) -> list[str]:
    """napari writer: each image layer (e.g. the restoration's MMSE, variance, samples) as an image in one OME-Zarr.

    The layer's scale becomes the pixel sizes; dask layers are written block by block.
    An existing ``path`` is an error (napari asks before overwriting files, not folders).
    """
    images = {}
    for data, meta, layer_type in layer_data:
        if layer_type != "image":
            raise InputError(f"Only image layers can be saved as OME-Zarr, not {layer_type} layers: select image layers.")
        name = _group_name(meta.get("name") or "image", images)
        metadata = default_metadata(data.ndim)
        if meta.get("scale") is not None:
            metadata = replace(metadata, scale=tuple(float(s) for s in meta["scale"]))
        images[name] = (data, metadata)
    write_ome_zarr(path, images, overwrite=False)
    return [str(path)]


def _group_name(name: str, taken: dict[str, Any]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "image"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate
