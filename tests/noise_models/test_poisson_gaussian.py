import numpy as np
import pytest
import torch

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import PoissonGaussianNoiseModel, calibrate, fit_noise_model

from .simulated import OFFSET, camera_stack, variance_error


def test_moments_in_raw_units_with_variance_clamped_at_the_read_noise():
    model = PoissonGaussianNoiseModel(gain=2.0, offset=100.0, read_sigma=3.0)
    s = np.array([90.0, 100.0, 150.0])
    mean, variance = model.moments(s)
    np.testing.assert_allclose(mean.numpy(), s)
    np.testing.assert_allclose(variance.numpy(), [9.0, 9.0, 2.0 * 50 + 9.0])


def test_log_likelihood_is_the_gaussian_with_that_variance():
    model = PoissonGaussianNoiseModel(gain=2.0, offset=100.0, read_sigma=3.0)
    x, s = np.array([95.0, 160.0]), np.array([100.0, 150.0])
    var = np.array([9.0, 109.0])
    expected = -0.5 * ((x - s) ** 2 / var + np.log(2 * np.pi * var))
    np.testing.assert_allclose(model.log_likelihood(x, s).numpy(), expected, rtol=1e-6)


def test_sample_has_the_model_moments():
    model = PoissonGaussianNoiseModel(gain=3.0, offset=100.0, read_sigma=4.0)
    x = model.sample(np.full(200_000, 160.0), seed=0)
    assert x.mean() == pytest.approx(160.0, abs=0.1)
    assert x.var() == pytest.approx(3.0 * 60 + 16.0, rel=0.02)


def test_gradient_finite_for_extreme_inputs():
    model = PoissonGaussianNoiseModel(gain=2.0, offset=100.0, read_sigma=3.0)
    s = torch.tensor([-1e30, 0.0, 1e30, 3e38], requires_grad=True)
    ll = model.log_likelihood(torch.tensor([1e30, -1e30, 0.0, -3e38]), s)
    ll.sum().backward()
    assert torch.isfinite(ll).all() and torch.isfinite(s.grad).all()


# Done-when: variance-vs-signal within 5 % of the truth over the 5-95 percentile signal range.
@pytest.mark.parametrize("gain, read_sigma", [(1.0, 2.0), (1.0, 10.0), (4.0, 2.0), (4.0, 10.0), (2.5, 6.0)])
def test_calibrated_variance_curve_within_5_percent(gain, read_sigma):
    signal, stack, _ = camera_stack(gain, read_sigma, n_frames=24, shape=(96, 96))
    model = calibrate(stack, kind="poisson_gaussian")
    assert model.kind == "poisson_gaussian"
    assert variance_error(model, signal, gain, read_sigma) < 0.05
    assert model.gain == pytest.approx(gain, rel=0.05)


def test_known_offset_gives_the_read_noise(pg_data):
    signal, stack, truth = pg_data
    model = calibrate(stack, kind="poisson_gaussian", offset=OFFSET)
    assert model.offset == OFFSET
    assert model.read_sigma == pytest.approx(truth.read_sigma, rel=0.05)


def test_offset_below_the_implied_dark_level_is_an_error(pg_data):
    _, stack, _ = pg_data
    with pytest.raises(InputError, match="offset"):
        calibrate(stack, kind="poisson_gaussian", offset=0.0)


def test_noise_that_does_not_grow_with_signal_is_rejected():
    rng = np.random.default_rng(0)
    signal = np.linspace(100, 400, 4096).reshape(64, 64)
    noisy = signal + rng.normal(0, 1, (8, 64, 64)) * (500 - signal) / 50  # variance falls with the signal
    with pytest.raises(InputError, match="does not grow"):
        fit_noise_model(signal, noisy, kind="poisson_gaussian")


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        (dict(gain=0, offset=100, read_sigma=1), "gain"),
        (dict(gain=1, offset=np.nan, read_sigma=1), "offset"),
        (dict(gain=1, offset=100, read_sigma=-1), "read-noise"),
    ],
)
def test_invalid_parameters_are_rejected(kwargs, problem):
    with pytest.raises(InputError, match=problem):
        PoissonGaussianNoiseModel(**kwargs)
