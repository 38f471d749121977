"""bootstrap_noise_model: a GMM / histogram fitted to a trained model's restorations of the noisy images."""

import numpy as np
import pytest

import napari_hdn
from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import (
    GaussianMixtureNoiseModel,
    HistogramNoiseModel,
    bootstrap_events,
    bootstrap_noise_model,
    bootstrap_with_signal_events,
    load_noise_model,
    noise_model_diagnostics,
)
from napari_hdn.foundation.progress import StopToken, drive


@pytest.fixture(scope="module")
def noisy(tiny_models):
    return np.stack([tiny_models.make_image(seed=k) for k in range(2)])


def test_gmm_from_restorations_records_its_provenance(tiny_models, noisy, tmp_path):
    model = tiny_models.make_model()
    nm = bootstrap_noise_model(model, noisy, n_samples=2, steps=10)
    assert isinstance(nm, GaussianMixtureNoiseModel)
    prov = nm.provenance
    assert prov["source"] == "bootstrapped" and prov["restoration_samples"] == 2
    assert prov["previous_noise_model"] == {"kind": "gaussian", "source": "known_parameters"}
    nm.save(tmp_path / "nm.npz")
    assert load_noise_model(tmp_path / "nm.npz").provenance == prov
    assert napari_hdn.bootstrap_noise_model is bootstrap_noise_model


def test_the_restoration_is_available_for_diagnostics(tiny_models, noisy):
    events = bootstrap_with_signal_events(tiny_models.make_model(), noisy, n_samples=2, steps=5)
    nm, signal = drive(events)
    assert signal.shape == noisy.shape and np.isfinite(signal).all()
    diagnostics = noise_model_diagnostics(nm, signal=signal, observation=noisy)
    assert diagnostics.signal.size > 2


def test_histogram_from_a_saved_model(tiny_models, noisy, tmp_path):
    tiny_models.make_model().save(tmp_path / "model")
    nm = bootstrap_noise_model(tmp_path / "model", noisy, kind="histogram", n_samples=1, bins=16, signal_bins=8)
    assert isinstance(nm, HistogramNoiseModel)
    assert nm.provenance["restored_with"] == str(tmp_path / "model")


def test_arguments_are_checked_when_called_and_stop_returns_none(tiny_models, noisy):
    model = tiny_models.make_model()
    with pytest.raises(InputError, match="kind"):
        bootstrap_events(model, noisy, kind="poisson_gaussian")
    with pytest.raises(InputError, match="Unknown"):
        bootstrap_events(model, noisy, bins=3)
    stop = StopToken()
    stop.request_stop()
    events = bootstrap_events(model, noisy, n_samples=2, stop=stop)
    with pytest.raises(StopIteration) as done:
        while True:
            next(events)
    assert done.value.value is None
