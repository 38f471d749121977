"""napari_hdn.inference.metrics: coverage, mean squared z-score and reliability of an uncertainty against a truth."""

import numpy as np
import pytest

from napari_hdn.inference.metrics import calibration_report, interval_coverage, mean_squared_z, reliability_diagram


def _gaussian_posterior(sigma_truth: float, sigma_claimed: float, shape=(64, 64), n=200, seed=0):
    """Truth drawn around a mean with sigma_truth; samples drawn with sigma_claimed."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0, 10, shape)
    truth = mean + rng.normal(0, sigma_truth, shape)
    samples = mean + rng.normal(0, sigma_claimed, (n, *shape))
    return truth, samples, mean


def test_coverage_of_a_known_gaussian_posterior_is_recovered():
    truth, samples, mean = _gaussian_posterior(1.0, 1.0)
    for level in (0.5, 0.9, 0.95):
        assert interval_coverage(truth, samples, level) == pytest.approx(level, abs=0.02)
    assert mean_squared_z(truth, mean, np.ones_like(mean)) == pytest.approx(1.0, abs=0.05)
    diagram = reliability_diagram(truth, samples)
    assert all(observed == pytest.approx(nominal, abs=0.03) for nominal, observed in diagram)


def test_an_over_confident_posterior_is_seen_as_such():
    truth, samples, mean = _gaussian_posterior(2.0, 1.0)
    report = calibration_report(truth, samples)
    # A 90 % interval of half the true width covers P(|z| < 1.645 / 2) = 59 %; z^2 averages 4.
    assert report["coverage"]["90%"] == pytest.approx(0.59, abs=0.03)
    assert report["mean_squared_z"] == pytest.approx(4.0, rel=0.1)


@pytest.mark.parametrize("call, message", [
    (lambda: interval_coverage(np.zeros((4, 4)), np.zeros((5, 4, 3)), 0.9), "shape"),
    (lambda: interval_coverage(np.zeros((4, 4)), np.zeros((1, 4, 4)), 0.9), "At least 2"),
    (lambda: interval_coverage(np.zeros((4, 4)), np.zeros((3, 4, 4)), 1.5), "between 0 and 1"),
    (lambda: mean_squared_z(np.zeros(3), np.zeros(3), np.array([1.0, 0.0, 1.0])), "positive"),
])
def test_bad_input_gives_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
