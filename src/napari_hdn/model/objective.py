"""HDN's training objective: the negative ELBO with free bits.

Reconstruction: -log p(x|s) averaged over pixels, with s the decoder's output
in raw data units scored by the pixel noise model (a Gaussian noise model of
known sigma when there is none). KL: per latent layer and image, floored at
``free_bits`` nats (so that no layer collapses early), averaged over the batch,
summed over the active layers and divided by the pixel count so that both
terms are per pixel.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import torch

from .lvae import TopDownResult


@dataclass
class LossTerms:
    total: torch.Tensor  # scalar that is minimised
    reconstruction: torch.Tensor  # scalar, mean -log p(x|s) per pixel
    kl: torch.Tensor  # scalar, the KL term of ``total`` (free bits applied, per pixel)
    kl_per_layer: torch.Tensor  # (n_layers,), batch-mean KL in nats per image, before free bits


def free_bits_kl(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """Floor each image's KL at ``free_bits``, then average over the batch. ``kl``: (B, n_layers)."""
    if free_bits <= 0:
        return kl.mean(0)
    return kl.clamp(min=free_bits).mean(0)


def hdn_loss(
    result: TopDownResult,
    x_raw: torch.Tensor,
    noise_model,
    data_mean: float,
    data_std: float,
    free_bits: float,
    deactivated: Collection[int] = (),
) -> LossTerms:
    """Loss of one batch. ``x_raw``: the noisy input in raw units, same shape as ``result.out``.

    ``deactivated``: 1-based layers switched off in this model; they carry no
    information, so their (zero) KL is left out rather than floored.
    """
    s_raw = result.out.float() * data_std + data_mean
    reconstruction = -noise_model.log_likelihood(x_raw.float(), s_raw).mean()
    kl = torch.stack([k.float() for k in result.kl], dim=1)  # (B, n_layers)
    active = [i for i in range(kl.shape[1]) if (i + 1) not in set(deactivated)]
    n_pixels = x_raw.shape[-1] * x_raw.shape[-2]
    kl_term = free_bits_kl(kl[:, active], free_bits).sum() / n_pixels if active else kl.new_zeros(())
    return LossTerms(
        total=reconstruction + kl_term,
        reconstruction=reconstruction,
        kl=kl_term,
        kl_per_layer=kl.mean(0).detach(),
    )
