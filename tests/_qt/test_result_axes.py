"""Samples, activations and KL maps get their own sliders ("sample", "detail layer") and show at the plane in view,
whatever other stacks are open (issue 27: 10 samples used to ride on the plane slider of a 60-plane stack)."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import dock, noisy_stack, run_task

from napari_hdn._qt.result_axes import PADDING_KEY, without_padding
from napari_hdn._qt.save_results import result_image

pytestmark = pytest.mark.qt


def shown(layer) -> np.ndarray:
    """What the layer draws at the viewer's position (it must draw something)."""
    assert not layer._slice.empty, f"{layer.name} draws nothing here"
    return np.asarray(layer._slice.image.raw)


def sample_at(viewer, layer):
    """The index along the layer's first axis that the viewer shows."""
    return int(round(float(layer.world_to_data(viewer.dims.point)[0])))


def axis(viewer, label: str) -> int:
    return list(viewer.dims.axis_labels).index(label)


def restore_plane_29(viewer, qtbot, widget, name: str) -> None:
    widget.input_layer.set_layer(name)
    viewer.dims.set_current_step(0, 29)
    assert run_task(qtbot, widget.task, widget.restore) == "done"


@pytest.fixture
def restore(viewer, trained_model_path):
    widget = dock(viewer, "Restore")
    assert widget.load_model(trained_model_path)
    widget.n_samples.setValue(4)
    widget.keep_samples.setValue(3)
    return widget


def test_results_of_plane_29_of_a_60_plane_stack_show_on_their_own_sliders(viewer, qtbot, restore, messages):
    viewer.add_image(noisy_stack(100, size=32, seed=1), name="calibration")  # 100 frames: the longest slider
    viewer.add_image(noisy_stack(60, size=64), name="stack")
    restore_plane_29(viewer, qtbot, restore, "stack")

    samples = viewer.layers["stack samples (plane 29)"]
    activations = viewer.layers["stack activations"]
    kl_maps = viewer.layers["stack info maps"]
    assert samples.data.shape == (3, 1, 64, 64)  # the plane keeps its plane axis: drawn at plane 29
    assert activations.data.shape == kl_maps.data.shape == (2, 1, 1, 64, 64)
    assert samples.axis_labels == ("sample", "plane", "-2", "-1")
    assert activations.axis_labels == kl_maps.axis_labels == ("detail layer", "sample", "plane", "-2", "-1")
    assert viewer.dims.axis_labels == ("detail layer", "sample", "plane", "-2", "-1")  # the sliders' names
    plane = 2  # the stacks' slider comes after the two of the results
    assert viewer.dims.current_step[plane] == 29
    for layer in (samples, activations, kl_maps):
        layer.visible = True

    # The sample slider runs through the samples, the plane stays 29: each sample is drawn.
    for k in range(3):
        viewer.dims.set_current_step(axis(viewer, "sample"), k)
        assert viewer.dims.current_step[plane] == 29
        np.testing.assert_array_equal(shown(samples), samples.data[k, 0])
        np.testing.assert_array_equal(shown(activations), activations.data[0, 0, 0])  # not tied to the sample
    # The detail-layer slider runs through z1, z2; the samples stay drawn.
    viewer.dims.set_current_step(axis(viewer, "detail layer"), 1)
    assert sample_at(viewer, activations) == sample_at(viewer, kl_maps) == 1
    np.testing.assert_array_equal(shown(kl_maps), kl_maps.data[1, 0, 0])
    np.testing.assert_array_equal(shown(samples), samples.data[2, 0])
    # Results of plane 29 belong to plane 29.
    viewer.dims.set_current_step(plane, 30)
    assert samples._slice.empty
    assert messages == []


def test_samples_of_an_image_show_at_any_plane_of_a_stack_open_beside_it(viewer, qtbot, restore, messages):
    viewer.add_image(noisy_stack(60, size=64), name="stack")
    viewer.add_image(noisy_stack(1, seed=3)[0], name="noisy")
    restore_plane_29(viewer, qtbot, restore, "noisy")

    samples = viewer.layers["noisy samples"]
    kl_maps = viewer.layers["noisy info maps"]
    # In front of the stack's plane axis, which they span with length 1 (following its slider).
    assert samples.data.shape == (3, 1, 64, 64) and samples.metadata[PADDING_KEY] == [1]
    assert kl_maps.data.shape == (2, 1, 1, 64, 64) and kl_maps.metadata[PADDING_KEY] == [1, 2]
    assert viewer.dims.axis_labels[:3] == ("detail layer", "sample", "plane")
    samples.visible = kl_maps.visible = True
    plane = 2
    for position in (29, 0, 59):
        viewer.dims.set_current_step(plane, position)
        viewer.dims.set_current_step(axis(viewer, "sample"), 2)
        np.testing.assert_array_equal(shown(samples), samples.data[2, 0])
        np.testing.assert_array_equal(shown(kl_maps), kl_maps.data[0, 0, 0])
    assert viewer.dims.range[plane].stop == 59  # the results do not stretch the stack's slider

    # Saved as the restoration gave them: samples (3, 64, 64), without the axes that only place them.
    image = result_image(samples)
    assert image.data.shape == (3, 64, 64) and len(image.scale) == 3
    assert result_image(kl_maps).data.shape == (2, 64, 64)
    assert messages == []


def test_without_padding_keeps_a_plane_axis_of_real_length():
    data = np.zeros((3, 1, 5, 1, 8, 8))
    squeezed, scale = without_padding(data, (1, 1, 2, 1, 0.5, 0.5), {PADDING_KEY: [1]})
    assert squeezed.shape == (3, 5, 1, 8, 8) and scale == (1, 2, 1, 0.5, 0.5)
    assert without_padding(data, (1,) * 6, {})[0] is data
