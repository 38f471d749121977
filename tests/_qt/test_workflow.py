"""The whole workflow by clicking: fit a noise model, train, stop, restore, switch a latent layer off."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import TINY, TINY_PATCH, WAIT_MS, dock, noisy_stack, run_task

pytestmark = pytest.mark.qt


def test_fit_train_stop_restore_toggle(viewer, qtbot, tmp_path, messages):
    calibration = np.concatenate([noisy_stack(1, seed=seed) for seed in range(10, 16)])  # 6 repeats, one scene
    viewer.add_image(calibration, name="calibration")
    viewer.add_image(noisy_stack(4), name="noisy", scale=(2.0, 0.5, 0.5))
    noise_widget, train_widget, restore_widget = (dock(viewer, name) for name in ("Noise model", "Train", "Restore"))

    # 1. Noise model from the calibration stack (the data's noise is Gaussian, sigma 3).
    noise_widget.set_source("stack")
    noise_widget.set_kind("gaussian")
    noise_widget.stack_layer.set_layer("calibration")
    assert run_task(qtbot, noise_widget.task, noise_widget.fit) == "done"
    assert noise_widget.session.noise_model.sigma == pytest.approx(3.0, rel=0.1)
    assert "calibration" in train_widget.noise_label.text()  # shared through the viewer's session

    # 2. Train in the background, then stop.
    train_widget.set_overrides(**TINY)
    train_widget.patch_size.setValue(TINY_PATCH)
    train_widget.budget_kind.setCurrentText("minutes")
    train_widget.budget.setValue(10.0)
    train_widget.layers.set_checked(["noisy"])
    train_widget.output.setText(str(tmp_path / "run"))
    train_widget.live_preview.setChecked(False)
    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(train_widget.task.finished, timeout=WAIT_MS):
            assert train_widget.start()
            qtbot.waitUntil(lambda: len(train_widget.loss_plot.steps) >= 5, timeout=WAIT_MS)
            train_widget.task.stop_button.click()
    assert not exceptions
    model = train_widget.session.model
    assert model is not None and model.noise_model is noise_widget.session.noise_model
    assert "From: trained on 'noisy'" in restore_widget.model_label.text()

    # 3. Restore the whole stack, plane by plane (an explicit choice: the plane in view is the default).
    restore_widget.input_layer.set_layer("noisy")
    restore_widget.target.choice.setCurrentText("Whole stack")
    restore_widget.n_samples.setValue(3)
    restore_widget.keep_samples.setValue(2)
    assert run_task(qtbot, restore_widget.task, restore_widget.restore) == "done"
    assert viewer.layers["noisy denoised"].data.shape == (4, 64, 64)
    assert viewer.layers["noisy samples"].data.shape == (2, 4, 64, 64)
    assert viewer.layers["noisy info maps"].data.shape == (2, 1, 4, 64, 64)  # its own slider: "detail layer"
    np.testing.assert_allclose(viewer.layers["noisy samples"].scale, (1.0, 2.0, 0.5, 0.5))

    # 4. Switch z1 off: a preview of the plane in view, then the whole stack.
    viewer.dims.set_point(viewer.dims.ndim - 3, 2 * 2.0)  # the stack's axis (results added axes in front): plane 2
    with qtbot.waitSignal(restore_widget.preview_task.finished, timeout=WAIT_MS) as blocker:
        restore_widget.latent.toggles[0].setChecked(False)
    assert blocker.args == ["done"]
    preview = viewer.layers["noisy preview"]
    assert preview.metadata["napari_hdn"]["origin"][0] == 2  # the plane in view
    assert preview.data.ndim == 2
    before = viewer.layers["noisy denoised"].data.copy()
    restore_widget.activations.setChecked(False)
    assert run_task(qtbot, restore_widget.task, restore_widget.restore) == "done"
    after = viewer.layers["noisy denoised (no z1)"]  # a new layer: the all-on result stays for comparison
    assert after.metadata["napari_hdn"]["deactivated_layers"] == [1]
    assert not np.allclose(after.data, before)
    np.testing.assert_array_equal(viewer.layers["noisy denoised"].data, before)
    assert messages == []
