"""The Train widget: background training with losses and preview, stop, closing, files and bad choices."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import TINY, TINY_PATCH, WAIT_MS, dock, noisy_stack, run_task

from napari_hdn._qt import train_widget
from napari_hdn.model.bundle import load_model
from napari_hdn.noise_models import GaussianNoiseModel
from napari_hdn.training.convergence import CONVERGED_ROUNDS

pytestmark = pytest.mark.qt


def tiny_train_widget(viewer, out, steps=8):
    """A docked Train widget set up to train the tiny network on the layer "noisy" for ``steps`` steps."""
    viewer.add_image(noisy_stack(), name="noisy", scale=(1.0, 0.5, 0.5), translate=(0.0, 10.0, 20.0))
    widget = dock(viewer, "Train")
    widget.session.set_noise_model(GaussianNoiseModel(3.0), "test")
    widget.set_overrides(**TINY)
    widget.patch_size.setValue(TINY_PATCH)
    widget.budget_kind.setCurrentIndex(widget.budget_kind.findData("steps"))
    widget.budget.setValue(steps)
    widget.layers.set_checked(["noisy"])
    widget.output.setText(str(out))
    return widget


def test_training_runs_in_the_background_with_losses_and_a_preview(viewer, qtbot, tmp_path, messages):
    widget = tiny_train_widget(viewer, tmp_path / "run", steps=8)
    assert "CPU" in widget.device.currentText() or "GPU" in widget.device.currentText()
    assert [box.text() for box in widget.layers_off] == ["z1", "z2"]

    assert run_task(qtbot, widget.task, widget.start) == "done"

    model = widget.session.model
    assert model is not None and model.step == 8 and model.n_layers == 2
    assert str(tmp_path / "run") in widget.session.model_source
    assert load_model(tmp_path / "run").step == 8  # the checkpoint on disk
    assert widget.loss_plot.steps == list(range(1, 9))
    assert len(widget.loss_plot.kl_layers[-1]) == 2
    assert len(widget.loss_plot.axes[1].lines) == 2  # one KL curve per latent layer
    assert widget.start_button.isEnabled()

    qtbot.waitUntil(lambda: "noisy training preview" in viewer.layers, timeout=WAIT_MS)
    preview = viewer.layers["noisy training preview"]
    assert preview.data.shape == (64, 64)  # the crop, at most 128 px, of the middle plane
    np.testing.assert_allclose(preview.scale, (0.5, 0.5))
    np.testing.assert_allclose(preview.translate, (10.0, 20.0))
    qtbot.waitUntil(lambda: not widget.preview_task.running, timeout=WAIT_MS)
    assert not preview.visible  # training has ended: the preview no longer covers the image
    assert messages == []


def test_the_preview_is_refreshed_while_training_runs(viewer, qtbot, tmp_path, messages, monkeypatch):
    monkeypatch.setattr(train_widget, "PREVIEW_MIN_INTERVAL_S", 0.05)  # the widget's pace, shortened
    widget = tiny_train_widget(viewer, tmp_path / "run", steps=100_000)
    name = "noisy training preview"
    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(widget.task.finished, timeout=WAIT_MS):
            assert widget.start()
            qtbot.waitUntil(lambda: name in viewer.layers, timeout=WAIT_MS)
            assert widget.task.running  # previewed from a snapshot, long before training ends
            assert viewer.layers[name].visible
            first = viewer.layers[name].data.copy()
            qtbot.waitUntil(lambda: not np.array_equal(viewer.layers[name].data, first), timeout=WAIT_MS)
            assert widget.task.running
            widget.stop()
        qtbot.waitUntil(lambda: not widget.preview_task.running, timeout=WAIT_MS)
    assert not exceptions
    assert not viewer.layers[name].visible  # stopped: the preview no longer covers the image
    assert messages == []


def test_stop_keeps_the_model_and_its_last_checkpoint(viewer, qtbot, tmp_path, messages):
    widget = tiny_train_widget(viewer, tmp_path / "run", steps=100_000)
    widget.live_preview.setChecked(False)
    restore = dock(viewer, "Restore")
    restore.threads = None  # chosen per job
    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(widget.task.finished, timeout=WAIT_MS) as blocker:
            assert widget.start()
            qtbot.waitUntil(lambda: len(widget.loss_plot.steps) >= 3, timeout=WAIT_MS)
            # While training runs, a restoration in the same viewer takes one core instead of all.
            assert restore.threads_for(restore.task) == 1
            widget.task.stop_button.click()
    assert not exceptions
    assert restore.threads_for(restore.task) is None
    assert blocker.args == ["done"]
    model = widget.session.model
    assert model is not None and 3 <= model.step < 100_000
    checkpoint = load_model(tmp_path / "run" / "last")
    assert checkpoint.step == model.step
    assert messages == []


def test_closing_the_widget_stops_training_cleanly(viewer, qtbot, tmp_path, messages):
    widget = tiny_train_widget(viewer, tmp_path / "run", steps=100_000)
    widget.live_preview.setChecked(False)
    with qtbot.captureExceptions() as exceptions:
        assert widget.start()
        qtbot.waitUntil(lambda: len(widget.loss_plot.steps) >= 2, timeout=WAIT_MS)
        viewer.window.remove_dock_widget(widget)  # what the dock's close button does
    assert not exceptions
    assert not widget.task.running
    assert widget.session.model is not None and widget.session.model.step >= 2
    assert load_model(tmp_path / "run" / "last").step == widget.session.model.step
    assert messages == []


def test_closing_the_viewer_stops_training_cleanly(make_napari_viewer, qtbot, tmp_path, messages):
    viewer = make_napari_viewer()
    widget = tiny_train_widget(viewer, tmp_path / "run", steps=100_000)
    widget.live_preview.setChecked(False)
    session = widget.session
    assert widget.start()
    qtbot.waitUntil(lambda: len(widget.loss_plot.steps) >= 2, timeout=WAIT_MS)
    viewer.close()
    assert session.model is not None
    assert load_model(tmp_path / "run" / "last").step == session.model.step


def test_save_and_load_model(viewer, qtbot, tmp_path, trained_model_path, messages):
    widget = dock(viewer, "Train")
    assert widget.load_model(trained_model_path)
    assert widget.session.model.step == 6
    assert "6" in widget.model_label.text()
    assert widget.save_model(tmp_path / "copy")
    assert load_model(tmp_path / "copy").step == 6
    assert not widget.save_model(tmp_path / "copy")  # never overwrites silently
    assert "already exists" in messages[-1]


def test_bad_choices_show_a_message_and_change_nothing(viewer, qtbot, tmp_path, trained_model_path, messages):
    widget = dock(viewer, "Train")
    widget.output.setText(str(tmp_path / "run"))
    assert not widget.start()
    assert "No training layer chosen" in messages[-1]

    viewer.add_image(np.zeros((64, 64, 3), np.uint8), name="photo", rgb=True)
    widget.layers.set_checked(["photo"])
    widget.session.set_noise_model(GaussianNoiseModel(3.0), "test")
    assert not widget.start()
    assert "RGB" in messages[-1]

    viewer.add_image(noisy_stack(), name="noisy")
    widget.layers.set_checked(["noisy"])
    widget.session.set_noise_model(None, "")
    assert not widget.start()
    assert "No noise model" in messages[-1]

    # Resuming a training with other settings than it was started with.
    widget.session.set_noise_model(GaussianNoiseModel(3.0), "test")
    widget.set_overrides(**{**TINY, "n_filters": 16})
    widget.patch_size.setValue(TINY_PATCH)
    widget.output.setText(str(trained_model_path))
    widget.existing.setCurrentIndex(list(widget.existing.itemData(i) for i in range(3)).index("resume"))
    before = load_model(trained_model_path / "last").step
    assert not widget.start()  # training_events checks its arguments when called: the job does not start
    assert "Cannot change ['n_filters'] when resuming" in messages[-1]
    assert load_model(trained_model_path / "last").step == before
    assert widget.session.model is None
    assert not (tmp_path / "run").exists()
    assert len(messages) == 4


def _validation(step: int, loss: float):
    from napari_hdn.training.events import TrainingEvent

    return TrainingEvent(stage="training", done=step, kind="validation", step=step, val_loss=loss)


def test_a_converged_hint_appears_when_the_validation_loss_stops_improving(viewer):
    widget = dock(viewer, "Train")
    rounds = CONVERGED_ROUNDS
    losses = [1.0, 0.8, 0.7] + [0.71 + 0.001 * i for i in range(rounds - 1)]
    for i, loss in enumerate(losses, start=1):
        widget._training_event(_validation(100 * i, loss))
    assert widget.converged_label.isHidden()  # one round short of the wait: still learning
    widget._training_event(_validation(100 * (len(losses) + 1), 0.75))
    assert not widget.converged_label.isHidden()
    assert f"has not improved for {rounds} rounds" in widget.converged_label.text()
    assert "you may stop" in widget.converged_label.text()
    widget._training_event(_validation(100 * (len(losses) + 2), 0.5))  # better again: the hint goes
    assert widget.converged_label.isHidden()


def test_start_from_a_trained_model_adapts_it_and_leaves_it(viewer, qtbot, tmp_path, trained_model_path, messages):
    parent_weights = (trained_model_path / "best" / "weights.safetensors").read_bytes()
    widget = tiny_train_widget(viewer, tmp_path / "adapted", steps=4)
    assert not widget.start_from.path.isVisibleTo(widget)  # hidden until asked for
    widget.start_from.enabled.setChecked(True)
    assert widget.start_from.path.isVisibleTo(widget)
    widget.start_from.path.setText(str(trained_model_path))
    widget.start_from.mode.setCurrentIndex(widget.start_from.mode.findData("gains"))

    assert run_task(qtbot, widget.task, widget.start) == "done"

    adapted = load_model(tmp_path / "adapted")
    assert adapted.parent["mode"] == "gains" and adapted.step == 4
    assert adapted.parent["path"] == str((trained_model_path / "best").resolve())
    assert widget.session.model is not None and widget.session.model.parent is not None
    assert (trained_model_path / "best" / "weights.safetensors").read_bytes() == parent_weights
    assert messages == []


def test_start_from_a_trained_model_needs_its_folder(viewer, qtbot, tmp_path, messages):
    widget = tiny_train_widget(viewer, tmp_path / "adapted", steps=4)
    widget.start_from.enabled.setChecked(True)
    assert not widget.start()
    assert messages and "No model to start from" in messages[-1]
    assert not (tmp_path / "adapted").exists()
def test_the_training_list_offers_only_noisy_data_and_shows_four_rows(viewer, messages):
    from napari_hdn._qt._layers import LIST_ROWS, show_image
    from napari_hdn.plugin.layer_roles import GROUND_TRUTH, PREVIEW, with_role

    noisy = viewer.add_image(noisy_stack(1)[0], name="noisy")
    viewer.add_image(noisy_stack(1)[0], name="ground truth", metadata=with_role({}, GROUND_TRUTH))
    widget = dock(viewer, "Train")
    # Results and previews as the plugin writes them (Restore widget, training preview): not training data.
    show_image(viewer, "noisy denoised", noisy.data, noisy, metadata={"napari_hdn": {"source_layer": "noisy"}})
    viewer.add_image(noisy.data[:16, :16], name="noisy preview", metadata=with_role({}, PREVIEW))
    viewer.add_image(noisy_stack(2), name="more noisy data")
    offered = [widget.layers.item(i).text() for i in range(widget.layers.count())]
    assert offered == ["noisy", "more noisy data"]

    row = widget.layers.sizeHintForRow(0)
    assert row > 0 and widget.layers.minimumHeight() >= LIST_ROWS * row >= 4 * row
    assert messages == []


def test_the_form_speaks_plainly_and_explains_in_tooltips(viewer):
    from qtpy.QtWidgets import QLabel

    widget = dock(viewer, "Train")
    labels = " | ".join(label.text() for label in widget.findChildren(QLabel))
    for jargon in ("If it holds a model", "Layers off in training", "Validation fraction", "Patch size"):
        assert jargon not in labels
    assert "validation" in widget.val_fraction.toolTip() and "patch" in widget.patch_size.toolTip()
    assert all("latent layer" in box.toolTip() for box in widget.layers_off)


def test_a_training_without_calibration_data_estimates_its_noise_model(viewer, qtbot, tmp_path, messages):
    from test_noise_model_widget import camera_images

    widget = tiny_train_widget(viewer, tmp_path / "auto", steps=6)
    viewer.add_image(camera_images(4, 64), name="camera")  # Poisson-Gaussian: its noise grows with the signal
    widget.layers.set_checked(["camera"])
    widget.session.set_noise_model(None, "")
    widget.noise_source.setCurrentIndex(widget.noise_source.findData("auto"))
    assert widget.training_arguments()["noise_model"] == "auto"

    assert run_task(qtbot, widget.task, widget.start) == "done", messages

    model = load_model(tmp_path / "auto")
    assert model.noise_model.provenance["source"] in ("estimated", "bootstrapped")
    assert messages == []
