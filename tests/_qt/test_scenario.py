"""Issue 27's walk-through at 1366 x 768, as a new user clicks it, wrong-order clicks included.

Calibrate (from the noisy images, then from a calibration stack), train, restore the plane in view, suggest,
switch z1 off, one-pass restore, save, export; then load the run folder in a new viewer. At each step: the
status lines (each derived from the state, gone with its cause), no command or API call in anything shown,
the default restore target and its estimated time, the sliders of the result layers, and that the one-pass
denoiser trained in the GUI comes back with the run folder. Everything tiny: the whole walk takes seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import TINY, TINY_PATCH, WAIT_MS, click_refused_or_run, dock, run_task

from napari_hdn._qt.gui_words import has_code
from napari_hdn._qt.launch import WIDGETS
from napari_hdn._qt.one_pass import ONE_PASS
from napari_hdn._qt.restore_target import PLANE_IN_VIEW, WHOLE_STACK
from napari_hdn._qt.save_results import save_layers

pytestmark = pytest.mark.qt

SCREEN = (1366, 768)
PLANE = 5


def camera(clean: np.ndarray, seed: int) -> np.ndarray:
    """A camera of gain 2, dark offset 100 and read noise 3 looking at ``clean`` (photons)."""
    rng = np.random.default_rng(seed)
    return (2.0 * rng.poisson(clean) + rng.normal(0, 3, clean.shape) + 100).astype(np.float32)


def scenes(n: int, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.stack([20 * np.sin(yy / (7.0 + i)) ** 2 * np.cos(xx / (9.0 + i)) ** 2 + 2 for i in range(n)])


def lines(*widgets) -> list[str]:
    """Every status line the widgets show now (not the empty ones)."""
    shown = [task.status.text() for widget in widgets for task in widget.tasks()]
    return [text for text in shown if text]


def assert_plain(*widgets) -> None:
    """No status line names a command, a flag or a function call."""
    coded = [text for text in lines(*widgets) if has_code(text)]
    assert coded == [], coded


def test_the_walk_through_of_a_new_user_on_a_laptop(make_napari_viewer, qtbot, tmp_path, messages, monkeypatch):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(camera(np.repeat(scenes(1), 8, axis=0), 1), name="calibration")  # 8 repeats of one scene
    viewer.add_image(camera(scenes(12), 2), name="stack")  # 12 different planes
    noise, train, restore = (dock(viewer, name) for name in WIDGETS)
    window = viewer.window._qt_window
    window.resize(*SCREEN)
    qtbot.wait(50)
    assert (window.width(), window.height()) == SCREEN

    # Wrong order: restore, save, suggest and export before there is a model; train before a noise model.
    restore.input_layer.set_layer("stack")
    assert not restore.restore()
    assert "No model" in restore.task.status.text() and "Train widget" in restore.task.status.text()
    assert not restore.save_dialog()  # no dialog: one line instead, on the same panel
    assert restore.task.status.text().startswith("No results to save yet")
    assert not restore.suggest()
    assert "No model" in restore.suggest_task.status.text()
    assert not restore.use_suggestion_button.isEnabled()
    assert not restore.suggest_task.bar_row.isVisibleTo(restore)  # a line, no empty progress bar with Cancel
    train.layers.set_checked(["stack"])
    assert not train.start()
    assert "No noise model" in train.task.status.text() and "Noise model widget" in train.task.status.text()
    # The calibration stack widget refuses the stack of different planes, naming the source to choose instead.
    noise.set_source("stack")
    noise.set_kind("gaussian")
    noise.stack_layer.set_layer("stack")
    click_refused_or_run(qtbot, noise.task, noise.fit)
    assert "Noisy images only" in noise.task.status.text()
    assert_plain(noise, train, restore)

    # Calibrate from the noisy images, then from the calibration stack (the refusal goes with its cause).
    noise.set_source("noisy")
    assert noise.task.status.text() == ""
    noise.estimate_layer.set_layer("stack")
    assert run_task(qtbot, noise.task, noise.fit) == "done"
    assert "estimated from the noisy images" in noise.session.noise_model_source
    noise.set_source("stack")
    noise.stack_layer.set_layer("calibration")
    assert run_task(qtbot, noise.task, noise.fit) == "done"
    assert "calibration" in train.noise_label.text()

    # Train (a few steps), with the live preview; it is hidden once training ends.
    train.set_overrides(**TINY)
    train.patch_size.setValue(TINY_PATCH)
    train.budget_kind.setCurrentIndex(train.budget_kind.findData("steps"))
    train.budget.setValue(8)
    run = tmp_path / "run"
    train.output.setText(str(run))
    assert run_task(qtbot, train.task, train.start) == "done"
    assert "No noise model" not in train.task.status.text()
    qtbot.waitUntil(lambda: not train.preview_task.running, timeout=WAIT_MS)
    previews = [layer for layer in viewer.layers if layer.name.endswith("training preview")]
    assert previews and not any(layer.visible for layer in previews)
    # The model arrived: the Restore widget's "No model" lines have gone; it says which checkpoint it has.
    assert not any("No model" in text for text in lines(restore)), lines(restore)
    assert "Checkpoint:" in restore.model_label.text() and "step" in restore.model_label.text()

    # Restore: the plane in view by default, its time known after a first restoration.
    assert restore.target.isVisibleTo(restore) and restore.target.choice.currentText() == PLANE_IN_VIEW
    assert "known after the first restoration" in restore.target.estimate.text()
    restore.n_samples.setValue(4)
    restore.keep_samples.setValue(3)
    viewer.dims.set_current_step(0, PLANE)
    assert run_task(qtbot, restore.task, restore.restore) == "done"
    mmse = viewer.layers[f"stack denoised (plane {PLANE})"]
    assert mmse.data.shape == (1, 64, 64) and f"'stack denoised (plane {PLANE})'" in restore.task.status.text()
    assert "Estimated time for the plane in view: about" in restore.target.estimate.text()
    restore.target.choice.setCurrentText(WHOLE_STACK)
    assert "Estimated time for the whole stack: about" in restore.target.estimate.text()
    restore.target.choice.setCurrentText(PLANE_IN_VIEW)
    # Samples and detail layers on sliders of their own, drawn at the plane in view.
    samples = viewer.layers[f"stack samples (plane {PLANE})"]
    kl_maps = viewer.layers["stack info maps"]
    assert samples.axis_labels[0] == "sample" and kl_maps.axis_labels[:2] == ("detail layer", "sample")
    assert viewer.dims.axis_labels[:3] == ("detail layer", "sample", "plane")
    samples.visible = kl_maps.visible = True
    viewer.dims.set_current_step(1, 2)  # the third sample
    assert viewer.dims.current_step[2] == PLANE  # the plane stays
    assert not samples._slice.empty and not kl_maps._slice.empty
    np.testing.assert_array_equal(samples._slice.image.raw, samples.data[2, 0])

    # Which layers hold noise: "Apply suggestion" only when it switches something off.
    assert run_task(qtbot, restore.suggest_task, restore.suggest) == "done"
    assert "latent" not in restore.latent.hint.text()  # the panel's word: "detail layer"
    off = set(restore.suggestion.layers) - set(restore.session.model.trained_deactivated)
    assert restore.use_suggestion_button.isEnabled() == bool(off)
    # Switch z1 off: a preview of the region in view, then the plane, into a layer of its own.
    with qtbot.waitSignal(restore.preview_task.finished, timeout=WAIT_MS):
        restore.latent.toggles[0].setChecked(False)
    assert run_task(qtbot, restore.task, restore.restore) == "done"
    assert f"stack denoised (no z1; plane {PLANE})" in viewer.layers and mmse.name in viewer.layers
    restore.latent.toggles[0].setChecked(True)

    # Export and Fast before there is a one-pass denoiser: both name the button that trains one.
    assert not restore.export.export(str(tmp_path / "m.zip"))
    assert "'Train the one-pass denoiser'" in restore.export.task.status.text()
    restore.one_pass.method.setCurrentText(ONE_PASS)
    assert not restore.restore()
    assert "'Train the one-pass denoiser'" in restore.task.status.text()
    assert not restore.n_samples.isVisibleTo(restore)  # Fast: no sampling settings
    assert_plain(noise, train, restore)
    monkeypatch.setattr(restore.one_pass.distill_minutes, "value", lambda: 0.02)  # ~1 s instead of minutes
    assert run_task(qtbot, restore.one_pass.task, restore.distill) == "done"
    assert "ready for every layer on" in restore.one_pass.task.status.text()
    assert "no one-pass denoiser" not in restore.task.status.text()  # its cause has gone
    assert run_task(qtbot, restore.task, restore.restore) == "done"
    assert np.isfinite(viewer.layers[f"stack denoised (fast; plane {PLANE})"].data).all()

    # Save: the samples as drawn, without the axes that only put them on their slider.
    paths = save_layers(viewer, [mmse.name, samples.name], tmp_path / "results", "tiff")
    assert [p.name for p in paths] == [f"{mmse.name}.tif", f"{samples.name}.tif"]
    assert_plain(noise, train, restore)

    # A new viewer loading the run folder has the one-pass denoiser trained in the GUI, and says so.
    other = make_napari_viewer()
    other.add_image(camera(scenes(12), 2), name="stack")
    again = dock(other, "Restore")
    assert again.load_model(run)
    assert "all-on" in again.session.model.direct_denoisers
    assert "ready for every layer on" in again.one_pass.task.status.text()
    assert "Checkpoint:" in again.model_label.text()
    assert_plain(again)
    # One pop-up per refused click (restore and suggest without a model, train without a noise model, the
    # calibration stack of different planes, export and Fast without a one-pass denoiser), each naming what to
    # click and no command or call (checked by the fixture); none from the jobs that ran.
    assert len(messages) == 6
    assert [m.split(":")[0] for m in messages[:3]] == ["No model", "No model", "No noise model"]
    assert "Noisy images only" in messages[3]
    assert all("'Train the one-pass denoiser'" in m for m in messages[4:])
