"""Status lines derived from the state (model, layers, method, jobs), never a log: each goes with its cause.

Early clicks show one line and no empty progress bar; a one-pass denoiser trained in the widget is saved into
its model's folder and comes back when that folder is loaded in a new viewer; the widget says which
checkpoint is loaded.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from qt_helpers import dock, noisy_stack, run_task

from napari_hdn.model.bundle import load_model

pytestmark = pytest.mark.qt


def statuses(widget) -> list[str]:
    return [task.status.text() for task in widget.tasks()]


def test_early_clicks_show_one_line_each_no_empty_bar_and_the_lines_go_when_a_model_arrives(
        viewer, trained_model_path, tmp_path, messages):
    viewer.add_image(noisy_stack(1)[0], name="noisy")
    widget = dock(viewer, "Restore")
    for click in (widget.suggest, widget.distill, lambda: widget.export.export(str(tmp_path / "m.zip")),
                  widget.suggest, widget.distill):  # twice: still one line each
        assert not click()
    assert widget.restore() is False
    for task in (widget.suggest_task, widget.one_pass.task, widget.export.task):
        assert "No model" in task.status.text()
        assert not task.bar_row.isVisibleTo(widget), task.doing  # a line, never an empty bar with Cancel
    assert not widget.preview_task.isVisibleTo(widget)

    widget.load_model(trained_model_path)
    assert not any("No model" in text for text in statuses(widget)), statuses(widget)
    assert "No model" not in widget.model_label.text()
    # Which checkpoint of the run folder is loaded: best, with its step.
    assert "Checkpoint: best" in widget.model_label.text() and "step" in widget.model_label.text()


def test_the_one_pass_line_follows_the_layers_the_method_and_the_model(
        qtbot, viewer, make_napari_viewer, trained_model_path, tmp_path, messages, monkeypatch):
    from napari_hdn._qt.one_pass import ONE_PASS

    run = tmp_path / "run"
    shutil.copytree(trained_model_path, run)  # the one-pass denoiser is saved into it
    viewer.add_image(noisy_stack(1)[0], name="noisy")
    widget = dock(viewer, "Restore")
    assert widget.load_model(run)
    widget.input_layer.set_layer("noisy")
    widget.one_pass.method.setCurrentText(ONE_PASS)
    assert not widget.restore()
    assert "no one-pass denoiser for every layer on" in widget.task.status.text()

    monkeypatch.setattr(widget.one_pass.distill_minutes, "value", lambda: 0.02)  # ~1 s instead of minutes
    assert run_task(qtbot, widget.one_pass.task, widget.distill) == "done"
    ready = widget.one_pass.task.status.text()
    assert "ready for every layer on" in ready and "saved in" in ready and "noisier" in ready
    assert "no one-pass denoiser" not in widget.task.status.text()  # its cause has gone

    widget.latent.toggles[0].setChecked(False)  # no denoiser for z1 off: "ready" goes
    assert "ready" not in widget.one_pass.task.status.text()
    assert not widget.restore()
    assert "no one-pass denoiser for z1 off" in widget.task.status.text()
    widget.latent.toggles[0].setChecked(True)
    assert "no one-pass denoiser" not in widget.task.status.text()
    assert "ready for every layer on" in widget.one_pass.task.status.text()

    widget.session.set_model(load_model(trained_model_path), "another model")  # without a one-pass denoiser
    assert "ready" not in widget.one_pass.task.status.text()
    assert not any("ready" in text for text in statuses(widget))

    # The denoiser trained here is in the run folder: a new viewer loading it restores in one pass.
    other = make_napari_viewer()
    other.add_image(noisy_stack(1)[0], name="noisy")
    again = dock(other, "Restore")
    assert again.load_model(run)
    assert "all-on" in again.session.model.direct_denoisers
    assert "ready for every layer on" in again.one_pass.task.status.text()
    again.input_layer.set_layer("noisy")
    again.one_pass.method.setCurrentText(ONE_PASS)
    assert run_task(qtbot, again.task, again.restore) == "done"
    assert np.isfinite(other.layers["noisy denoised (fast)"].data).all()
    assert len(messages) == 2 and all("no one-pass denoiser" in m for m in messages)  # the two clicks above


def test_a_fit_failure_goes_when_the_layers_change(viewer, messages):
    viewer.add_image(noisy_stack(1)[0], name="noisy")
    viewer.add_image(noisy_stack(1)[0] * 0.5, name="other")
    widget = dock(viewer, "Noise model")
    widget.set_source("pair")
    widget.noisy_layer.set_layer("noisy")
    widget.clean_layer.set_layer("noisy")
    assert not widget.fit()
    assert "same layer" in widget.task.status.text()
    widget.clean_layer.set_layer("other")
    assert widget.task.status.text() == ""
