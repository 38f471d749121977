"""Saving result images (MMSE, variance, samples, ...) as TIFF or OME-Zarr files with their pixel size.

One file per image, named after it, in a chosen folder: ``<name>.tif`` (an ImageJ
hyperstack where ImageJ can hold it, with the pixel size as resolution tags and
ImageJ's unit and z spacing) or ``<name>.ome.zarr`` (needs the ``ome-zarr`` extra).
Every file is written atomically; existing files are replaced only with
``overwrite=True``, and that is checked for all of them before anything is written.
Qt-free: the Restore widget's "Save results..." and scripts call :func:`save_results`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..foundation.errors import InputError
from .atomic import atomic_path

FORMATS = {"tiff": ".tif", "ome-zarr": ".ome.zarr"}
# Spatial units as ImageJ writes them in a TIFF's description (pint's names, as napari's layers hold them).
IMAGEJ_UNITS = {"micrometer": "micron", "nanometer": "nm", "millimeter": "mm", "centimeter": "cm", "meter": "m"}
NO_UNIT = ("", "pixel", "dimensionless")


@dataclass(frozen=True)
class ResultImage:
    """One image to save: its name (the file's), pixels, and the pixel size along each axis."""

    name: str
    data: Any
    scale: tuple[float, ...]
    unit: str | None = None  # of the spatial axes, e.g. "micrometer"; None: pixels
    stacked: bool = False  # a leading axis of samples or latent layers (not space)

    def __post_init__(self) -> None:
        if len(self.scale) != len(self.data.shape):
            raise InputError(f"{self.name}: {len(self.scale)} pixel sizes for {len(self.data.shape)} axes.")
        if not all(s > 0 for s in self.scale):
            raise InputError(f"{self.name}: pixel sizes must be positive, not {self.scale}.")


def ome_zarr_available() -> bool:
    return importlib.util.find_spec("ome_zarr") is not None


def file_name(name: str, fmt: str) -> str:
    """A file name from an image's name: letters, digits, spaces, ``.-_()`` kept, anything else ``_``."""
    if fmt not in FORMATS:
        raise InputError(f"Unknown format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    safe = re.sub(r"[^A-Za-z0-9 ._()\-]+", "_", name).strip(" .") or "result"
    return safe + FORMATS[fmt]


def result_paths(names: Sequence[str], folder: str | os.PathLike, fmt: str) -> list[Path]:
    """Where :func:`save_results` writes the images ``names`` (clear error if two would share a file)."""
    paths = [Path(folder) / file_name(name, fmt) for name in names]
    if len(set(paths)) != len(paths):
        raise InputError("Two results would be saved under the same file name: rename one of the layers.")
    return paths


def save_results(
    images: Sequence[ResultImage], folder: str | os.PathLike, fmt: str = "tiff", overwrite: bool = False
) -> list[Path]:
    """Write each image to ``folder`` as ``fmt`` ("tiff" or "ome-zarr"); returns the paths written."""
    if not images:
        raise InputError("No result chosen to save: choose one or more result layers.")
    if fmt == "ome-zarr" and not ome_zarr_available():
        raise InputError("Saving as OME-Zarr needs the ome-zarr package: pip install 'napari-hdn[ome-zarr]'.")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file: choose a folder to save the results in.")
    paths = result_paths([image.name for image in images], folder, fmt)
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{', '.join(p.name for p in existing)} already exist(s) in {folder}: choose another "
                         "folder, or confirm that they may be replaced.")
    folder.mkdir(parents=True, exist_ok=True)
    for image, path in zip(images, paths):
        if fmt == "tiff":
            with atomic_path(path, overwrite=overwrite) as tmp:
                _write_tiff(tmp, image)
        else:
            _write_ome_zarr(path, image, overwrite)
    return paths


def _write_tiff(path: Path, image: ResultImage) -> None:
    """Float32 TIFF, pixel size in the resolution tags (pixels per unit) and ImageJ's unit and z spacing."""
    from .tiff import write_tiff

    sy, sx = image.scale[-2:]
    metadata: dict[str, Any] = {"resolution": (1.0 / sx, 1.0 / sy), "resolutionunit": 1, "imagej": {}}  # 1: NONE
    if image.unit not in (None, *NO_UNIT):
        metadata["imagej"]["unit"] = IMAGEJ_UNITS.get(image.unit, image.unit)
    if len(image.scale) - int(image.stacked) >= 3:
        metadata["imagej"]["spacing"] = float(image.scale[-3])
    write_tiff(path, image.data, metadata, extra_axis=image.stacked)


def _write_ome_zarr(path: Path, image: ResultImage, overwrite: bool) -> None:
    from .omezarr import default_metadata, output_metadata, write_ome_zarr

    meta = output_metadata(default_metadata(len(image.scale) - int(image.stacked)), image.stacked)
    units = {} if image.unit in (None, *NO_UNIT) else {a: image.unit for a in meta.axes if a in "zyx"}
    meta = replace(meta, scale=tuple(float(s) for s in image.scale), units=units)
    group = re.sub(r"[^A-Za-z0-9_.-]+", "_", image.name).strip("._") or "image"
    write_ome_zarr(path, {group: (image.data, meta)}, overwrite=overwrite)
