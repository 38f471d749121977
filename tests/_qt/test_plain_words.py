"""Plain words in the widgets (issue 27), with the precise terms kept in the tooltips."""

from __future__ import annotations

import pytest
from qt_helpers import dock

from napari_hdn._qt.gui_words import gui_message
from napari_hdn.noise_models import GaussianNoiseModel, PoissonGaussianNoiseModel

pytestmark = pytest.mark.qt

JARGON = ("p(x", "observation x", "signal s", "loss per pixel", "nats", "KL", "MMSE", "gmm", "variance floor",
          "polynomial degree")


def labels(plot) -> list[str]:
    return [text for ax in plot.axes for text in (ax.get_xlabel(), ax.get_ylabel(), ax.get_title())]


def test_plot_axes_are_plain_and_the_precise_terms_are_in_the_tooltips(viewer):
    from napari_hdn.noise_models.diagnostics import noise_model_curves

    noise = dock(viewer, "Noise model")
    model = PoissonGaussianNoiseModel(2.0, 100.0, 3.0)
    c = noise_model_curves(model, (100.0, 160.0))
    noise.plot.show_model_only(c.signal, c.variance, c.signal_levels, c.observation_grid, c.density)
    train = dock(viewer, "Train")
    train.loss_plot.add_step(1, 2.0, 1.5, 0.5, [0.3, 0.2])
    train.loss_plot.add_validation(1, 2.1)
    train.loss_plot.redraw()
    for plot in (noise.plot, train.loss_plot):
        shown = " ".join(labels(plot))
        assert shown.strip() and not any(word in shown for word in JARGON), shown
    assert "measured value" in labels(noise.plot) and "true brightness" in labels(noise.plot)
    assert "training error" in labels(train.loss_plot) and "information per detail layer" in labels(train.loss_plot)
    assert "p(x | s)" in noise.plot.toolTip() and "nats per patch" in train.loss_plot.toolTip()


def test_noise_models_network_sizes_and_lengths_in_plain_words(viewer):
    noise = dock(viewer, "Noise model")
    train = dock(viewer, "Train")
    noise.session.set_noise_model(PoissonGaussianNoiseModel(2.0, 100.0, 3.0), "calibrated on 'stack'")
    assert "camera model" in noise.description.text() and "read noise 3" in train.noise_label.text()
    noise.session.set_noise_model(GaussianNoiseModel(4.0), "known parameters")
    for text in (noise.description.text(), train.noise_label.text()):
        assert "even noise of strength 4" in text and not any(word in text for word in JARGON), text
    assert train.noise_label.toolTip()  # the precise description
    sizes = [train.preset.itemText(i) for i in range(train.preset.count())]
    assert sizes == ["large (as in the paper; slow, for a GPU)", "small (quick, fine on a laptop)"]
    assert train.preset.currentData() == "fast"
    kinds = [train.budget_kind.itemText(i) for i in range(train.budget_kind.count())]
    assert kinds == ["minutes", "passes over the images", "batches of tiles"]
    assert "steps" not in kinds


def test_restore_modes_and_progress_in_plain_words(viewer):
    restore = dock(viewer, "Restore")
    modes = [restore.one_pass.method.itemText(i) for i in range(restore.one_pass.method.count())]
    assert not any("MMSE" in mode for mode in modes) and "MMSE" in restore.one_pass.method.toolTip()
    assert "restorations of the crop" not in gui_message("4/4 restorations of the crop")
    assert gui_message("model at step 26") == "the model after 26 batches of tiles"  # the Train widget's unit


def test_the_model_line_is_plain_and_its_tooltip_precise(viewer, trained_model_path):
    restore = dock(viewer, "Restore")
    train = dock(viewer, "Train")
    assert restore.load_model(trained_model_path)
    for label in (restore.model_label, train.model_label):
        text = label.text()
        assert "2 detail layers, trained for 6 batches of tiles; noise model: even noise" in text, text
        assert not any(word in text for word in (*JARGON, "latent", "filters", " steps")), text
        assert "latent layers" in label.toolTip() and "filters" in label.toolTip()  # the core's describe()
