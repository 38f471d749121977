"""Training that starts from a trained model's weights (:func:`napari_hdn.adapt`): what is trained.

GainTuning (Mohan et al., NeurIPS 2021) adapts a trained denoiser to new data by training only one
gain per channel. In the ladder VAE every one-dimensional parameter is such a per-channel factor or
offset: batch-norm scales and shifts, convolution biases. ``"gains"`` trains those and freezes every
other weight; ``"all"`` trains everything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch

ADAPT_MODES = {
    "all": "every weight of the network",
    "gains": "only per-channel gains and biases (GainTuning); every other weight stays as it was",
}


@dataclass(frozen=True)
class WarmStart:
    """Where an adapted training starts: the parent's weights, what may change, and the record of the parent."""

    state: dict[str, torch.Tensor]
    mode: str
    parent: dict[str, Any] = field(default_factory=dict)


def trainable_parameters(network: torch.nn.Module, mode: str) -> list[torch.nn.Parameter]:
    """The parameters ``mode`` trains; the others get ``requires_grad=False`` (no gradients computed)."""
    if mode not in ADAPT_MODES:
        raise ValueError(f"unknown adaptation mode {mode!r}")
    chosen = []
    for parameter in network.parameters():
        trained = mode == "all" or parameter.dim() == 1
        parameter.requires_grad_(trained)
        if trained:
            chosen.append(parameter)
    return chosen


def weights_fingerprint(network: torch.nn.Module) -> str:
    """SHA-256 of a network's weights (names, shapes and values): identifies the parent of an adapted model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return digest.hexdigest()
