"""The tests' one factory of tiny HDN networks and models: a step or a restoration takes milliseconds."""

from __future__ import annotations

import dataclasses

import torch

from napari_hdn.model import LadderVAE, ModelConfig
from napari_hdn.model.bundle import HDNModel
from napari_hdn.noise_models import GaussianNoiseModel

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
