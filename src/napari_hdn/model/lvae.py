"""The hierarchical (ladder) VAE of HDN.

A bottom-up (inference) path computes features at n scales; a top-down
(generative) path walks from the coarsest latent layer zn to the finest z1,
merging the bottom-up features into each layer's posterior q(z_i | z_>i, x) and
predicting the conditional prior p(z_i | z_>i). z_i is sampled from the
posterior, or, when layer i is *deactivated*, set to the conditional prior's
mean so that no information from the input passes there (the paper's
"selective deactivation", which removes structured noise living in z1, z2).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..foundation.device import without_autocast
from ..foundation.errors import InputError
from .config import ModelConfig
from .layers import BlockSettings, Merge, ResampleBlock, gaussian_kl, gaussian_log_prob, nonlinearity, resample_stack


@dataclass
class TopDownResult:
    """Output of a top-down pass.

    ``out``: (B, 1, H, W) normalised signal estimate. ``kl``: per latent layer
    (index 0 = z1) the KL divergence of each image, shape (B,), zeros where the
    layer was deactivated or no input was given. ``kl_spatial``: per layer the
    KL summed over channels, (B, h_i, w_i), or None where there is none.
    """

    out: torch.Tensor
    kl: list[torch.Tensor]
    kl_spatial: list[torch.Tensor | None]


class TopDownLayer(nn.Module):
    """One stochastic layer of the generative path plus its upsampling residual blocks."""

    def __init__(self, config: ModelConfig, settings: BlockSettings, is_top: bool):
        super().__init__()
        f, z = config.n_filters, config.z_channels
        self.is_top = is_top
        self.analytical_kl = config.analytical_kl
        if is_top:
            # One learned N(mu, sigma) per channel, broadcast over space so that any image size works.
            self.top_prior = nn.Parameter(torch.zeros(1, 2 * z, 1, 1), requires_grad=config.learn_top_prior)
        else:
            self.prior_conv = nn.Conv2d(f, 2 * z, 3, padding=1)
            self.merge = Merge(f, settings, config.merge_type)
            self.skip = Merge(f, settings, "residual") if config.stochastic_skip else None
        self.posterior_conv = nn.Conv2d(f, 2 * z, 3, padding=1)
        self.z_to_features = nn.Conv2d(z, f, 3, padding=1)
        self.deterministic = resample_stack(f, config.blocks_per_layer, settings, "up")

    def forward(
        self,
        above: torch.Tensor | None,
        bu: torch.Tensor | None,
        batch: int,
        latent_hw: tuple[int, int],
        deactivated: bool,
        posterior_mean: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        # The stochastic part runs in float32 even under bfloat16 autocast: the KL of one latent element
        # is a small difference of O(1) terms, which bfloat16's 8-bit mantissa would mostly cancel away.
        if self.is_top:
            p_params = self.top_prior.expand(1, -1, *latent_hw)
        else:
            p_params = self.prior_conv(above)
        p_mu, p_logvar = p_params.float().chunk(2, dim=1)

        kl = kl_spatial = None
        if deactivated:
            z = p_mu
        elif bu is not None:
            q_input = bu if self.is_top else self.merge(bu, above)
            q_mu, q_logvar = self.posterior_conv(q_input).float().chunk(2, dim=1)
            if posterior_mean:
                z = q_mu
            else:
                shape = (max(batch, q_mu.shape[0]), *q_mu.shape[1:])
                noise = torch.randn(shape, device=q_mu.device, dtype=q_mu.dtype, generator=generator)
                z = q_mu + (0.5 * q_logvar).exp() * noise
            kl_elements = gaussian_kl(q_mu, q_logvar, p_mu, p_logvar)
            kl_spatial = kl_elements.sum(1)
            if not self.analytical_kl and not posterior_mean:
                # One-sample Monte-Carlo estimate, as an alternative to the closed form.
                kl_elements = gaussian_log_prob(z, q_mu, q_logvar) - gaussian_log_prob(z, p_mu, p_logvar)
            kl = kl_elements.sum((1, 2, 3))
        else:  # generation from the prior
            shape = (max(batch, p_mu.shape[0]), *p_mu.shape[1:])
            noise = torch.randn(shape, device=p_mu.device, dtype=p_mu.dtype, generator=generator)
            z = p_mu + (0.5 * p_logvar).exp() * noise

        if z.shape[0] != batch:
            z = z.expand(batch, *z.shape[1:])
        x = self.z_to_features(z)
        if not self.is_top and self.skip is not None:
            x = self.skip(x, above)
        if kl is None:
            kl = torch.zeros(batch, device=x.device, dtype=torch.float32)
        elif kl.shape[0] != batch:
            kl = kl.expand(batch)
            kl_spatial = kl_spatial.expand(batch, *kl_spatial.shape[1:])
        return self.deterministic(x), kl, kl_spatial



def latent_layer_indices(layers: Collection[int], n_layers: int) -> frozenset[int]:
    """0-based indices of 1-based latent layer numbers of a network with ``n_layers``, with a clear error for bad numbers."""
    indices = set()
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 1 <= layer <= n_layers:
            raise InputError(
                f"Latent layer {layer!r} does not exist: this model has layers 1 (z1, finest) "
                f"to {n_layers} (z{n_layers}, coarsest)."
            )
        indices.add(int(layer) - 1)
    return frozenset(indices)

class LadderVAE(nn.Module):
    """HDN's ladder VAE (see module docstring). Inputs are normalised (B, 1, H, W) tensors."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config = config or ModelConfig()
        f = config.n_filters
        settings = BlockSettings(nonlinearity(config.nonlinearity), config.batchnorm, config.dropout, config.gated)
        self.first_bottom_up = nn.Sequential(
            nn.Conv2d(1, f, 5, padding=2),
            settings.nonlin(),
            ResampleBlock(f, settings, gated=False),
        )
        self.bottom_up_layers = nn.ModuleList(
            resample_stack(f, config.blocks_per_layer, settings, "down") for _ in range(config.n_latent_layers)
        )
        self.top_down_layers = nn.ModuleList(
            TopDownLayer(config, settings, is_top=(i == config.n_latent_layers - 1))
            for i in range(config.n_latent_layers)
        )
        self.final_top_down = nn.Sequential(*(ResampleBlock(f, settings) for _ in range(config.blocks_per_layer)))
        self.output_conv = nn.Conv2d(f, 1, 3, padding=1)

    @property
    def n_layers(self) -> int:
        return self.config.n_latent_layers

    @property
    def stride(self) -> int:
        return self.config.stride

    def layer_indices(self, layers: Collection[int]) -> frozenset[int]:
        """0-based indices of 1-based latent layer numbers, with a clear error for bad numbers."""
        return latent_layer_indices(layers, self.n_layers)

    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of each latent layer (index 0 = z1). H and W must be multiples of ``stride``."""
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise InputError(f"Image size {h}x{w} is not a multiple of {self.stride}: pad it with LadderVAE.pad first.")
        x = self.first_bottom_up(x)
        features = []
        for layer in self.bottom_up_layers:
            x = layer(x)
            features.append(x)
        return features

    def top_down(
        self,
        bu: list[torch.Tensor] | None,
        *,
        deactivate: Collection[int] = (),
        posterior_mean: bool = False,
        n_samples: int | None = None,
        n_prior: int | None = None,
        prior_size: tuple[int, int] | None = None,
        generator: torch.Generator | None = None,
    ) -> TopDownResult:
        """Generative pass; see :class:`TopDownResult`.

        ``bu`` may have batch 1 with ``n_samples`` > 1: the bottom-up features are
        then shared by ``n_samples`` posterior samples without being copied.
        ``bu=None`` generates ``n_prior`` images of ``prior_size`` from the prior.
        ``generator``: a private random stream for the samples, so that restoration
        running beside training (the widgets' previews) never touches torch's
        global generator, which training's reproducibility depends on.
        """
        off = self.layer_indices(deactivate)
        if bu is None:
            if n_prior is None or prior_size is None:
                raise InputError("Generation from the prior needs n_prior and prior_size.")
            h, w = prior_size
            if h % self.stride or w % self.stride:
                raise InputError(f"prior_size {prior_size} must be multiples of {self.stride}.")
            batch = n_prior
            top_hw = (h // self.stride, w // self.stride)
        else:
            if len(bu) != self.n_layers:
                raise InputError(f"Expected bottom-up features of {self.n_layers} layers, got {len(bu)}.")
            batch = n_samples or bu[0].shape[0]
            top_hw = tuple(bu[-1].shape[-2:])

        kl: list[torch.Tensor] = [None] * self.n_layers  # type: ignore[list-item]
        kl_spatial: list[torch.Tensor | None] = [None] * self.n_layers
        x = None
        for i in reversed(range(self.n_layers)):
            x, kl[i], kl_spatial[i] = self.top_down_layers[i](
                x,
                None if bu is None else bu[i],
                batch,
                top_hw,
                deactivated=i in off,
                posterior_mean=posterior_mean,
                generator=generator,
            )
        x = self.final_top_down(x)
        with without_autocast(x.device):  # the signal estimate in float32 (see TopDownLayer)
            out = self.output_conv(x.float())
        return TopDownResult(out=out, kl=kl, kl_spatial=kl_spatial)

    def pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Pad (B, C, H, W) at the bottom and right to multiples of ``stride`` by mirroring; return the original size."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x, (h, w)

    def forward(
        self, x: torch.Tensor, deactivate: Collection[int] = (), posterior_mean: bool = False
    ) -> TopDownResult:
        """Bottom-up and top-down pass of (B, 1, H, W) images of any size; ``out`` is cropped back to H x W."""
        padded, (h, w) = self.pad(x)
        result = self.top_down(self.bottom_up(padded), deactivate=deactivate, posterior_mean=posterior_mean)
        result.out = result.out[..., :h, :w]
        return result

    def n_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
