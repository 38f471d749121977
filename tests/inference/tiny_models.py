"""Tiny untrained HDN models and test images: restorations take milliseconds on one core."""

import numpy as np
import torch
from factories import tiny_config

from napari_hdn.model import LadderVAE, ModelConfig
from napari_hdn.model.bundle import HDNModel
from napari_hdn.noise_models import GaussianNoiseModel

# 3 latent layers: stride 8, images of 64 x 64 pixels take milliseconds.
TINY = tiny_config(n_latent_layers=3, z_channels=4, n_filters=8)


def make_model(seed: int = 0, **changes) -> HDNModel:
    torch.manual_seed(seed)
    network = LadderVAE(ModelConfig(**{**TINY.__dict__, **changes}))
    with torch.no_grad():  # a non-zero top prior, so that switched-off layers do not all decode to 0
        network.top_down_layers[-1].top_prior.normal_(0.0, 0.5)
    return HDNModel(network.eval(), GaussianNoiseModel(10.0), data_mean=120.0, data_std=25.0)


def make_image(shape=(64, 64), seed: int = 0) -> np.ndarray:
    """Blobs on a background with Gaussian noise, in camera-like units (uint16 range)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[-2], : shape[-1]]
    clean = 100 + 60 * np.sin(yy / 5.0) ** 2 * np.cos(xx / 7.0) ** 2
    return (clean + rng.normal(0, 10, size=shape)).astype(np.float32)
