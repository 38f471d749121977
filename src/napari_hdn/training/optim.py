"""Optimiser, learning-rate schedule and the seeded random state of a run."""

from __future__ import annotations

import contextlib
import math

import torch

from ..config import TrainConfig


def _make_optimizer(cfg: TrainConfig, parameters) -> torch.optim.Optimizer:
    """The configured optimizer, in its fastest implementation for the parameters' device.

    The default per-tensor loop costs a Python round trip per parameter tensor, a sizeable share of a
    CPU training step with the fast preset's small network; the fused Adam kernel (CPU since torch 2.4)
    and the multi-tensor ("foreach") Adamax compute the same update.
    """
    parameters = list(parameters)
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.optimizer == "adam":
        try:
            return torch.optim.Adam(parameters, fused=True, **common)
        except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device or torch version
            return torch.optim.Adam(parameters, foreach=True, **common)
    return torch.optim.Adamax(parameters, foreach=True, **common)


@contextlib.contextmanager
def _fixed_rng(seed: int, device: torch.device):
    """Run a block with its own seeded torch generator, leaving the training stream untouched."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _lr_at(cfg: TrainConfig, fraction: float) -> float:
    """Cosine decay from ``lr`` to ``min_lr`` over the budget."""
    fraction = min(max(fraction, 0.0), 1.0)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * fraction))
