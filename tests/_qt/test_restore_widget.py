"""The Restore widget: result layers, in-place updates, the latent-layer panel and its preview, cancel, bad choices."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from qt_helpers import WAIT_MS, dock, noisy_stack, run_task
from qtpy.QtWidgets import QCheckBox

from napari_hdn._qt.gui_words import gui_message, has_code
from napari_hdn._qt.restore_widget import PLANES_KEY, text_overlay
from napari_hdn.model.bundle import load_model

pytestmark = pytest.mark.qt

OUTPUTS = ("denoised", "variance", "uncertainty", "samples", "activations", "info maps")  # MMSE, ..., KL maps


@pytest.fixture
def restore_widget(viewer, trained_model_path, tmp_path):
    viewer.add_image(noisy_stack(1)[0], name="noisy", scale=(0.5, 0.25), translate=(3.0, 4.0),
                     metadata={"pixel_size_um": 0.25})
    widget = dock(viewer, "Restore")
    run = tmp_path / "run"
    shutil.copytree(trained_model_path, run)  # a one-pass denoiser trained here is saved into the model's folder
    assert widget.load_model(run)
    widget.input_layer.set_layer("noisy")
    widget.n_samples.setValue(6)
    widget.keep_samples.setValue(3)
    return widget


def test_restoration_adds_named_layers_placed_like_the_input(viewer, qtbot, restore_widget, messages):
    widget = restore_widget
    assert run_task(qtbot, widget.task, widget.restore) == "done"

    # Samples on a "sample" axis; activations and KL maps on a "detail layer" axis in front of it (length 1 there).
    expected_shapes = {"denoised": (64, 64), "variance": (64, 64), "uncertainty": (64, 64), "samples": (3, 64, 64),
                       "activations": (2, 1, 64, 64), "info maps": (2, 1, 64, 64)}
    for what in OUTPUTS:
        layer = viewer.layers[f"noisy {what}"]
        assert layer.data.shape == expected_shapes[what], what
        lead = layer.data.ndim - 2
        np.testing.assert_allclose(layer.scale, (1.0,) * lead + (0.5, 0.25))
        np.testing.assert_allclose(layer.translate, (0.0,) * lead + (3.0, 4.0))
        assert layer.metadata["pixel_size_um"] == 0.25
        assert layer.metadata["napari_hdn"]["source_layer"] == "noisy"
    assert viewer.layers["noisy samples"].axis_labels[0] == "sample"
    # Where the result is unsure, in the input's units: half the width of the samples' central 90 % interval.
    spread = viewer.layers["noisy uncertainty"]
    assert spread.metadata["napari_hdn"]["result"] == "90 % half-width" and not spread.visible
    assert (spread.data >= 0).all() and spread.data.max() > 0
    assert "'noisy uncertainty'" in widget.task.status.text() and "Estimated error" not in widget.task.status.text()
    assert spread.metadata["napari_hdn"]["uncertainty"] == {"variance includes": "the posterior spread of the samples"}
    assert viewer.layers["noisy activations"].axis_labels[:2] == ("detail layer", "sample")
    assert viewer.dims.axis_labels[:2] == ("detail layer", "sample")
    mmse = viewer.layers["noisy denoised"].data
    samples = viewer.layers["noisy samples"].data
    assert np.isfinite(mmse).all() and not np.allclose(samples[0], samples[1])
    assert viewer.layers["noisy info maps"].metadata[PLANES_KEY] == ["detail layer z1", "detail layer z2"]
    # Each layer's share of the information (mean KL of this image): in words, the value in the tooltip.
    assert all("% of the information" in t.text() and "nats" not in t.text() for t in widget.latent.toggles)
    assert all("KL divergence" in t.toolTip() and "'noisy'" in t.toolTip() for t in widget.latent.toggles)

    # Re-running updates the same layers in place.
    layers_before = {what: viewer.layers[f"noisy {what}"] for what in OUTPUTS}
    widget.keep_samples.setValue(2)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    assert len(viewer.layers) == 1 + len(OUTPUTS)
    for what, layer in layers_before.items():
        assert viewer.layers[f"noisy {what}"] is layer
    assert viewer.layers["noisy samples"].data.shape == (2, 64, 64)
    assert messages == []


def test_the_error_estimate_is_shown_when_asked(viewer, qtbot, restore_widget, messages):
    widget = restore_widget
    assert widget.check_error.isVisible() is widget.tta.isVisible() and not widget.check_error.isChecked()
    widget.check_error.setChecked(True)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    status = widget.task.status.text()
    assert "Estimated error \u00b1" in status and "dB" in status
    about = viewer.layers["noisy variance"].metadata["napari_hdn"]["uncertainty"]
    assert about["error_estimate"]["method"].startswith("Stein") and "simulated copy" in about["includes"]


def test_plane_labels_name_the_latent_layer_in_view(viewer, qtbot, restore_widget):
    widget = restore_widget
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    activations = viewer.layers["noisy activations"]
    overlay = text_overlay(viewer)
    viewer.layers.selection.active = activations
    assert not overlay.visible  # hidden layers are not labelled
    activations.visible = True
    viewer.dims.set_current_step(0, 1)
    assert overlay.visible and overlay.text.endswith("activations: detail layer z2")
    viewer.dims.set_current_step(0, 0)
    assert overlay.text.endswith("activations: detail layer z1")
    viewer.layers.selection.active = viewer.layers["noisy"]
    assert not overlay.visible


def test_latent_layer_toggles_preview_the_region_in_view(viewer, qtbot, restore_widget, trained_model_path, messages):
    widget = restore_widget
    assert widget.load_model(trained_model_path)  # a new model replaces the toggles (no stale ones left)
    toggles = [box for box in widget.latent.findChildren(QCheckBox) if box not in (widget.side_by_side, widget.second_opinion)]
    assert len(toggles) == 2
    toggles = widget.latent.toggles
    assert [t.text().split("   ")[0] for t in toggles] == ["z1 \u00b7 details of 2 px", "z2 \u00b7 details of 4 px"]
    assert all("information" in t.text() for t in toggles)  # from the training history until an image is restored
    assert all("latent layer" in t.toolTip() and "KL" in t.toolTip() for t in toggles)

    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(widget.preview_task.finished, timeout=WAIT_MS) as blocker:
            toggles[0].setChecked(False)  # debounced: starts a moment later
    assert not exceptions and blocker.args == ["done"]
    preview = viewer.layers["noisy preview"]
    assert preview.data.ndim == 2 and min(preview.data.shape) >= 4
    origin = preview.metadata["napari_hdn"]["origin"]
    np.testing.assert_allclose(preview.translate, (3.0 + 0.5 * origin[0], 4.0 + 0.25 * origin[1]))
    assert preview.metadata["napari_hdn"]["deactivated_layers"] == [1]
    first_preview = preview.data.copy()

    with qtbot.waitSignal(widget.preview_task.finished, timeout=WAIT_MS):
        toggles[0].setChecked(True)
    assert viewer.layers["noisy preview"] is preview  # updated in place
    assert not np.allclose(preview.data, first_preview)  # z1 on again changes the estimate

    toggles[1].setChecked(False)
    widget.activations.setChecked(False)
    assert run_task(qtbot, widget.task, lambda: widget.apply_button.click() or widget.task.running) == "done"
    assert viewer.layers["noisy denoised (no z2)"].metadata["napari_hdn"]["deactivated_layers"] == [2]
    assert messages == []


def test_cancel_adds_no_layers(viewer, qtbot, restore_widget, messages):
    widget = restore_widget
    widget.n_samples.setValue(5000)
    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(widget.task.finished, timeout=WAIT_MS) as blocker:
            assert widget.restore()
            widget.task.stop_button.click()
    assert not exceptions and blocker.args == ["cancelled"]
    assert [layer.name for layer in viewer.layers] == ["noisy"]
    assert messages == []


def test_bad_choices_show_a_message_and_change_nothing(viewer, qtbot, tmp_path, trained_model_path, messages):
    widget = dock(viewer, "Restore")
    assert not widget.restore()
    assert "No model" in messages[-1]

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text('{"format": "something else"}')
    assert not widget.load_model(bad)
    assert "not a napari-hdn model" in messages[-1]
    assert widget.session.model is None

    assert widget.load_model(trained_model_path)
    assert not widget.restore()
    assert "No input layer selected" in messages[-1]

    viewer.add_image(np.zeros((64, 64, 3), np.uint8), name="photo", rgb=True)
    widget.input_layer.set_layer("photo")
    assert not widget.restore()
    assert "RGB" in messages[-1]

    viewer.add_image(noisy_stack(1, size=3)[0], name="tiny")  # smaller than the network's stride (4)
    widget.input_layer.set_layer("tiny")
    assert not widget.restore()
    assert "smaller than this model's stride" in messages[-1]
    assert [layer.name for layer in viewer.layers] == ["photo", "tiny"]
    assert load_model(trained_model_path).step == widget.session.model.step
    assert len(messages) == 5


def test_samples_to_keep_never_exceed_the_samples_drawn(restore_widget):
    restore_widget.n_samples.setValue(2)
    assert restore_widget.keep_samples.value() == 2 and restore_widget.keep_samples.maximum() == 2
    restore_widget.n_samples.setValue(50)
    restore_widget.keep_samples.setValue(20)
    assert restore_widget.keep_samples.value() == 20


def test_the_suggestion_marks_noise_layers_and_applies_only_on_request(qtbot, restore_widget):
    from napari_hdn._qt.restore_widget import NOISE_MARK
    from napari_hdn.inference.suggest import DeactivationSuggestion, LayerVerdict

    widget = restore_widget
    assert not widget.use_suggestion_button.isEnabled()
    assert run_task(qtbot, widget.suggest_task, widget.suggest) == "done"
    assert widget.suggestion is not None
    assert widget.use_suggestion_button.isEnabled() == bool(widget.suggestion.layers)  # only with something to apply
    assert widget.latent.hint.text() == gui_message(widget.suggestion.summary)  # "detail layer", not "latent"
    assert "latent" not in widget.latent.hint.text()
    assert widget.latent.switched_off() == ()  # a suggestion alone switches nothing off
    # A suggestion of z1 (as on row-correlated noise): marked, and applied by the button.
    verdicts = tuple(LayerVerdict(k, k == 1, 0.3 if k == 1 else -0.1, 0.6, 0.9, 1.0, 0.1, f"reason {k}")
                     for k in range(1, len(widget.latent.toggles) + 1))
    widget._suggested((DeactivationSuggestion((1,), verdicts, (), (0, 0, 16, 16), 0.05), None))
    assert widget.latent.toggles[0].text().endswith(NOISE_MARK)
    assert not widget.latent.toggles[1].text().endswith(NOISE_MARK)
    assert widget.latent.toggles[0].toolTip() == "reason 1"
    widget.use_suggestion_button.click()
    assert widget.latent.switched_off() == (1,)
    assert run_task(qtbot, widget.task, widget.restore) == "done"  # the choice is recorded with the result
    recorded = widget.viewer.layers["noisy denoised (no z1)"].metadata["napari_hdn"]
    assert recorded["deactivated_layers"] == [1] and recorded["suggestion"]["layers"] == [1]


def test_the_second_opinion_follows_the_suggestion_when_ticked(qtbot, restore_widget):
    widget = restore_widget
    widget.second_opinion.setChecked(True)
    widget.n_samples.setValue(4)
    assert run_task(qtbot, widget.suggest_task, widget.suggest) == "done"
    hint = widget.latent.hint.text()
    assert hint.startswith(gui_message(widget.suggestion.summary))
    assert "The error estimate " in hint and " dB" in hint and "all layers on" in hint
    assert not has_code(hint)
    assert widget.suggest_task.status.text().startswith("Done: ")  # not the last progress line, gone stale
    assert "error estimate's opinion" in widget.suggest_task.status.text()
    widget.session.set_model(widget.session.model, "the same model, loaded again")
    assert widget.suggest_task.status.text() == "" and not widget.suggest_task.isVisibleTo(widget.body)
    assert widget.latent.switched_off() == ()  # it switches nothing off either


def test_one_pass_restoration_needs_a_denoiser_for_the_layers_and_can_train_one(
        qtbot, viewer, restore_widget, messages, monkeypatch, tmp_path):
    from napari_hdn._qt.one_pass import ONE_PASS

    widget = restore_widget
    widget.one_pass.method.setCurrentText(ONE_PASS)
    assert not widget.restore()  # no direct denoiser yet: says what to do, starts nothing
    assert "Train the one-pass denoiser" in widget.task.status.text()
    monkeypatch.setattr(widget.one_pass.distill_minutes, "value", lambda: 0.02)  # ~1 s instead of minutes
    assert run_task(qtbot, widget.one_pass.task, widget.distill) == "done"
    assert "all-on" in widget.session.model.direct_denoisers
    assert (tmp_path / "run" / "best" / "direct.safetensors").is_file()  # saved into the model's folder
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    mmse = viewer.layers["noisy denoised (fast)"]
    assert mmse.metadata["napari_hdn"]["method"] == "direct denoiser (one pass)"
    assert mmse.data.shape == viewer.layers["noisy"].data.shape and np.isfinite(mmse.data).all()


def test_a_no_model_message_goes_once_a_model_arrives(viewer, trained_model_path, messages):
    viewer.add_image(noisy_stack(1)[0], name="noisy")
    widget = dock(viewer, "Restore")
    assert not widget.restore()
    assert "No model" in widget.task.status.text()
    widget.session.set_model(load_model(trained_model_path), "trained in the Train widget")  # not through Restore
    assert widget.task.status.text() == ""
    assert "No model" not in widget.model_label.text()


def test_apply_to_whole_image_adds_a_layer_named_after_the_layers_off_and_keeps_the_others(
        viewer, qtbot, restore_widget, messages):
    widget = restore_widget
    widget.activations.setChecked(False)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    all_on = viewer.layers["noisy denoised"]
    all_on_data = all_on.data.copy()
    # The user's own layer that happens to have the name of the next result: never replaced.
    viewer.add_image(np.zeros((64, 64), np.float32), name="noisy variance (no z1)")

    with qtbot.waitSignal(widget.preview_task.finished, timeout=WAIT_MS):
        widget.latent.toggles[0].setChecked(False)
    assert run_task(qtbot, widget.task, lambda: widget.apply_button.click() or widget.task.running) == "done"
    assert viewer.layers["noisy denoised"] is all_on
    np.testing.assert_array_equal(all_on.data, all_on_data)
    assert all_on.metadata["napari_hdn"]["deactivated_layers"] == []
    assert not viewer.layers["noisy variance (no z1)"].data.any()
    # One number for the whole restoration: MMSE, variance and samples of z1 off are "... (no z1) [2]".
    z1_off = viewer.layers["noisy denoised (no z1) [2]"]
    assert z1_off.metadata["napari_hdn"]["deactivated_layers"] == [1]
    assert "noisy variance (no z1) [2]" in viewer.layers and "noisy samples (no z1) [2]" in viewer.layers
    assert "noisy denoised (no z1)" not in viewer.layers
    assert "(no z1) [2]" in widget.task.status.text()

    # The same restoration again (same input, layers and model) updates its own layers in place.
    n_layers = len(viewer.layers)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    assert len(viewer.layers) == n_layers and viewer.layers["noisy denoised (no z1) [2]"] is z1_off
    assert messages == []


def test_side_by_side_shows_the_preview_next_to_the_all_layers_on_mmse(viewer, qtbot, restore_widget, messages):
    from napari_hdn._qt.compare import grid_of

    widget = restore_widget
    widget.activations.setChecked(False)
    assert run_task(qtbot, widget.task, widget.restore) == "done"
    mmse = viewer.layers["noisy denoised"]
    variance = viewer.layers["noisy variance"]
    variance.visible = True  # the user looks at the variance too
    with qtbot.waitSignal(widget.preview_task.finished, timeout=WAIT_MS):
        widget.latent.toggles[0].setChecked(False)
    preview = viewer.layers["noisy preview"]
    grid = grid_of(viewer)
    assert not grid.enabled

    widget.side_by_side.setChecked(True)
    layers = list(viewer.layers)
    assert grid.enabled and {layer.name for layer in layers if layer.visible} == {preview.name, mmse.name}
    positions = {grid.position(layers.index(layer), layers) for layer in (preview, mmse)}
    assert positions == {(0, 0), (0, 1)}  # side by side, in one row
    assert "every layer on" in widget.preview_task.status.text()

    with qtbot.waitSignal(widget.preview_task.finished, timeout=WAIT_MS):  # a new preview stays side by side
        widget.latent.toggles[0].setChecked(True)
    assert grid.enabled and {layer.name for layer in viewer.layers if layer.visible} == {preview.name, mmse.name}

    widget.side_by_side.setChecked(False)
    assert not grid.enabled
    assert viewer.layers["noisy"].visible and variance.visible and mmse.visible and preview.visible

    widget.side_by_side.setChecked(True)
    widget.shutdown()  # closing the widget gives the viewer back as it was
    assert not grid.enabled and viewer.layers["noisy"].visible and variance.visible
    assert messages == []


def test_the_layers_a_model_found_holding_correlated_noise_open_unticked_with_a_line_saying_why(
        viewer, trained_model_path, messages):
    from napari_hdn.inference import DeactivationSuggestion

    viewer.add_image(noisy_stack(1)[0], name="noisy")
    widget = dock(viewer, "Restore")
    model = load_model(trained_model_path)
    found = DeactivationSuggestion((1,), (), (), (0, 0, 64, 64), 0.05, "correlation", True)
    model.noise_layers = {"layers": [1], "suggestion": found.to_metadata()}
    widget.session.set_model(model, "trained in the Train widget")
    assert [t.isChecked() for t in widget.latent.toggles] == [False, True]
    assert "z1 is switched off" in widget.latent.hint.text() and "correlated" in widget.latent.hint.text()
    model.noise_layers = None
    widget.session.set_model(model, "trained in the Train widget")  # the line goes with its cause
    assert all(t.isChecked() for t in widget.latent.toggles)
    assert "switched off" not in widget.latent.hint.text()
