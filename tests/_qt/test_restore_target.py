"""Restore works on the plane in view by default ("Whole stack" is a choice), says how long a job will take,
and its progress bar never runs backwards (issue 27)."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import dock, noisy_stack, run_task

from napari_hdn._qt._task import TaskPanel
from napari_hdn._qt.restore_target import PLANE_IN_VIEW, WHOLE_STACK
from napari_hdn.foundation.progress import Progress

pytestmark = pytest.mark.qt


def test_a_stack_is_restored_at_the_plane_in_view_unless_whole_stack_is_chosen(
        qtbot, viewer, trained_model_path, messages):
    viewer.add_image(noisy_stack(4), name="stack", scale=(2.0, 0.5, 0.5), translate=(10.0, 0.0, 0.0))
    widget = dock(viewer, "Restore")
    assert widget.load_model(trained_model_path)
    widget.input_layer.set_layer("stack")
    widget.n_samples.setValue(3)
    widget.keep_samples.setValue(2)
    assert widget.target.isVisibleTo(widget) and widget.target.choice.currentText() == PLANE_IN_VIEW
    assert "known after the first restoration" in widget.target.estimate.text()
    viewer.dims.set_current_step(0, 2)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    mmse = viewer.layers["stack denoised (plane 2)"]
    assert mmse.data.shape == (1, 64, 64)
    np.testing.assert_allclose(mmse.translate[0], 10.0 + 2 * 2.0)  # drawn at the plane it came from
    assert viewer.layers["stack samples (plane 2)"].data.shape == (2, 1, 64, 64)
    # Measured on that plane: the time of the whole stack is known before it starts.
    widget.target.choice.setCurrentText(WHOLE_STACK)
    assert "Estimated time for the whole stack: about" in widget.target.estimate.text()
    widget.activations.setChecked(False)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    assert viewer.layers["stack denoised"].data.shape == (4, 64, 64)
    viewer.add_image(noisy_stack(1)[0], name="flat")
    widget.input_layer.set_layer("flat")
    assert not widget.target.isVisibleTo(widget)  # one plane: nothing to choose
    assert messages == []


def test_the_progress_bar_never_runs_backwards(qtbot):
    panel = TaskPanel("Restoration")
    qtbot.addWidget(panel)
    panel.show_progress(Progress("restore", 9, 10))
    assert panel.bar.value() == 900
    panel.show_progress(Progress("activations", 0, 4))  # a second stage starts at 0
    assert panel.bar.value() == 900 and panel.bar.format().startswith("90%")
    panel.show_progress(Progress("activations", 4, 4))
    assert panel.bar.value() == 1000
