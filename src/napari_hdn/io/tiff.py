"""TIFF files with the input's pixel size: read a TIFF's pixel metadata, write results as ImageJ hyperstacks.

Shared by the command line, the demo and the widgets' "Save results" (core I/O, no front end).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def read_pixel_metadata(path: str | Path) -> dict[str, Any]:
    """Pixel size and axes of a TIFF (resolution tags and ImageJ spacing/unit); empty for other files."""
    import tifffile

    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        return {}
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        meta: dict[str, Any] = {"axes": tif.series[0].axes if tif.is_imagej else None}
        if "XResolution" in page.tags and "YResolution" in page.tags:
            meta["resolution"] = page.resolution
            meta["resolutionunit"] = page.resolutionunit
        imagej = tif.imagej_metadata or {}
        meta["imagej"] = {k: imagej[k] for k in ("spacing", "unit", "finterval") if k in imagej}
    return meta


def imagej_axes(ndim: int, input_axes: str | None, extra_axis: bool) -> str | None:
    """ImageJ axes for an output of ``ndim`` dimensions, or None when ImageJ cannot hold it.

    The input's own ImageJ axes are kept; stacks from other TIFFs are taken as Z, TZ or TZC.
    An extra leading axis (samples, layers) becomes T, the only axis ImageJ puts first.
    """
    n_lead = ndim - 2 - int(extra_axis)
    if input_axes is not None and len(input_axes) == n_lead + 2:
        lead = input_axes[:-2]
    elif n_lead <= 3:
        lead = ("", "Z", "TZ", "TZC")[n_lead]
    else:
        return None
    if extra_axis:
        if lead.startswith("T"):
            return None  # ImageJ has no axis in front of T
        lead = "T" + lead
    return lead + "YX"


def write_tiff(path: str | Path, data: Any, metadata: dict[str, Any], extra_axis: bool = False) -> None:
    """Write float32 ``data`` with the input's pixel size; as an ImageJ hyperstack when possible."""
    import tifffile

    data = np.asarray(data, dtype=np.float32)
    tifffile.imwrite(path, data, **_imwrite_options(metadata, data.ndim, extra_axis))


def write_planes(path: str | Path, planes: Iterator[np.ndarray], shape: tuple[int, ...], metadata: dict[str, Any]) -> None:
    """``write_tiff`` for float32 planes that arrive one at a time (an ImageJ hyperstack when possible)."""
    import tifffile

    tifffile.imwrite(path, planes, shape=tuple(shape), dtype=np.float32,
                     **_imwrite_options(metadata, len(shape), False))


def _imwrite_options(metadata: dict[str, Any], ndim: int, extra_axis: bool) -> dict[str, Any]:
    """tifffile.imwrite's options for the input's pixel size: an ImageJ hyperstack when ImageJ can hold it."""
    options: dict[str, Any] = {"metadata": dict(metadata.get("imagej", {}))}
    if "resolution" in metadata:
        options["resolution"] = metadata["resolution"]
        options["resolutionunit"] = metadata["resolutionunit"]
    axes = imagej_axes(ndim, metadata.get("axes"), extra_axis)
    if axes is not None:
        options["imagej"] = True
        options["metadata"]["axes"] = axes
    return options
