"""``./dev napari``: napari with the three widgets docked and the sample data open."""

from __future__ import annotations

import pytest

from napari_hdn._qt.launch import WIDGETS, open_viewer

pytestmark = pytest.mark.qt


def test_open_viewer_docks_the_widgets_with_the_sample_data(qtbot):
    viewer = open_viewer(sample="nuclei", calibration=True, show=False)
    try:
        names = [layer.name for layer in viewer.layers]
        assert names == ["nuclei noisy stack", "nuclei noisy", "nuclei ground truth", "nuclei calibration"]
        assert not viewer.layers["nuclei calibration"].visible
        for name in WIDGETS:
            dock, widget = viewer.window.add_plugin_dock_widget("napari-hdn", name)  # already docked: returned
            assert dock.name == f"{name} (napari-hdn)"
            assert widget.session is not None
        # The sample data's marks make the defaults right: its calibration stack for the noise model (not the
        # first layer, the stack of 60 different slices), and no ground truth among the training data.
        _, noise = viewer.window.add_plugin_dock_widget("napari-hdn", "Noise model")
        assert noise.stack_layer.currentText() == "nuclei calibration" and noise.fit_button.isEnabled()
        _, train = viewer.window.add_plugin_dock_widget("napari-hdn", "Train")
        offered = [train.layers.item(i).text() for i in range(train.layers.count())]
        assert offered == ["nuclei noisy stack", "nuclei noisy", "nuclei calibration"]
    finally:
        viewer.close()
