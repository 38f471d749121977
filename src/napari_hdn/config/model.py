"""The network's configuration; defaults are the paper's (Prakash et al., ICLR 2022)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..foundation.errors import InputError

# The largest network sizes (the paper's network: 32 latent channels, 64 filters, 5 blocks per layer).
SIZE_LIMITS = {"z_channels": 512, "n_filters": 512, "blocks_per_layer": 16}

Nonlinearity = Literal["elu", "relu", "leakyrelu", "selu"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the hierarchical (ladder) VAE.

    Each of the ``n_latent_layers`` halves the resolution, so images are padded
    to a multiple of ``2 ** n_latent_layers``. The paper's ablation found gating,
    batch norm, the generative (stochastic) skips and free bits each to matter:
    all are switchable here.
    """

    n_latent_layers: int = 6
    z_channels: int = 32
    n_filters: int = 64
    blocks_per_layer: int = 5
    batchnorm: bool = True
    dropout: float = 0.2
    gated: bool = True
    stochastic_skip: bool = True
    learn_top_prior: bool = True
    free_bits: float = 1.0
    nonlinearity: Nonlinearity = "elu"
    merge_type: Literal["residual", "linear"] = "residual"
    analytical_kl: bool = True

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise InputError(f"Invalid model setting: {msg}")

        need(1 <= self.n_latent_layers <= 10, f"n_latent_layers={self.n_latent_layers} must be between 1 and 10.")
        for name, limit in SIZE_LIMITS.items():  # bounded: a model file must not make napari-hdn allocate terabytes
            value = getattr(self, name)
            need(1 <= value <= limit, f"{name}={value} must be between 1 and {limit}.")
        need(0.0 <= self.dropout < 1.0, f"dropout={self.dropout} must be in [0, 1).")
        need(self.free_bits >= 0.0, f"free_bits={self.free_bits} must be >= 0.")
        need(
            self.nonlinearity in ("elu", "relu", "leakyrelu", "selu"),
            f"nonlinearity={self.nonlinearity!r} must be one of elu, relu, leakyrelu, selu.",
        )
        need(self.merge_type in ("residual", "linear"), f"merge_type={self.merge_type!r} must be residual or linear.")

    @property
    def stride(self) -> int:
        """Image sizes must be multiples of this (the input is padded to it)."""
        return 2**self.n_latent_layers

    def layer_downscale(self, layer: int) -> int:
        """How many pixels one latent pixel of ``layer`` (1-based) spans along each axis."""
        return 2**layer
