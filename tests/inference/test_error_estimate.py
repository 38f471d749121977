"""Stein's unbiased risk estimate: unbiased on denoisers whose error is known, white and correlated noise."""

import numpy as np
import pytest
import torch

from napari_hdn.inference.error_estimate import (
    ErrorEstimate,
    _verdict,
    central_plane_crop,
    noise_probe,
    stein_risk,
)
from napari_hdn.inference.uncertainty import summary
from napari_hdn.noise_models.correlation import residual_covariance_record
from napari_hdn.noise_models.gaussian import GaussianNoiseModel


def smooth_signal(shape=(256, 256), seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(50, 150, (shape[0] // 16, shape[1] // 16))
    return np.kron(coarse, np.ones((16, 16)))


def box_blur(x, radius=1):
    """A linear denoiser: the mean of the (2r+1)^2 neighbourhood (periodic borders)."""
    out = np.zeros_like(x)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out += np.roll(x, (dy, dx), axis=(0, 1))
    return out / (2 * radius + 1) ** 2


def shrink(x, level=100.0, keep=0.3):
    """A non-linear denoiser: soft pull towards ``level`` (a tanh), smooth in x."""
    return level + 20.0 * np.tanh(keep * (x - level) / 20.0)


@pytest.mark.parametrize("denoiser", [box_blur, shrink], ids=["blur", "tanh"])
@pytest.mark.parametrize("kernel", [None, (1.0, 0.7)], ids=["white", "correlated along x"])
def test_estimate_is_unbiased_for_a_denoiser_whose_error_is_known(denoiser, kernel):
    signal = smooth_signal()
    sigma = 5.0
    estimates, truths = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)

        def draw():
            white = rng.standard_normal(signal.shape)
            if kernel is None:
                return sigma * white
            k = np.asarray(kernel) / np.sqrt(np.sum(np.square(kernel)))  # unit marginal variance
            return sigma * (k[0] * white + k[1] * np.roll(white, 1, axis=1))

        x = signal + draw()
        m = denoiser(x)
        probe = draw()  # a draw of the noise itself: its covariance weights the divergence
        mse, passed = stein_risk(x, m, np.full(x.shape, sigma**2), probe, denoiser(x + 0.1 * probe), 0.1)
        estimates.append(mse)
        truths.append(float(np.mean((m - signal) ** 2)))
        assert 0 < passed < 1
    # Unbiased: the mean estimate matches the mean true error within its own standard error (and 5 %).
    spread = np.std(np.subtract(estimates, truths)) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - np.mean(truths)) < max(3 * spread, 0.05 * np.mean(truths))


def test_ignoring_the_correlation_would_mislead():
    """With correlated noise, a white probe misses tr(JC)'s off-diagonal part: the estimate is too low."""
    signal = smooth_signal()
    rng = np.random.default_rng(1)

    def correlated():
        w = rng.standard_normal(signal.shape)
        return 5.0 * (w + np.roll(w, 1, axis=1)) / np.sqrt(2)

    x = signal + correlated()
    m = box_blur(x)
    true = float(np.mean((m - signal) ** 2))
    right, _ = stein_risk(x, m, np.full(x.shape, 25.0), (p := correlated()), box_blur(x + 0.1 * p), 0.1)
    white = 5.0 * rng.standard_normal(signal.shape)
    wrong, _ = stein_risk(x, m, np.full(x.shape, 25.0), white, box_blur(x + 0.1 * white), 0.1)
    assert right == pytest.approx(true, rel=0.05)
    # What the white probe misses: twice the neighbours' covariance (12.5) times the blur's weight on them (1/9),
    # over the two neighbours along x.
    assert right - wrong == pytest.approx(2 * 2 * 12.5 / 9, rel=0.3)


def test_noise_probe_has_the_noise_models_variance_and_no_mean():
    model = GaussianNoiseModel(sigma=4.0)
    signal = np.full((128, 128), 100.0, np.float32)
    probe, variance = noise_probe(model, signal, np.random.default_rng(0))
    assert probe.shape == signal.shape and np.allclose(variance, 16.0)
    assert abs(probe.mean()) < 0.1 and probe.var() == pytest.approx(16.0, rel=0.05)


def test_verdict_floors_an_impossible_estimate_and_says_why():
    model = GaussianNoiseModel(sigma=4.0)
    verdict = _verdict(-3.0, 16.0, 0.1, 100, 200.0, model)
    assert isinstance(verdict, ErrorEstimate) and verdict.mse > 0 and not verdict.reliable
    assert "more noise than the image holds" in verdict.note and np.isfinite(verdict.psnr)
    fine = _verdict(1.0, 16.0, 0.1, 100, 200.0, model)
    assert fine.psnr == pytest.approx(10 * np.log10(200.0**2 / 1.0))
    assert set(fine.to_metadata()) >= {"method", "mse", "psnr", "reliable", "note"}


@pytest.mark.parametrize("correlated", [True, False], ids=["correlated noise", "white noise"])
def test_a_noise_model_bootstrapped_on_correlated_noise_makes_the_estimate_rough(correlated):
    rng = np.random.default_rng(1)
    white = rng.normal(0.0, 4.0, (6, 65, 64))
    noise = (white[:, 1:] + white[:, :-1]) / np.sqrt(2) if correlated else white[:, 1:]  # vertical neighbours
    record = residual_covariance_record(noise, np.full(noise.shape[1:], 100.0))
    bootstrapped = GaussianNoiseModel(sigma=4.0)
    bootstrapped.provenance = {"source": "bootstrapped", "previous_noise_model": {"spatial_correlation": record}}
    verdict = _verdict(1.0, 16.0, 0.1, 100, 200.0, bootstrapped)
    assert verdict.reliable is not correlated
    assert ("learnt from this model's own restorations" in verdict.note) is correlated
    calibrated = GaussianNoiseModel(sigma=4.0)
    calibrated.provenance = {"source": "calibration_stack", "spatial_correlation": record}
    assert _verdict(1.0, 16.0, 0.1, 100, 200.0, calibrated).reliable  # a calibrated variance carries it


def test_a_flat_restoration_has_no_psnr_and_says_so_in_words():
    flat = _verdict(1.0, 16.0, 0.1, 100, 0.0, GaussianNoiseModel(sigma=4.0))
    assert flat.mse == 1.0 and not np.isfinite(flat.psnr) and "no range for a PSNR" in flat.note
    calibration = summary(1.0, np.ones((8, 8)), np.zeros((8, 8)), GaussianNoiseModel(sigma=4.0), True, flat)
    words = calibration.describe("ADU")
    assert words.startswith("estimated error \u00b11 ADU") and "no dB figure" in words and "nan" not in words


def test_temperature_makes_the_spread_of_n_samples_match_the_estimate():
    estimate = ErrorEstimate(2.0, 30.0, 16.0, 0.1, 100, True, "fine", posterior_variance=1.0)
    # N samples' variance about their mean is on average the posterior variance x (N - 1) / N.
    assert estimate.temperature(11) == pytest.approx(2.0 / (10 / 11))
    assert estimate.temperature(1) is None
    assert ErrorEstimate(2.0, 30.0, 16.0, 0.1, 100, False, "rough", posterior_variance=1.0).temperature(11) is None
    assert ErrorEstimate(2.0, 30.0, 16.0, 0.1, 100, True, "no spread").temperature(11) is None  # NaN: unknown


def test_central_plane_crop_takes_the_middle_plane_and_centre():
    stack = np.arange(3 * 20 * 30, dtype=np.float32).reshape(3, 20, 30)
    crop = central_plane_crop(stack, side=10)
    assert crop.shape == (10, 10) and crop.dtype == np.float32
    np.testing.assert_array_equal(crop, stack[1, 5:15, 10:20])
    assert central_plane_crop(stack[0], side=512).shape == (20, 30)
