"""The noise's correlation between neighbouring pixels: measured from noisy images alone, and what it changes."""

import warnings

import numpy as np
import pytest

from napari_hdn.noise_models import CorrelatedNoiseWarning, calibrate, estimate_noise_model, load_noise_model
from napari_hdn.noise_models.correlation import is_correlated, record_of, stack_correlation_record

from .simulated import blob_photons

READ_SIGMA, GAIN, OFFSET = 3.0, 1.0, 100.0


def _unit(kernel) -> np.ndarray:
    k = np.atleast_2d(np.asarray(kernel, dtype=np.float64))
    return k / np.sqrt((k**2).sum())


def _autocorrelation(kernel, dy, dx) -> float:
    k = np.pad(_unit(kernel), 4)
    return float((k * np.roll(np.roll(k, dy, 0), dx, 1)).sum())


def _correlated_read(shape, kernel, rng) -> np.ndarray:
    """White N(0, READ_SIGMA^2) convolved (circularly) with ``kernel`` of unit L2 norm: the pixel sigma stays."""
    k = _unit(kernel)
    padded = np.zeros(shape)
    padded[: k.shape[0], : k.shape[1]] = k
    padded = np.roll(padded, (-(k.shape[0] // 2), -(k.shape[1] // 2)), (0, 1))
    white = rng.normal(0.0, READ_SIGMA, shape)
    return np.real(np.fft.ifft2(np.fft.fft2(white) * np.fft.fft2(padded)))


def _images(kernel, n=4, shape=(256, 256), seed=0):
    rng = np.random.default_rng(seed)
    photons = np.stack([blob_photons(shape, peak_photons=40.0, seed=k) + 2.0 for k in range(n)])
    noisy = GAIN * rng.poisson(photons) + OFFSET + np.stack([_correlated_read(shape, kernel, rng) for _ in range(n)])
    return noisy, photons


def _variance_error(estimate, photons) -> float:
    low, high = np.percentile(photons, (5, 95))
    s = np.linspace(low, high, 50)
    fitted = estimate.model.moments(GAIN * s + OFFSET)[1].double().numpy()
    return float(np.max(np.abs(fitted / (GAIN * s + READ_SIGMA**2) - 1.0)))


def _true_correlation(kernel, dy, dx, estimate, level="dark") -> float:
    """The whole noise's correlation at a level the estimate reports: read covariance / pixel variance there."""
    signal = estimate.spatial_correlation["correlation"][level]["signal"]
    return READ_SIGMA**2 * _autocorrelation(kernel, dy, dx) / (GAIN * (signal - OFFSET) + READ_SIGMA**2)


KERNELS = {
    "y, 0.3": [[0.16], [1.0], [0.16]],
    "y, 0.6": [[0.4], [1.0], [0.4]],
    "y, 0.7": [[0.55], [1.0], [0.55]],
    "x, 0.3": [[0.16, 1.0, 0.16]],
    "x, 0.6": [[0.4, 1.0, 0.4]],
    "2-D": [[0.1, 0.3, 0.1], [0.3, 1.0, 0.3], [0.1, 0.3, 0.1]],
    "2-D, anisotropic": [[0.0, 0.5, 0.0], [0.2, 1.0, 0.2], [0.0, 0.5, 0.0]],
}


@pytest.mark.parametrize("kernel", list(KERNELS.values()), ids=list(KERNELS))
def test_marginal_variance_and_correlation_of_correlated_read_noise(kernel):
    noisy, photons = _images(kernel)
    with pytest.warns(CorrelatedNoiseWarning, match="includes the correlated part"):
        estimate = estimate_noise_model(noisy, n_bootstrap=20)
    # The pixel variance, correlated part included (neighbour differences alone would miss up to 2/3 of it).
    assert _variance_error(estimate, photons) < 0.08
    dark = estimate.spatial_correlation["correlation"]["dark"]
    for k in (1, 2):
        assert dark["y"][k - 1] == pytest.approx(_true_correlation(kernel, k, 0, estimate), abs=0.07)
        assert dark["x"][k - 1] == pytest.approx(_true_correlation(kernel, 0, k, estimate), abs=0.07)
    assert is_correlated(estimate.spatial_correlation)
    assert estimate.spatial_correlation["correction_weight"] == 1.0


def test_white_noise_is_still_called_white():
    noisy, photons = _images([[1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorrelatedNoiseWarning)
        estimate = estimate_noise_model(noisy, n_bootstrap=20)
    record = estimate.spatial_correlation
    assert not is_correlated(record) and record["correction_weight"] == 0.0
    assert max(abs(v) for v in record["correlation"]["dark"]["all"].values()) < 0.05
    assert _variance_error(estimate, photons) < 0.05


def test_the_record_travels_with_the_noise_model_file(tmp_path):
    noisy, _ = _images(KERNELS["y, 0.6"], n=2)
    with pytest.warns(CorrelatedNoiseWarning):
        estimate = estimate_noise_model(noisy, n_bootstrap=0)
    estimate.model.save(tmp_path / "nm.npz")
    loaded = load_noise_model(tmp_path / "nm.npz")
    assert record_of(loaded) == estimate.spatial_correlation
    assert is_correlated(record_of(loaded))


def test_a_calibration_stack_measures_the_correlation_directly():
    rng = np.random.default_rng(3)
    photons = blob_photons((96, 96), peak_photons=40.0) + 2.0
    kernel = KERNELS["y, 0.6"]
    stack = np.stack([GAIN * rng.poisson(photons) + OFFSET + _correlated_read(photons.shape, kernel, rng)
                      for _ in range(40)])
    record = stack_correlation_record(stack)
    dark = record["correlation"]["dark"]
    variance = GAIN * (dark["signal"] - OFFSET) + READ_SIGMA**2
    assert dark["y"][0] == pytest.approx(READ_SIGMA**2 * _autocorrelation(kernel, 1, 0) / variance, abs=0.05)
    assert abs(dark["x"][0]) < 0.05
    model = calibrate(stack, kind="poisson_gaussian", check_static=False)
    assert is_correlated(record_of(model))


def test_small_images_do_not_read_sampling_noise_as_correlation():
    rng = np.random.default_rng(5)
    photons = blob_photons((64, 64), peak_photons=40.0)
    noisy = GAIN * rng.poisson(photons) + OFFSET + rng.normal(0, READ_SIGMA, photons.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorrelatedNoiseWarning)
        estimate = estimate_noise_model(noisy, n_bootstrap=0)
    assert not is_correlated(estimate.spatial_correlation)
    assert estimate.spatial_correlation["dark_correlation_std"] > 0
