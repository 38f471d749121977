"""The tests' one factory of tiny HDN networks, models and training runs: a step or a restoration takes
milliseconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from napari_hdn.model import LadderVAE, ModelConfig
from napari_hdn.model.bundle import HDNModel
from napari_hdn.noise_models import GaussianNoiseModel, PoissonGaussianNoiseModel

# 2 latent layers (stride 4): the smallest network that still has a hierarchy.
TINY_NETWORK = ModelConfig(n_latent_layers=2, z_channels=2, n_filters=4, blocks_per_layer=1, dropout=0.0)


def tiny_config(**changes) -> ModelConfig:
    """TINY_NETWORK with some settings changed (e.g. n_latent_layers=3)."""
    return dataclasses.replace(TINY_NETWORK, **changes)


def tiny_model(seed: int = 0, noise_model=None, data_mean: float = 100.0, data_std: float = 20.0,
               config: ModelConfig | None = None, **kwargs) -> HDNModel:
    """An untrained tiny model in evaluation mode (Gaussian noise of sigma 5 unless another noise model is given)."""
    torch.manual_seed(seed)
    network = LadderVAE(config or TINY_NETWORK).eval()
    return HDNModel(network, noise_model or GaussianNoiseModel(5.0), data_mean=data_mean, data_std=data_std, **kwargs)


def cli_network_settings() -> list[str]:
    """TINY_NETWORK as ``hdn train --set NAME=VALUE`` arguments."""
    return [arg for field in dataclasses.fields(TINY_NETWORK) if getattr(TINY_NETWORK, field.name) != getattr(
        ModelConfig(), field.name) for arg in ("--set", f"{field.name}={_cli_value(getattr(TINY_NETWORK, field.name))}")]


def _cli_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- training runs ---------------------------------------------------------------------------------
# Two latent layers (stride 4), 16 x 16 patches: a step takes milliseconds on one core.
TINY = dict(
    n_latent_layers=2,
    z_channels=4,
    n_filters=8,
    blocks_per_layer=1,
    dropout=0.0,
    patch_size=16,
    batch_size=8,
    steps_per_epoch=5,
    val_patches=8,
    threads=1,
    precision="float32",
)
NOISE = PoissonGaussianNoiseModel(1.0, 100.0, 3.0)


def noisy_stack(n: int = 6, size: int = 32, seed: int = 0) -> np.ndarray:
    """Piecewise-constant photon counts (0-30) with Poisson-Gaussian camera noise, uint16 like a camera."""
    rng = np.random.default_rng(seed)
    clean = np.kron(rng.uniform(0, 30, (n, size // 8, size // 8)), np.ones((1, 8, 8)))
    return (rng.poisson(clean) + rng.normal(0, 3, clean.shape) + 100).round().astype(np.uint16)


def run(images=None, **kwargs):
    """All events and the returned model of one training."""
    settings = {**TINY, "noise_model": NOISE, "device": "cpu", **kwargs}
    from napari_hdn.training import training_events

    gen = training_events(noisy_stack() if images is None else images, **settings)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as finished:
            return events, finished.value


def steps(events):
    return [e for e in events if e.kind == "step"]
