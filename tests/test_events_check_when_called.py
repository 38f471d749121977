"""Every ``*_events`` generator checks its arguments when it is called: a bad argument fails in the
caller's thread (the CLI, a widget's click), before any worker starts driving it."""

from __future__ import annotations

import numpy as np
import pytest

from napari_hdn.foundation.errors import InputError

from model.test_bundle import tiny_model  # the tiny-model factory of the tests


def image() -> np.ndarray:
    return np.random.default_rng(0).normal(100, 3, (32, 32)).astype(np.float32)


def _training(bad):
    from napari_hdn.training import training_events

    return training_events(image(), gaussian_sigma=3.0, steps=bad, device="cpu")


def _adapt(bad):
    from napari_hdn.training import adapt_events

    return adapt_events(tiny_model(), image(), minutes=bad)


def _restore(bad):
    from napari_hdn.inference import restore_events

    return restore_events(tiny_model(), image(), n_samples=bad)


def _activations(bad):
    from napari_hdn.inference import layer_activations_events

    return layer_activations_events(tiny_model(), image(), tile=bad)


def _suggest(bad):
    from napari_hdn.inference import suggest_deactivation_events

    return suggest_deactivation_events(tiny_model(), image(), crop=bad)


def _second_opinion(bad):
    from napari_hdn.inference import second_opinion_events

    return second_opinion_events(tiny_model(), image(), n_samples=bad)


def _distill(bad):
    from napari_hdn.direct import distill_events

    return distill_events(tiny_model(), image(), steps=bad)


def _denoise(bad):
    from napari_hdn.direct import denoise_events

    return denoise_events(tiny_model(), image(), precision=bad)


def _calibrate(bad):
    from napari_hdn.noise_models.calibration import calibrate_events

    return calibrate_events(np.stack([image()] * 4), kind=bad)


def _fit_pairs(bad):
    from napari_hdn.noise_models.calibration import fit_noise_model_events

    return fit_noise_model_events(image(), image(), kind=bad)


def _estimate(bad):
    from napari_hdn.noise_models import estimate_events

    return estimate_events(image(), kind=bad)


def _bootstrap(bad):
    from napari_hdn.noise_models import bootstrap_events

    return bootstrap_events(tiny_model(), image(), kind=bad)


def _fit_gmm(bad):
    from napari_hdn.noise_models.gmm import fit_gmm_events

    return fit_gmm_events(bad, None)


CASES = {
    "training_events": (_training, -3, "steps"),
    "adapt_events": (_adapt, -1.0, "minutes"),
    "restore_events": (_restore, 0, "n_samples"),
    "layer_activations_events": (_activations, -8, "tile"),
    "suggest_deactivation_events": (_suggest, 0, "crop"),
    "second_opinion_events": (_second_opinion, 0, "n_samples"),
    "distill_events": (_distill, 0, "steps"),
    "denoise_events": (_denoise, "float8", "precision"),
    "calibrate_events": (_calibrate, "nonsense", "nonsense"),
    "fit_noise_model_events": (_fit_pairs, "nonsense", "nonsense"),
    "estimate_events": (_estimate, "gmm", "cannot be estimated"),
    "bootstrap_events": (_bootstrap, "gaussian_process", "Bootstrapping"),
    "fit_gmm_events": (_fit_gmm, "not pairs", "CalibrationPairs"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_argument_fails_when_called_not_when_driven(name):
    make, bad, says = CASES[name]
    with pytest.raises(InputError, match=says):
        make(bad)  # no next(): the call itself must refuse
