"""How to train: :class:`TrainConfig` (the network's architecture is a :class:`~napari_hdn.config.model.ModelConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..foundation.errors import InputError
from .validated import checked_seed


# The bounds of the settings that size memory (patches, batches, the direct denoiser, bootstrap samples).
SIZE_LIMITS = {
    "patch_size": (8, 2048), "batch_size": (1, 4096), "virtual_batch": (1, 4096), "val_patches": (1, 65536),
    "val_batch_size": (1, 4096), "threads": (1, 1024), "direct_depth": (1, 8), "direct_width": (1, 512),
    "bootstrap_planes": (1, 10000), "bootstrap_samples": (1, 10000),
}


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the network's architecture is a :class:`ModelConfig`).

    Budget: training ends at the first of ``epochs``, ``steps`` or ``minutes``
    (at least one must be set), or earlier by early stopping. An epoch is
    ``steps_per_epoch`` steps followed by a validation round, which drives the
    learning-rate schedule, early stopping and the ``best`` checkpoint.
    """

    patch_size: int = 64
    batch_size: int = 64
    virtual_batch: int | None = None  # split each batch into chunks of this size (gradient accumulation)
    lr: float = 3e-4
    optimizer: Literal["adamax", "adam"] = "adamax"  # the paper's Adamax, or Adam
    lr_schedule: Literal["plateau", "cosine"] = "plateau"
    lr_patience: int = 10  # plateau: validation rounds without improvement before the lr is multiplied by lr_factor
    lr_factor: float = 0.5
    min_lr: float = 1e-12
    weight_decay: float = 0.0
    max_grad_norm: float | None = None  # None: no clipping
    steps_per_epoch: int = 400
    epochs: int | None = None
    steps: int | None = None
    minutes: float | None = None
    early_stopping_patience: int | None = 30  # validation rounds without improvement; None: never stop early
    val_fraction: float = 0.1
    val_patches: int = 256
    val_batch_size: int = 32
    # torch CPU threads; None: adaptive (all usable CPUs, or fewer while other programs keep them busy).
    # Give a number for bit-exact repeatable runs: the thread count can change the rounding of sums.
    threads: int | None = None
    # "auto": bfloat16 autocast on CUDA and on CPUs with bf16 instructions (Intel AMX, AVX512-BF16), float32 elsewhere.
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    seed: int = 0
    # A direct denoiser (one-pass MMSE, Salmon & Krull 2023) trained beside the VAE, one step per VAE step.
    direct_denoiser: bool = False
    direct_depth: int = 2
    direct_width: int = 32
    direct_lr: float = 1e-3
    direct_loss: Literal["l2", "l1"] = "l2"
    # Replace the noise model, at this fraction of the budget, by a GMM bootstrapped from the model's own
    # restorations of `bootstrap_planes` training planes (`bootstrap_samples` samples each); None: never.
    # noise_model="auto" sets it (default 0.5).
    bootstrap_at: float | None = None
    bootstrap_planes: int = 4
    bootstrap_samples: int = 10

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise InputError(f"Invalid training setting: {msg}")

        for name, (low, high) in SIZE_LIMITS.items():  # bounded: a model file must not make training allocate terabytes
            value = getattr(self, name)
            need(value is None and name in ("virtual_batch", "threads") or low <= value <= high,
                 f"{name}={value} must be between {low} and {high}.")
        need(math.isfinite(self.lr) and self.lr > 0, f"lr={self.lr} must be a positive number.")
        need(self.optimizer in ("adamax", "adam"), f"optimizer={self.optimizer!r} must be adamax or adam.")
        need(self.lr_schedule in ("plateau", "cosine"), f"lr_schedule={self.lr_schedule!r} must be plateau or cosine.")
        need(self.lr_patience >= 0, "lr_patience must be >= 0.")
        need(0 < self.lr_factor < 1, f"lr_factor={self.lr_factor} must be between 0 and 1.")
        need(0 <= self.min_lr <= self.lr, "min_lr must be between 0 and lr.")
        need(self.weight_decay >= 0, "weight_decay must be >= 0.")
        need(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm must be positive (or None).")
        need(self.steps_per_epoch >= 1, "steps_per_epoch must be at least 1.")
        need(self.epochs is None or self.epochs >= 1, f"epochs={self.epochs} must be at least 1.")
        need(self.steps is None or self.steps >= 1, f"steps={self.steps} must be at least 1.")
        need(
            self.minutes is None or (math.isfinite(self.minutes) and self.minutes > 0),
            f"minutes={self.minutes} must be a positive number.",
        )
        need(
            self.epochs is not None or self.steps is not None or self.minutes is not None,
            "give a training budget: epochs, steps or minutes.",
        )
        need(
            self.early_stopping_patience is None or self.early_stopping_patience >= 1,
            "early_stopping_patience must be at least 1 (or None).",
        )
        need(0.0 <= self.val_fraction < 1.0, f"val_fraction={self.val_fraction} must be in [0, 1).")
        need(self.precision in ("auto", "float32", "bfloat16"), f"precision={self.precision!r} must be auto, "
             "float32 or bfloat16.")
        try:
            object.__setattr__(self, "seed", checked_seed(self.seed))  # numpy integers become ints
        except InputError as err:
            need(False, str(err))
        need(isinstance(self.direct_denoiser, bool), "direct_denoiser must be True or False.")
        need(math.isfinite(self.direct_lr) and self.direct_lr > 0, "direct_lr must be a positive number.")
        need(self.direct_loss in ("l2", "l1"), f"direct_loss={self.direct_loss!r} must be l2 or l1.")
        need(self.bootstrap_at is None or 0 < self.bootstrap_at < 1,
             f"bootstrap_at={self.bootstrap_at} must be a fraction of the budget between 0 and 1 (or None).")

    @property
    def max_steps(self) -> int | None:
        """The step budget from ``epochs`` and ``steps`` (the smaller), None when only time limits training."""
        limits = [s for s in (self.steps, None if self.epochs is None else self.epochs * self.steps_per_epoch) if s]
        return min(limits) if limits else None
