import math

import numpy as np
import pytest
import torch

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import GaussianMixtureNoiseModel
from napari_hdn.noise_models.gmm import _Adam


def reference_likelihood(weight, x, s, min_signal, max_signal, min_sigma, tol=1e-10):
    """The reference HDN formula, written out independently in float64 numpy."""
    weight = np.asarray(weight, dtype=np.float64)
    k = weight.shape[0] // 3
    t = (np.asarray(s, dtype=np.float64) - min_signal) / (max_signal - min_signal)

    def poly(row):
        return sum(c * t**i for i, c in enumerate(row))

    mu = [poly(weight[j]) for j in range(k)]
    sigma = [np.sqrt(np.maximum(poly(np.exp(weight[k + j])), min_sigma)) for j in range(k)]
    alpha = [np.exp(poly(weight[2 * k + j]) + tol) for j in range(k)]
    total = sum(alpha)
    alpha = [a / total for a in alpha]
    mixture_mean = sum(a * m for a, m in zip(alpha, mu))
    mu = [m - mixture_mean + s for m in mu]
    density = sum(
        a * np.exp(-((x - m) ** 2) / (2 * sd * sd)) / np.sqrt(2 * np.pi * sd * sd) for a, m, sd in zip(alpha, mu, sigma)
    )
    return density + tol


def random_model(n_gaussians=3, n_coeff=2, seed=0, min_sigma=2.0):
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 1, (3 * n_gaussians, n_coeff))
    weight[:n_gaussians] *= 10.0  # component offsets of a few raw units
    weight[n_gaussians : 2 * n_gaussians, 0] += np.log(20.0)
    weight[n_gaussians : 2 * n_gaussians, 1:] += np.log(30.0)
    return GaussianMixtureNoiseModel(weight.astype(np.float32), 100.0, 400.0, min_sigma), weight.astype(np.float32)


@pytest.mark.parametrize("n_coeff", [1, 2, 3])
def test_log_likelihood_matches_the_reference_formula(n_coeff):
    model, weight = random_model(n_coeff=n_coeff, seed=n_coeff)
    rng = np.random.default_rng(1)
    s = rng.uniform(50, 450, 2000)  # includes signals outside the calibrated range
    x = s + rng.normal(0, 15, s.shape)
    expected = np.log(reference_likelihood(weight, x, s, 100.0, 400.0, 2.0))
    got = model.log_likelihood(x, s)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=2e-5)


def test_tolerance_floors_far_tails_like_the_reference():
    model, weight = random_model()
    got = model.log_likelihood(np.array([1e4, -1e4]), np.array([200.0, 200.0])).numpy()
    np.testing.assert_allclose(got, math.log(1e-10), rtol=1e-6)


def test_moments_mean_is_signal_and_variance_matches_the_density():
    model, _ = random_model()
    s = np.array([120.0, 250.0, 380.0])
    mean, variance = model.moments(s)
    np.testing.assert_allclose(mean.numpy(), s, rtol=1e-6)
    grid = np.linspace(-300, 900, 200_001)
    for level, var in zip(s, variance.numpy()):
        p = np.exp(model.log_likelihood(torch.tensor(grid, dtype=torch.float64), float(level)).numpy())
        p_mass = p * (grid[1] - grid[0])
        numeric_mean = (grid * p_mass).sum() / p_mass.sum()
        numeric_var = ((grid - numeric_mean) ** 2 * p_mass).sum() / p_mass.sum()
        assert numeric_mean == pytest.approx(level, abs=1e-3)
        assert numeric_var == pytest.approx(var, rel=1e-3)


def test_differentiable_in_signal_with_correct_gradient():
    model, _ = random_model()
    s = torch.tensor([150.0, 260.0, 390.0], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([140.0, 275.0, 380.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda s_: model.log_likelihood(x, s_), (s,))
    assert model.log_likelihood(x, s).dtype == torch.float64


def test_finite_values_and_gradients_for_extreme_inputs():
    model, _ = random_model(n_coeff=3)
    extremes = torch.tensor([-1e30, -1e6, 0.0, 1e6, 1e30, 3e38], dtype=torch.float32)
    s = extremes.clone().repeat_interleave(6).requires_grad_(True)
    x = extremes.repeat(6)
    ll = model.log_likelihood(x, s)
    ll.sum().backward()
    assert torch.isfinite(ll).all()
    assert torch.isfinite(s.grad).all()
    mean, variance = model.moments(extremes)
    assert torch.isfinite(mean).all() and torch.isfinite(variance).all()


def test_broadcasting_and_input_types():
    model, _ = random_model()
    x = np.linspace(100, 300, 5)[:, None]
    s = torch.linspace(120, 280, 4)
    out = model.log_likelihood(x, s)
    assert out.shape == (5, 4) and out.dtype == torch.float32
    assert torch.allclose(out[2, 1], model.log_likelihood(float(x[2, 0]), float(s[1])))


def test_to_moves_and_returns_self():
    model, _ = random_model()
    assert model.to("cpu") is model
    assert model.device == torch.device("cpu")


@pytest.mark.parametrize(
    "weight, low, high, min_sigma, problem",
    [
        (np.zeros((4, 2)), 0, 1, 1, "shape"),
        (np.full((3, 2), np.nan), 0, 1, 1, "NaN"),
        (np.zeros((3, 2)), 1, 1, 1, "min_signal < max_signal"),
        (np.zeros((3, 2)), 0, 1, -1, "min_sigma"),
    ],
)
def test_invalid_parameters_are_rejected(weight, low, high, min_sigma, problem):
    with pytest.raises(InputError, match=problem):
        GaussianMixtureNoiseModel(weight, low, high, min_sigma)


def test_adam_follows_the_published_update_rule():
    """Our Adam against the update of Kingma & Ba (2015), written out in numpy."""
    rng = np.random.default_rng(0)
    target = rng.normal(size=(4, 3))
    start = rng.normal(size=(4, 3))
    ours = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    adam = _Adam(ours, 0.05)
    theta, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t in range(1, 31):
        ours.grad = None
        ((ours - torch.from_numpy(target)) ** 4).sum().backward()
        adam.step(lr_factor=0.5)
        g = 4 * (theta - target) ** 3
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - 0.025 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(ours.detach().numpy(), theta, rtol=1e-10, atol=1e-12)
