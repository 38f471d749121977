"""The Noise model widget: fits from layers, known parameters, the plot, files, cancel and bad choices."""

from __future__ import annotations

import re

import numpy as np
import pytest
from qt_helpers import WAIT_MS, dock, noisy_stack, run_task

from napari_hdn.plugin.layer_roles import CALIBRATION, with_role
from napari_hdn.noise_models import (
    GaussianMixtureNoiseModel,
    HistogramNoiseModel,
    PoissonGaussianNoiseModel,
)

pytestmark = pytest.mark.qt


def calibration_stack(frames: int = 6) -> np.ndarray:
    rng = np.random.default_rng(1)
    clean = np.linspace(0, 30, 64 * 64).reshape(64, 64)
    return np.stack([rng.poisson(clean) + rng.normal(0, 3, clean.shape) + 100 for _ in range(frames)]).astype(
        np.float32
    )


def test_gmm_from_calibration_stack_plot_save_and_load(viewer, qtbot, tmp_path, messages):
    viewer.add_image(calibration_stack(), name="calibration")
    widget = dock(viewer, "Noise model")
    widget.set_source("stack")
    widget.set_kind("gmm")
    widget.steps.setValue(30)
    widget.stack_layer.set_layer("calibration")

    assert run_task(qtbot, widget.task, widget.fit) == "done"

    model = widget.session.noise_model
    assert isinstance(model, GaussianMixtureNoiseModel)
    assert "calibration" in widget.session.noise_model_source
    top, bottom = widget.plot.axes
    assert len(top.lines) == 5 and len(top.patches) > 0  # model curves at 5 signal levels over the histograms
    assert len(bottom.lines) == 2  # data and model variance
    # In plain words; the precise form in the tooltip.
    assert "learned from the data" in widget.description.text() and "Gaussian mixture" not in widget.description.text()
    assert "Gaussian mixture" in widget.description.toolTip()

    path = tmp_path / "nm.npz"
    assert widget.save_noise_model(path)
    widget.session.set_noise_model(None, "")
    assert widget.load_noise_model(path)
    loaded = widget.session.noise_model
    x, s = np.array([95.0, 110.0, 125.0]), np.array([100.0, 110.0, 120.0])
    np.testing.assert_allclose(loaded.log_likelihood(x, s).numpy(), model.log_likelihood(x, s).numpy(), rtol=1e-6)
    assert len(widget.plot.axes[0].lines) == 5  # a loaded model is drawn on its own
    assert messages == []


def test_histogram_from_noisy_and_pseudo_clean_pair(viewer, qtbot, messages):
    noisy = noisy_stack(1)[0]
    viewer.add_image(noisy, name="noisy")
    viewer.add_image(np.full_like(noisy, 0) + noisy.mean(), name="flat")
    yy, xx = np.mgrid[:64, :64]
    viewer.add_image((100 + 30 * np.sin(yy / 6.0) ** 2 * np.cos(xx / 9.0) ** 2).astype(np.float32), name="clean")
    widget = dock(viewer, "Noise model")
    widget.set_source("pair")
    widget.set_kind("histogram")
    widget.noisy_layer.set_layer("noisy")
    widget.clean_layer.set_layer("clean")

    assert run_task(qtbot, widget.task, widget.fit) == "done"
    assert isinstance(widget.session.noise_model, HistogramNoiseModel)
    assert messages == []


def test_known_poisson_gaussian_parameters(viewer, messages):
    viewer.add_image(calibration_stack(2), name="calibration")
    widget = dock(viewer, "Noise model")
    widget.set_source("known")
    widget.known_kind.setCurrentIndex(0)
    # Nothing pre-filled (no example values that look like the camera's): "Use these parameters" waits for them.
    assert [box.text() for box in (widget.gain, widget.offset, widget.read_sigma)] == ["not set"] * 3
    assert not widget.fit_button.isEnabled() and "not set" in widget.fit_hint.text()
    widget.gain.setValue(2.0)
    widget.offset.setValue(100.0)
    assert not widget.fit_button.isEnabled()
    widget.read_sigma.setValue(4.0)
    assert widget.fit_button.isEnabled() and widget.fit_hint.isHidden()  # the hint goes with its cause

    assert widget.fit()
    model = widget.session.noise_model
    assert isinstance(model, PoissonGaussianNoiseModel)
    assert (model.gain, model.offset, model.read_sigma) == (2.0, 100.0, 4.0)
    assert widget.session.noise_model_source == "known parameters"
    # No data to compare with: the model is drawn over the calibration layer's intensities.
    assert len(widget.plot.axes[0].lines) == 5
    assert messages == []


