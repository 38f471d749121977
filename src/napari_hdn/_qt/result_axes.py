"""Result stacks on their own axis: samples on a "sample" slider, activations and KL maps on a "detail layer" one.

napari has one slider per axis for all layers, and aligns layers by their last axes. A stack of 10 samples of a
2-D image would therefore ride on the plane slider of a 60-plane stack open beside it: at plane 29 it draws
nothing. So every result stack is laid out in front of the axes of the user's own layers (the "data axes"):

    viewer axes:    detail layer | sample | <data axes, e.g. plane, y, x>
    samples:                       K      | 1 ... 1 (axes the input has not) | <input's axes>
    activations:    L            | 1      | 1 ... 1                          | <input's axes>

Each stack names its axes (``layer.axis_labels``; napari shows them on the sliders: "sample", "detail layer", and
"plane" for a stack's axis that its own layers leave unnamed),
and its length-1 axes (the "padding", listed in the layer's metadata under ``PADDING_KEY``) follow the sliders
(:func:`follow_sliders`), so that a stack shows whatever plane of another layer is in view. A plane restored
alone keeps its own plane axis (not padding): its results show at that plane.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..plugin.layer_roles import OUTPUTS, layer_role
from ._layers import show_image

SAMPLE_AXIS = "sample"
DETAIL_LAYER_AXIS = "detail layer"
PLANE_AXIS = "plane"  # a stack's axis, unless its layers name it ("Plane in view", "... (plane 29)")
# The axes in front of the input's, outermost first, of each kind of result stack.
STACK_AXES = {"samples": (SAMPLE_AXIS,), "activations": (DETAIL_LAYER_AXIS, SAMPLE_AXIS),
              "KL maps": (DETAIL_LAYER_AXIS, SAMPLE_AXIS)}
PADDING_KEY = "napari_hdn_padding"  # layer metadata: the axes of length 1 that follow the sliders


def data_ndim(viewer: Any, like: Any) -> int:
    """How many axes the user's own layers (not the plugin's results and previews) span, at least ``like``'s."""
    own = [layer.ndim for layer in viewer.layers if layer_role(layer.metadata) not in OUTPUTS]
    return max([like.ndim, *own])


def on_own_axis(viewer: Any, like: Any, what: str, data: Any) -> tuple[Any, dict[str, Any]]:
    """``data`` (a stack of ``what`` along its first axis, then ``like``'s axes) laid out on its own axis.

    Returns the reshaped array (a view, no copy) and the keyword arguments of ``show_image``: the number of axes
    in front of ``like``'s, the axis labels, and the padding axes in the metadata.
    """
    kinds = STACK_AXES[what]
    n_data = data_ndim(viewer, like)
    missing = n_data - like.ndim  # axes of other layers (a stack's planes) that the input has not
    pads = len(kinds) - 1 + missing
    shape = np.shape(data)
    stacked = np.reshape(data, (shape[0], *(1,) * pads, *shape[1:]))
    data_labels = list(viewer.dims.axis_labels)[-n_data:]
    if n_data >= 3 and data_labels[-3] == "-3":  # napari's default name of a stack's axis: the widget's word
        data_labels[-3] = PLANE_AXIS
    labels = (*kinds, *data_labels)
    return stacked, {"leading_axes": 1 + pads, "axis_labels": labels,
                     "metadata": {PADDING_KEY: list(range(1, 1 + pads))}}


def show_stack(viewer: Any, name: str, what: str, data: Any, like: Any, plane: Sequence[int],
               metadata: dict[str, Any], **kwargs: Any) -> Any:
    """Show (or update) the result stack ``name`` on its own axis, hidden until the user shows it.

    ``data``: the stack of ``what`` ("samples", "activations", "KL maps") of the part of ``like`` at ``plane``.
    """
    stacked, layout = on_own_axis(viewer, like, what, data)
    layer = show_image(viewer, name, stacked, like, leading_axes=layout["leading_axes"], offset=plane,
                       metadata={**metadata, **layout["metadata"]}, axis_labels=layout["axis_labels"],
                       visible=False, **kwargs)
    follow_sliders(viewer)
    return layer


def follow_sliders(viewer: Any) -> None:
    """Move the padding axes of every result stack to the sliders' position, so that it shows at any plane."""
    point = tuple(viewer.dims.point)
    for layer in viewer.layers:
        pads = layer.metadata.get(PADDING_KEY)
        if not pads:
            continue
        first = len(point) - layer.ndim  # the viewer axis of the layer's first axis
        translate = list(layer.translate)
        for axis in pads:
            if 0 <= first + axis < len(point):
                translate[axis] = point[first + axis]
        if not np.allclose(translate, layer.translate):
            layer.translate = translate


def without_padding(data: Any, scale: Sequence[float], metadata: Any) -> tuple[Any, tuple[float, ...]]:
    """A result stack's pixels and pixel sizes without its padding axes (as it is saved)."""
    pads = tuple(axis for axis in (metadata or {}).get(PADDING_KEY) or () if np.shape(data)[axis] == 1)
    if not pads:
        return data, tuple(scale)
    return np.squeeze(data, axis=pads), tuple(s for i, s in enumerate(scale) if i not in pads)
