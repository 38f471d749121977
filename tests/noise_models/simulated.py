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
