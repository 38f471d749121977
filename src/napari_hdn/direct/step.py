"""One optimisation step of a one-pass denoiser: shared by distillation and training's concurrent denoiser."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..foundation.device import bfloat16_autocast
from ..model.direct_network import DirectUNet


def direct_step(denoiser: DirectUNet, optimizer: torch.optim.Optimizer, noisy: torch.Tensor,
                target: torch.Tensor, loss: str = "l2", bf16: bool = False) -> float:
    """One optimisation step of ``denoiser`` towards ``target`` (both normalised, (B, 1, H, W)).

    The VAE training loop can call this every step with its own decoded output (detached).
    """
    denoiser.train()
    with bfloat16_autocast(noisy.device, bf16):
        pred = denoiser(noisy)
    target = target.detach().float()
    value = F.mse_loss(pred.float(), target) if loss == "l2" else F.l1_loss(pred.float(), target)
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    optimizer.step()
    return float(value.detach())