def test_cancel_leaves_the_noise_model_unchanged(viewer, qtbot, messages):
    viewer.add_image(calibration_stack(), name="calibration")
    widget = dock(viewer, "Noise model")
    widget.set_source("stack")
    widget.stack_layer.set_layer("calibration")
    widget.steps.setValue(5000)  # progress every 50 steps; the whole fit would take far longer than the test

    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(widget.task.finished, timeout=WAIT_MS) as blocker:
            assert widget.fit()
            qtbot.waitUntil(lambda: widget.task.bar.maximum() > 0 and widget.task.bar.value() > 0, timeout=WAIT_MS)
            widget.task.stop_button.click()
    assert not exceptions
    assert blocker.args == ["cancelled"]
    assert widget.session.noise_model is None
    assert "cancelled" in widget.task.status.text()
    assert messages == []


def test_bad_choices_show_a_message_and_change_nothing(viewer, qtbot, tmp_path, messages):
    widget = dock(viewer, "Noise model")
    widget.set_source("stack")
    assert not widget.fit()  # no layer at all
    assert "No calibration stack layer selected" in messages[-1]

    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="photo", rgb=True)
    widget.stack_layer.set_layer("photo")
    assert not widget.fit()
    assert "RGB" in messages[-1] and "Split RGB" in messages[-1]

    viewer.add_image(noisy_stack(1)[0], name="single image")
    widget.stack_layer.set_layer("single image")
    assert run_task(qtbot, widget.task, widget.fit) == "failed"  # the core's check, reported from the worker
    assert "stack" in messages[-1] and "repeated acquisitions" in messages[-1]

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    assert not widget.load_noise_model(foreign)
    assert not widget.save_noise_model(tmp_path / "none.npz")
    assert "no noise model to save" in messages[-1]
    assert not (tmp_path / "none.npz").exists()
    assert widget.session.noise_model is None
    assert len(messages) == 5


def test_every_percentage_shown_comes_with_the_time_left(viewer, qtbot, messages, monkeypatch):
    viewer.add_image(calibration_stack(), name="calibration")
    widget = dock(viewer, "Noise model")
    widget.set_source("stack")
    widget.stack_layer.set_layer("calibration")
    widget.set_kind("histogram")  # its fit reports no time left of its own: the panel estimates it
    shown: list[str] = []
    show_progress = widget.task.show_progress

    def record(event):
        show_progress(event)
        shown.append(widget.task.bar.format())

    monkeypatch.setattr(widget.task, "show_progress", record)
    assert run_task(qtbot, widget.task, widget.fit) == "done"
    assert shown[0] == "0% - estimating time left"
    assert all(re.fullmatch(r"\d+% - (\d\d:\d\d left|estimating time left)", text) for text in shown), shown


def test_the_calibration_stack_is_chosen_explicitly_or_is_the_marked_one(viewer, qtbot, messages):
    # As the nuclei sample opens: a stack of 60 different slices first; it must not be taken as repeats.
    viewer.add_image(noisy_stack(4), name="nuclei noisy stack")
    widget = dock(viewer, "Noise model")
    widget.set_source("stack")
    assert widget.stack_layer.layer() is None and widget.stack_layer.currentText() == "Choose the calibration stack"
    assert not widget.fit_button.isEnabled()
    assert not widget.fit_hint.isHidden() and "Choose the calibration stack" in widget.fit_hint.text()
    widget.fit_button.click()
    assert not widget.task.running and widget.session.noise_model is None

    # The sample data's calibration stack is marked as such: it becomes the choice, and Fit is possible.
    viewer.add_image(calibration_stack(), name="nuclei calibration", metadata=with_role({}, CALIBRATION))
    assert widget.stack_layer.currentText() == "nuclei calibration"
    assert widget.fit_button.isEnabled() and widget.fit_hint.isHidden()
    viewer.add_image(noisy_stack(1)[0], name="another image")  # a new layer does not change the choice
    assert widget.stack_layer.currentText() == "nuclei calibration"

    widget.set_source("pair")  # the pair needs both layers chosen, too
    assert widget.noisy_layer.layer() is None and not widget.fit_button.isEnabled()
    widget.noisy_layer.set_layer("another image")
    widget.clean_layer.set_layer("nuclei calibration")
    assert widget.fit_button.isEnabled()
    widget.set_source("known")
    assert not widget.fit_button.isEnabled()  # the camera's values are not set yet
    widget.known_kind.setCurrentIndex(1)
    widget.sigma.setValue(3.0)
    assert widget.fit_button.isEnabled()
    assert messages == []


