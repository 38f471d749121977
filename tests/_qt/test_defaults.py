"""Sensible defaults and controls that only offer what applies (issue 27): layer pickers without ground truth
and results, sampling settings hidden in one-pass mode, "Apply suggestion" only with something to apply,
"Save results..." without results says so."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import dock, noisy_stack
from qtpy.QtWidgets import QDialog

from napari_hdn._qt import save_results
from napari_hdn.plugin.layer_roles import GROUND_TRUTH, PREVIEW, RESULT, with_role

pytestmark = pytest.mark.qt


def items(choice) -> list[str]:
    return [choice.itemText(i) for i in range(choice.count())]


def test_layer_pickers_offer_noisy_data_not_ground_truth_or_results(viewer):
    viewer.add_image(noisy_stack(1)[0], name="noisy")
    viewer.add_image(noisy_stack(1)[0], name="truth", metadata=with_role({}, GROUND_TRUTH))
    viewer.add_image(noisy_stack(1)[0], name="noisy denoised", metadata=with_role({}, RESULT))
    viewer.add_image(noisy_stack(1)[0], name="noisy preview", metadata=with_role({}, PREVIEW))
    restore = dock(viewer, "Restore")
    noise = dock(viewer, "Noise model")
    assert items(restore.input_layer) == ["noisy"]
    for choice in (noise.stack_layer, noise.noisy_layer, noise.estimate_layer, noise.bootstrap_layer):
        assert items(choice)[1:] == ["noisy"]
    # A restoration (or the ground truth) is a fair pseudo-clean image; a preview is not.
    assert items(noise.clean_layer)[1:] == ["noisy", "truth", "noisy denoised"]
    viewer.layers["truth"].metadata = {}  # the list follows the layers (on the next change)
    viewer.add_image(noisy_stack(1)[0], name="second")
    assert items(restore.input_layer) == ["noisy", "truth", "second"]


def test_one_pass_mode_hides_the_sampling_settings(viewer, trained_model_path):
    from napari_hdn._qt.one_pass import ONE_PASS, SAMPLES

    widget = dock(viewer, "Restore")
    sampling = (widget.n_samples, widget.keep_samples, widget.tta, widget.activations)
    assert all(box.isVisibleTo(widget) for box in sampling)
    widget.one_pass.method.setCurrentText(ONE_PASS)
    assert not any(box.isVisibleTo(widget) for box in sampling)
    assert not widget._form.labelForField(widget.n_samples).isVisibleTo(widget)
    widget.one_pass.method.setCurrentText(SAMPLES)
    assert all(box.isVisibleTo(widget) for box in sampling)


def test_apply_suggestion_only_when_it_switches_something_off(viewer, trained_model_path):
    from napari_hdn.inference.suggest import DeactivationSuggestion, LayerVerdict

    widget = dock(viewer, "Restore")
    assert widget.load_model(trained_model_path)
    verdicts = tuple(LayerVerdict(k, False, -0.1, 0.6, 0.9, 1.0, 0.1, f"reason {k}") for k in (1, 2))
    widget._suggested((DeactivationSuggestion((), verdicts, (), (0, 0, 16, 16), 0.05), None))
    assert not widget.use_suggestion_button.isEnabled()  # "keep every layer on": nothing to apply
    widget._suggested((DeactivationSuggestion((1,), verdicts, (), (0, 0, 16, 16), 0.05), None))
    assert widget.use_suggestion_button.isEnabled()


def test_save_results_without_results_says_so_instead_of_an_empty_dialog(viewer, monkeypatch):
    viewer.add_image(noisy_stack(1)[0], name="noisy")
    widget = dock(viewer, "Restore")
    opened = []
    monkeypatch.setattr(save_results.SaveResultsDialog, "exec", lambda dialog: opened.append(dialog) or 0)
    assert not widget.save_dialog()
    assert not opened and "No results to save yet" in widget.task.status.text()
    viewer.add_image(np.zeros((8, 8), np.float32), name="noisy denoised", metadata=with_role({}, RESULT))
    assert not widget.save_dialog()  # cancelled
    assert len(opened) == 1 and isinstance(opened[0], QDialog)
