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
    finally:
        viewer.close()
