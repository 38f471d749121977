"""The automatic path's bootstrap cannot collapse: a model that memorised noise never shrinks its noise model."""

import types

import numpy as np
import pytest

from napari_hdn.noise_models import PoissonGaussianNoiseModel, bootstrap_noise_model
from napari_hdn.noise_models.auto import MIN_VARIANCE_RATIO, bootstrap_for_training, variance_ratio

from .simulated import blob_photons

GAIN, OFFSET, READ = 1.0, 100.0, 3.0


def _data(n=2):
    rng = np.random.default_rng(0)
    signal = np.stack([GAIN * (blob_photons((64, 64), peak_photons=40.0, seed=k) + 2.0) + OFFSET for k in range(n)])
    noisy = GAIN * rng.poisson((signal - OFFSET) / GAIN) + OFFSET + rng.normal(0.0, READ, signal.shape)
    return signal.astype(np.float32), noisy.astype(np.float32)


def _restoring(monkeypatch, restoration_of):
    """Make the model's restoration ``restoration_of(noisy)``; records the layers asked to be left out."""
    import napari_hdn.inference as inference

    asked = []

    def fake_restore_events(model, images, deactivate=(), **_):
        asked.append(tuple(deactivate))
        yield from ()
        return types.SimpleNamespace(complete=True, mmse=restoration_of(np.asarray(images)), n_samples=2,
                                     deactivate=tuple(deactivate))

    monkeypatch.setattr(inference, "restore_events", fake_restore_events)
    return asked


def _model(noise_model):
    return types.SimpleNamespace(noise_model=noise_model, step=123)


def test_a_model_that_memorised_the_noise_keeps_the_estimate(monkeypatch):
    signal, noisy = _data()
    estimate = PoissonGaussianNoiseModel(GAIN, OFFSET, READ)
    # Its restoration is the noisy image itself, less a little: fitted to it, a GMM would see almost no noise.
    _restoring(monkeypatch, lambda x: 0.9 * x + 0.1 * signal[: len(x)])
    kept, note = bootstrap_for_training(_model(estimate), list(noisy), 2, 2, 0)
    assert kept is estimate
    assert "kept the estimated noise model" in note and "still hold part of the noise" in note


def test_a_good_restoration_replaces_the_estimate_and_leaves_the_noise_layers_out(monkeypatch):
    signal, noisy = _data()
    estimate = PoissonGaussianNoiseModel(GAIN, OFFSET, READ)
    asked = _restoring(monkeypatch, lambda x: signal[: len(x)])
    gmm, note = bootstrap_for_training(_model(estimate), list(noisy), 2, 2, 0, deactivate=(1,))
    assert gmm is not estimate and gmm.kind == "gmm"
    assert asked == [(1,)] and "with z1 off" in note
    assert variance_ratio(gmm, estimate, noisy) > MIN_VARIANCE_RATIO
    assert gmm.provenance["restored_with_layers_off"] == [1]


def test_bootstrap_noise_model_passes_the_layers_to_leave_out(monkeypatch):
    signal, noisy = _data()
    asked = _restoring(monkeypatch, lambda x: signal[: len(x)])
    bootstrap_noise_model(_model(PoissonGaussianNoiseModel(GAIN, OFFSET, READ)), noisy, deactivate=(1, 2), steps=5)
    assert asked == [(1, 2)]


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_variance_ratio_reads_the_scale(factor):
    _, noisy = _data(1)
    reference = PoissonGaussianNoiseModel(GAIN, OFFSET, READ)
    scaled = PoissonGaussianNoiseModel(GAIN * factor, OFFSET, READ * np.sqrt(factor))
    assert variance_ratio(scaled, reference, noisy) == pytest.approx(factor, rel=1e-3)
