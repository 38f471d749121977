import numpy as np
import pytest
import torch

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import GaussianNoiseModel, calibrate


def test_log_likelihood_and_moments():
    model = GaussianNoiseModel(2.0)
    x, s = np.array([1.0, 5.0]), np.array([0.0, 5.0])
    expected = -0.5 * ((x - s) ** 2 / 4.0 + np.log(2 * np.pi * 4.0))
    np.testing.assert_allclose(model.log_likelihood(x, s).numpy(), expected, rtol=1e-6)
    mean, variance = model.moments(s)
    np.testing.assert_allclose(mean.numpy(), s)
    np.testing.assert_allclose(variance.numpy(), 4.0)


def test_gradient_flows_to_the_signal():
    model = GaussianNoiseModel(2.0)
    s = torch.tensor([1.0], requires_grad=True)
    model.log_likelihood(torch.tensor([3.0]), s).sum().backward()
    assert s.grad.item() == pytest.approx(0.5)  # (x - s) / sigma^2


def test_calibration_from_three_frames_is_not_biased_by_the_frame_mean():
    # Without the Bessel correction the residuals of 3 frames carry only 2/3 of the variance.
    rng = np.random.default_rng(0)
    signal = np.linspace(0, 100, 128 * 128).reshape(128, 128)
    stack = signal + rng.normal(0, 3.0, (3, 128, 128))
    model = calibrate(stack, kind="gaussian")
    assert model.sigma == pytest.approx(3.0, rel=0.02)


def test_sigma_must_be_positive():
    with pytest.raises(InputError, match="positive"):
        GaussianNoiseModel(0.0)
