import numpy as np
import pytest
import torch

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import HistogramNoiseModel, calibrate, fit_noise_model
from napari_hdn.noise_models.histogram import fit_histogram


def two_row_model():
    # signal bins [0, 10) and [10, 20) (centres 5 and 15); observation bins of width 2 over [0, 8)
    probabilities = np.array([[1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 2.0, 2.0]])
    return HistogramNoiseModel(probabilities, (0.0, 20.0), (0.0, 8.0))


def test_rows_are_normalised_densities():
    model = two_row_model()
    # centre of the first signal bin: the first row, mass 0.25 / 0.75 in bins of width 2
    got = model.log_likelihood(np.array([1.0, 3.0]), 5.0).exp().numpy()
    np.testing.assert_allclose(got, [0.125, 0.375], rtol=1e-6)


def test_linear_interpolation_between_signal_bin_centres():
    model = two_row_model()
    s = np.array([7.5, 10.0, 12.5])  # a quarter, half and three quarters of the way from 5 to 15
    got = model.log_likelihood(np.full(3, 3.0), s).exp().numpy()
    np.testing.assert_allclose(got, 0.375 * np.array([0.75, 0.5, 0.25]), rtol=1e-6)


def test_gradient_in_signal_is_the_interpolation_slope():
    model = two_row_model()
    s = torch.tensor([10.0], dtype=torch.float64, requires_grad=True)
    model.log_likelihood(torch.tensor([3.0], dtype=torch.float64), s).sum().backward()
    # log p = log(0.375 (15 - s) / 10) -> d/ds = -1 / (15 - s) = -0.2
    assert s.grad.item() == pytest.approx(-0.2, rel=1e-6)


def test_empty_bins_and_out_of_range_values_are_finite():
    model = two_row_model()
    x = torch.tensor([5.0, -100.0, 1e30, 3.0])  # empty bin, below, far above, normal
    s = torch.tensor([5.0, 5.0, 1e30, -1e30], requires_grad=True)
    ll = model.log_likelihood(x, s)
    ll.sum().backward()
    assert torch.isfinite(ll).all() and torch.isfinite(s.grad).all()
    assert ll[0].item() == pytest.approx(np.log(1e-10 / 2.0), rel=1e-5)
    assert ll[3].item() == pytest.approx(np.log(0.375), rel=1e-6)  # clamped to the first row


def test_moments_of_rows():
    model = two_row_model()
    mean, variance = model.moments(np.array([5.0, 15.0]))
    # row 1: centres 1 and 3 with mass 1/4, 3/4 -> mean 2.5, var 0.75 + 4/12
    np.testing.assert_allclose(mean.numpy(), [2.5, 6.0], rtol=1e-6)
    np.testing.assert_allclose(variance.numpy(), [0.75 + 1 / 3, 1.0 + 1 / 3], rtol=1e-5)


def test_fit_fills_empty_signal_bins_from_the_nearest_filled_one():
    signal = np.array([1.0, 1.0, 19.0])
    observation = np.array([1.0, 3.0, 7.0])
    model = fit_histogram(signal, observation, (0.0, 20.0), (0.0, 8.0), 4, 4)
    rows = model.probabilities
    np.testing.assert_allclose(rows[0], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(rows[1], rows[0])  # empty, nearest is row 0
    np.testing.assert_allclose(rows[3], [0, 0, 0, 1])


def test_fitted_histogram_follows_the_noise(pg_data):
    signal, stack, truth = pg_data
    model = fit_noise_model(signal, stack, kind="histogram", bins=64, signal_bins=16)
    s = np.percentile(signal, [20, 50, 80])
    mean, variance = model.moments(s)
    true_mean, true_variance = truth.moments(s)
    np.testing.assert_allclose(mean.numpy(), s, atol=0.1 * np.sqrt(true_variance.numpy()).max())
    np.testing.assert_allclose(variance.numpy(), true_variance.numpy(), rtol=0.15)


@pytest.mark.parametrize(
    "probabilities, problem",
    [(np.ones(3), "2-D"), (-np.ones((2, 2)), "non-negative"), (np.zeros((2, 2)), "probability mass")],
)
def test_invalid_histograms_are_rejected(probabilities, problem):
    with pytest.raises(InputError, match=problem):
        HistogramNoiseModel(probabilities, (0, 1), (0, 1))


def test_whole_number_data_gives_a_density_without_holes(pg_data):
    # Camera counts lie on a grid; bins narrower than it, or not a multiple of it, would alternate
    # between empty and full. The density within 1.5 sigma must follow the true one (up to binning and counting noise).
    signal, stack, truth = pg_data
    counts = np.round(stack).astype(np.uint16)
    model = calibrate(counts, kind="histogram", bins=96, signal_bins=12)
    _, dx = model._bin_widths()
    assert dx == pytest.approx(np.sqrt(16 / 15) * round(dx / np.sqrt(16 / 15)), rel=1e-6)
    for s in np.percentile(signal, [25, 50, 75]):
        sd = float(truth.moments(s)[1].sqrt())
        x = np.linspace(s - 1.5 * sd, s + 1.5 * sd, 200)
        ratio = model.log_likelihood(x, s).exp().numpy() / truth.log_likelihood(x, s).exp().numpy()
        assert ratio.min() > 0.5 and ratio.max() < 1.6  # a hole would give ~0, a doubled bin ~2