def test_a_stack_that_is_not_static_is_warned_about_in_the_widget(viewer, qtbot, messages):
    rng = np.random.default_rng(1)
    clean = np.linspace(0, 30, 64 * 64).reshape(64, 64)
    drifting = np.stack([clean + d + rng.normal(0, 3, clean.shape) + 100 for d in np.linspace(-1.3, 1.3, 8)])
    viewer.add_image(drifting.astype(np.float32), name="drifting")  # the brightness drifts: not quite static
    widget = dock(viewer, "Noise model")
    widget.set_source("stack")
    widget.set_kind("gaussian")
    widget.stack_layer.set_layer("drifting")
    assert widget.data_warning.isHidden()

    assert run_task(qtbot, widget.task, widget.fit) == "done"
    assert widget.session.noise_model is not None
    assert not widget.data_warning.isHidden() and "not quite static" in widget.data_warning.text()

    viewer.add_image(calibration_stack(), name="static")
    widget.stack_layer.set_layer("static")
    assert run_task(qtbot, widget.task, widget.fit) == "done"
    assert widget.data_warning.isHidden()  # a new fit clears the old warning
    assert messages == []


def camera_images(n: int = 4, size: int = 96) -> np.ndarray:
    """Ordinary noisy images (different content, no repeats) of a camera with gain 2, offset 100, read sigma 3."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:size, :size]
    clean = np.stack([20 * np.sin(yy / (7.0 + i)) ** 2 * np.cos(xx / (9.0 + i)) ** 2 + 2 for i in range(n)])
    return (2.0 * rng.poisson(clean) + rng.normal(0, 3, clean.shape) + 100).astype(np.float32)


def test_a_noise_model_from_the_noisy_images_alone(viewer, qtbot, messages):
    viewer.add_image(camera_images(), name="noisy images")
    widget = dock(viewer, "Noise model")
    widget.set_source("noisy")
    assert not widget.fit_button.isEnabled() and "noisy images" in widget.fit_hint.text()  # nothing silently chosen
    assert widget.kind.isHidden()  # an estimate is always Poisson-Gaussian
    widget.estimate_layer.set_layer("noisy images")
    assert widget.fit_button.isEnabled()

    assert run_task(qtbot, widget.task, widget.fit) == "done"

    model = widget.session.noise_model
    assert isinstance(model, PoissonGaussianNoiseModel) and model.provenance["source"] == "estimated"
    assert model.gain == pytest.approx(2.0, rel=0.3)
    assert "estimated from the noisy images" in widget.session.noise_model_source
    assert len(widget.plot.axes[0].lines) == 5  # the model's own curves
    assert messages == []


def test_bootstrap_needs_a_model_and_fits_a_gmm_to_its_restorations(viewer, qtbot, messages):
    from factories import tiny_model

    viewer.add_image(camera_images(1, 64)[0], name="noisy")
    widget = dock(viewer, "Noise model")
    widget.set_source("bootstrap")
    widget.bootstrap_layer.set_layer("noisy")
    assert not widget.fit_button.isEnabled() and "model first" in widget.fit_hint.text()
    assert widget.kind.currentData() == "gmm"
    widget.steps.setValue(20)
    widget.session.set_model(tiny_model(data_mean=110.0, data_std=10.0), "test")
    assert widget.fit_button.isEnabled()

    assert run_task(qtbot, widget.task, widget.fit) == "done"

    model = widget.session.noise_model
    assert isinstance(model, GaussianMixtureNoiseModel) and model.provenance["source"] == "bootstrapped"
    assert "bootstrapped" in widget.session.noise_model_source
    assert len(widget.plot.axes[1].lines) == 2  # data and model variance: the restoration is the signal
    assert messages == []
