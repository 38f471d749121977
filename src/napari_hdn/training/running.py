"""Running means of the loss terms between reports."""

from __future__ import annotations

from typing import Any

import numpy as np


class _Running:
    """Running (weighted) means of the loss terms of the steps since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0.0
        self.sums: dict[str, float] = {}
        self.kl_layers: np.ndarray | None = None

    def add(self, terms, weight: float = 1.0) -> None:
        for name, value in (("loss", terms.total), ("reconstruction_loss", terms.reconstruction),
                            ("kl_loss", terms.kl)):
            self.sums[name] = self.sums.get(name, 0.0) + float(value.detach()) * weight
        kl = terms.kl_per_layer.detach().float().cpu().numpy().astype(np.float64) * weight
        self.kl_layers = kl if self.kl_layers is None else self.kl_layers + kl
        self.count += weight

    def merge(self, other: _Running) -> None:
        for name, value in other.sums.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        if other.kl_layers is not None:
            self.kl_layers = other.kl_layers.copy() if self.kl_layers is None else self.kl_layers + other.kl_layers
        self.count += other.count

    def summary(self) -> dict[str, Any]:
        n = max(self.count, 1e-12)
        out: dict[str, Any] = {name: value / n for name, value in self.sums.items()}
        out["kl_per_layer"] = [] if self.kl_layers is None else (self.kl_layers / n).tolist()
        return out
