"""The direct denoiser trained beside the VAE (Salmon & Krull 2023), one step per VAE step.

Each VAE training step decodes one posterior sample per patch; that decoded signal, detached,
is a draw from p(s | x) for the current VAE, so a network regressing it with an L2 loss
learns the VAE's MMSE estimate without any extra sampling cost. The denoiser follows the VAE
as it trains and ends matched to its last weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection

import torch

from ..model.direct_network import DirectUNet
from .step import direct_step

if TYPE_CHECKING:
    from ..model.bundle import HDNModel


class ConcurrentDirect:
    """A direct denoiser and its optimiser, stepped by the VAE's training loop."""

    def __init__(self, model: HDNModel, deactivated: Collection[int], *, depth: int, width: int, lr: float,
                 loss: str, bf16: bool, seed: int):
        self.key = model.direct_key(deactivated)
        existing = model.direct_denoisers.get(self.key)  # a resumed training keeps its denoiser
        if existing is not None and (existing.depth, existing.width) == (depth, width):
            self.denoiser = existing
        else:
            with torch.random.fork_rng(devices=[]):  # leave the VAE's random stream as it would be without
                torch.manual_seed(seed + 104729)
                self.denoiser = DirectUNet(depth, width)
        self.denoiser.to(model.device)
        self.optimizer = torch.optim.Adam(self.denoiser.parameters(), lr=lr)
        self.loss, self.bf16 = loss, bf16
        model.direct_denoisers[self.key] = self.denoiser
        self.last_loss: float | None = None

    def step(self, noisy: torch.Tensor, vae_output: torch.Tensor) -> float:
        """One step towards the VAE's decoded output (normalised units; detached here)."""
        self.last_loss = direct_step(self.denoiser, self.optimizer, noisy.float(), vae_output.detach(),
                                     self.loss, self.bf16)
        return self.last_loss

    def finish(self) -> None:
        self.denoiser.eval()
