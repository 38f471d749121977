"""Simulated calibration data with known Poisson-Gaussian noise (small, so that fits take seconds)."""

import numpy as np

from napari_hdn.noise_models import PoissonGaussianNoiseModel

OFFSET = 100.0


def smooth_scene(shape=(48, 48), peak_photons=60.0, seed=0) -> np.ndarray:
    """Photons of a static scene: smooth waves plus blobs, from ~0 to ``peak_photons``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] / max(shape)
    image = 0.5 * (1 + np.sin(6 * xx) * np.cos(4 * yy))
    for cy, cx, r in rng.uniform(0, 1, (20, 3)):
        r = 0.03 + 0.08 * r
        image += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return image / image.max() * peak_photons


def camera_stack(gain, read_sigma, n_frames=16, shape=(48, 48), seed=1):
    """(true signal in raw units, stack of repeated noisy frames, the true model)."""
    truth = PoissonGaussianNoiseModel(gain, OFFSET, read_sigma)
    signal = gain * smooth_scene(shape) + OFFSET
    rng = np.random.default_rng(seed)
    stack = np.stack([truth.sample(signal, rng) for _ in range(n_frames)]).astype(np.float32)
    return signal, stack, truth


def variance_error(model, signal, gain, read_sigma) -> float:
    """Largest relative error of the model's variance curve over the 5-95 percentile signal range."""
    low, high = np.percentile(signal, (5, 95))
    s = np.linspace(low, high, 100)
    fitted = model.moments(s)[1].double().numpy()
    true = gain * (s - OFFSET) + read_sigma**2
    return float(np.max(np.abs(fitted / true - 1.0)))


def blob_photons(shape=(256, 256), peak_photons=200.0, seed=0) -> np.ndarray:
    """Photons of a fluorescence-like image: Gaussian blobs of radii 4-18 px on a dark (zero-photon) background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    image = np.zeros(shape)
    for cy, cx, r in rng.uniform(0, 1, (25, 3)):
        r = 4 + 14 * r
        image += np.exp(-((yy - cy * shape[0]) ** 2 + (xx - cx * shape[1]) ** 2) / (2 * r * r))
    return image / image.max() * peak_photons


def camera_image(photons, gain, read_sigma, offset, integer=False, saturated=0.0, seed=1) -> np.ndarray:
    """One noisy camera image of ``photons``; whole numbers if ``integer``; the brightest ``saturated``
    fraction of pixels clipped at one level, as a saturating camera does."""
    rng = np.random.default_rng(seed)
    x = gain * rng.poisson(photons) + rng.normal(offset, read_sigma, photons.shape)
    if integer:
        x = np.round(x)
    if saturated:
        x = np.minimum(x, np.quantile(x, 1.0 - saturated))
    return x
