"""The suggestion where the noise is correlated between neighbours: decided by the residual's correlation."""

import numpy as np
import pytest
from tiny_models import make_image, make_model

from napari_hdn.inference import DeactivationSuggestion, restore
from napari_hdn.inference.residual_correlation import LAGS, residual_correlations
from napari_hdn.inference.suggest import judge
from napari_hdn.noise_models import GaussianNoiseModel
from napari_hdn.noise_models.correlation import residual_covariance_record

SIGMA = 10.0
KERNEL = np.array([0.4, 1.0, 0.4]) / np.linalg.norm([0.4, 1.0, 0.4])  # vertical neighbours correlate 0.61


def _column_correlated(shape, rng):
    white = rng.normal(0.0, SIGMA, (shape[0] + 2, shape[1]))
    return KERNEL[0] * white[:-2] + KERNEL[1] * white[1:-1] + KERNEL[2] * white[2:]


def _blur(image, passes):
    for _ in range(passes):
        image = (image + sum(np.roll(image, shift, axis) for shift in (1, -1) for axis in (0, 1))) / 5
    return image


def _scene(seed=0, shape=(160, 160)):
    """Clean image, its noisy version (column-correlated noise) and the noise's record, measured on 8 other
    noise realisations as a calibration stack would."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    clean = 100 + 80 * np.exp(-((yy - 60) ** 2 + (xx - 70) ** 2) / 400.0) + 30 * np.sin(xx / 7.0) ** 2
    noise = _column_correlated(shape, rng)
    record = residual_covariance_record(np.stack([_column_correlated(shape, rng) for _ in range(8)]), clean)
    # z1 learnt the correlated part of the noise (its smooth vertical component), z2 and z3 hold content.
    learnt = (np.roll(noise, 1, 0) + noise + np.roll(noise, -1, 0)) / 3
    restored = [clean + learnt, clean, _blur(clean, 3), _blur(clean, 12)]
    return clean, clean + noise, restored, record


def test_residual_correlations_measure_the_noise():
    rng = np.random.default_rng(1)
    noise = _column_correlated((256, 256), rng)
    rho = dict(zip(LAGS, residual_correlations(noise, np.zeros_like(noise), border=4)))
    assert rho[(1, 0)] == pytest.approx(KERNEL[:2] @ KERNEL[1:], abs=0.03)
    assert abs(rho[(0, 1)]) < 0.03 and abs(rho[(1, 1)]) < 0.03


@pytest.mark.parametrize("scale", [1.0, 0.1, 10.0], ids=["right variance", "variance 10x too small",
                                                          "variance 10x too large"])
def test_the_layer_that_learnt_correlated_noise_is_found_whatever_the_noise_models_scale(scale):
    _, noisy, restored, record = _scene()
    suggestion = judge(noisy, restored, GaussianNoiseModel(SIGMA * np.sqrt(scale)), correlation=record)
    assert suggestion.layers == (1,)
    assert suggestion.decided_by == "correlation" and suggestion.noise_correlated
    first, second, _ = suggestion.verdicts
    assert first.noise_like and not second.noise_like
    assert first.decided_by == "correlation" and "decided by the noise's correlation" in first.reason
    assert first.residual_correlation_before < first.noise_correlation - 0.2
    assert first.residual_correlation_after == pytest.approx(first.noise_correlation, abs=0.1)


def test_a_content_layer_is_kept_when_the_restoration_already_leaves_the_noise_out():
    clean, noisy, restored, record = _scene(seed=2)
    suggestion = judge(noisy, restored[1:], GaussianNoiseModel(SIGMA), correlation=record)
    assert suggestion.layers == () and suggestion.decided_by == "correlation"


def test_white_noise_records_leave_the_decision_to_the_fit_ratio():
    clean, _, restored, _ = _scene(seed=3)
    rng = np.random.default_rng(3)
    noisy = clean + rng.normal(0.0, SIGMA, clean.shape)
    white = residual_covariance_record(rng.normal(0.0, SIGMA, (8, *clean.shape)), clean)
    restored = [clean + 0.5 * (noisy - clean), clean, _blur(clean, 3)]
    suggestion = judge(noisy, restored, GaussianNoiseModel(SIGMA), correlation=white)
    assert suggestion.decided_by == "fit" and not suggestion.noise_correlated
    assert suggestion.layers == (1,)


def test_the_suggestion_survives_its_record():
    _, noisy, restored, record = _scene()
    suggestion = judge(noisy, restored, GaussianNoiseModel(SIGMA), correlation=record)
    assert DeactivationSuggestion.from_metadata(suggestion.to_metadata()) == suggestion


def test_restore_auto_uses_the_layers_the_model_recorded(monkeypatch):
    from napari_hdn.inference import suggest as module

    model, image = make_model(), make_image()
    recorded = DeactivationSuggestion((1,), (), (), (0, 0, 64, 64), 0.05, "correlation", True)
    model.noise_layers = {"layers": [1], "suggestion": recorded.to_metadata()}

    def fail(*args, **kwargs):
        raise AssertionError("the suggestion must not run: the model recorded its noise layers")

    monkeypatch.setattr(module, "suggest_deactivation_events", fail)
    result = restore(model, image, n_samples=2, deactivate="auto")
    assert result.deactivate == (1,) and result.suggestion == recorded
    np.testing.assert_allclose(result.mmse, restore(model, image, n_samples=2, deactivate=(1,)).mmse)


def test_a_layer_whose_removal_leaves_content_in_the_residual_stays_on():
    # z1 kept a little of the correlated noise but also holds fine content: with it off the residual correlates
    # more than the noise in every direction (content), so z1 stays on although the residual's vertical
    # correlation alone would look closer to the noise's.
    clean, noisy, _, record = _scene(seed=4)
    rng = np.random.default_rng(4)
    learnt = 0.15 * (noisy - clean)
    fine = _blur(rng.normal(0.0, 6.0, clean.shape), 1)  # detail of about 2 px
    restored = [clean + fine + learnt, clean, _blur(clean, 3)]
    suggestion = judge(noisy + fine, restored, GaussianNoiseModel(SIGMA), correlation=record)
    assert suggestion.layers == () and suggestion.decided_by == "correlation"
    assert not suggestion.verdicts[0].noise_like
