"""The Restore widget's view helpers: the region in view, the label of the plane shown, and the job that
restores and then explains (activations, KL maps)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks.arrays import is_dask
from .restore_target import plane_in_view

# Largest preview region (pixels per side): the preview must come back within about 2 s.
PREVIEW_SIZE = 256
PLANES_KEY = "napari_hdn_planes"  # layer metadata: the label of each plane along the first axis


def region_in_view(viewer: Any, layer: Any, image: Any, stride: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """The displayed part of the current plane, centred, at most PREVIEW_SIZE per side; and its origin."""
    height, width = image.shape[-2:]
    lead = plane_in_view(viewer, layer, image)
    corners = np.asarray(layer.corner_pixels)
    low = corners[0, -2:]
    high = corners[1, -2:] + 1  # corner_pixels holds the last pixel in view, not the end
    if np.any(high <= low):  # not drawn yet: use the whole plane
        low, high = np.array([0, 0]), np.array([height, width])
    centre = (low + high) / 2
    origin, sizes = [], []
    for c, lo, hi, n in zip(centre, low, high, (height, width)):
        size = int(min(max(hi - lo, stride), PREVIEW_SIZE, n))
        size = max(size - size % stride, min(stride, n))
        start = int(np.clip(round(c - size / 2), 0, n - size))
        origin.append(start)
        sizes.append(size)
    region = (*lead, slice(origin[0], origin[0] + sizes[0]), slice(origin[1], origin[1] + sizes[1]))
    return np.asarray(image[region], dtype=np.float32), (*lead, *origin)


def show_plane_label(viewer: Any) -> None:
    """Name the plane shown of a samples / activations / KL-maps layer (z1...zn) in the canvas overlay.

    Their first axis shares the viewer's slider with other layers (e.g. a
    stack), so the slider's own label cannot say what a plane is.
    """
    overlay = text_overlay(viewer)
    layer = viewer.layers.selection.active
    labels = None if layer is None or not layer.visible else layer.metadata.get(PLANES_KEY)
    index = -1
    if labels:
        index = int(round(float(layer.world_to_data(viewer.dims.point)[0])))
    if not 0 <= index < len(labels or ()):
        if overlay.text.startswith("napari-hdn:"):
            overlay.visible = False
            overlay.text = ""
        return
    overlay.text = f"napari-hdn: {layer.name}: {labels[index]}"
    overlay.visible = True


def text_overlay(viewer: Any) -> Any:
    """The viewer's canvas text overlay (napari 0.9 moved it from ``viewer.text_overlay``)."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.overlays["text"] if canvas is not None else viewer.text_overlay


def uncertainty_record(restoration: Any) -> dict[str, Any]:
    """What the variance and the spread of a restoration include, for its layers' metadata."""
    checked = restoration.uncertainty
    return {"variance includes": "the posterior spread of the samples"} if checked is None else checked.to_metadata()


def restored_line(name: str, restoration: Any, mmse_name: str, spread_name: str, others_kept: bool) -> str:
    """The status line after a restoration: where it went, where to see how sure it is, and the error estimate."""
    checked = restoration.uncertainty
    return (f"Restored '{name}' with {restoration.n_samples} samples into '{mmse_name}'"
            + (" (earlier results kept)" if others_kept else "") + f"; how sure it is: '{spread_name}' (hidden)."
            + ("" if checked is None else f" {checked.describe().replace('estimated', 'Estimated', 1)}."))


def _restore_and_explain(restoring, explaining):
    """Restoration, then (optionally) the per-layer activations, as one job.

    A lazy (dask) layer gives lazy results: they are computed here, in the worker,
    so that napari never runs the network on the GUI thread while it draws them.
    """
    restoration = yield from restoring
    if restoration.lazy:
        restoration = restoration.compute()
    activations = None
    if explaining is not None:
        activations = yield from explaining
        if any(is_dask(plane_stack) for plane_stack in activations):
            import dask

            activations = tuple(dask.compute(*activations))
    return restoration, activations

