"""Named starting points (presets) and :func:`resolve_config`, which applies a user's overrides to one.

Presets: ``paper`` is the paper's configuration (a GPU job of hours); ``fast``
is a small network tuned by ``benchmarks/bench_fast_preset.py`` to reach the
best quality in 10-15 minutes on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..foundation.errors import InputError
from .model import ModelConfig
from .train import TrainConfig
from .validated import checked_seed, config_from_dict, config_to_dict


@dataclass(frozen=True)
class Preset:
    """A named starting point: network and training settings."""

    description: str
    model: ModelConfig
    train: TrainConfig


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        description=(
            "The paper's configuration (6 latent layers x 32, 64 filters, 5 gated blocks per layer; "
            "batch 64, Adamax 3e-4, 400 steps per epoch): hours on a GPU."
        ),
        model=ModelConfig(),
        train=TrainConfig(
            patch_size=64,
            batch_size=64,
            virtual_batch=16,
            lr=3e-4,
            steps_per_epoch=400,
            epochs=200,
            early_stopping_patience=30,
            max_grad_norm=None,
            val_patches=512,
        ),
    ),
    "fast": Preset(
        description="A small network tuned to reach the best quality in 10-15 minutes on a 2-core CPU.",
        model=ModelConfig(
            n_latent_layers=4,
            z_channels=16,
            n_filters=32,
            blocks_per_layer=1,
            dropout=0.0,
        ),
        # Chosen by benchmarks/bench_fast_preset.py at about equal CPU time (README): over Adamax with
        # batches of 16 (lr 5e-3), Adam gained 0.55 dB, batches of 8 (twice the steps) 0.33 dB, both 0.9 dB.
        train=TrainConfig(
            patch_size=64,
            batch_size=8,
            lr=2e-3,
            optimizer="adam",
            lr_schedule="cosine",
            steps_per_epoch=100,
            minutes=15.0,
            early_stopping_patience=None,
            max_grad_norm=10.0,
            val_patches=64,
            min_lr=1e-5,
        ),
    ),
}

# Settings that bound training: a budget given to resolve_config replaces the preset's as a whole.
BUDGET_FIELDS = ("minutes", "epochs", "steps")


def resolve_config(
    preset: str = "fast",
    minutes: float | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    **overrides: Any,
) -> tuple[ModelConfig, TrainConfig]:
    """The network and training settings of ``preset`` with ``overrides`` (names of either config).

    A budget given here (``minutes``, ``epochs``, ``steps``) replaces the preset's
    budget as a whole, so that ``epochs=2`` means two epochs, not "two epochs
    or the preset's minutes, whichever comes first".
    """
    if preset not in PRESETS:
        raise InputError(f"Unknown preset {preset!r}: choose one of {sorted(PRESETS)}.")
    chosen = PRESETS[preset]
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - set(BUDGET_FIELDS) - {"seed"}
    unknown = sorted(set(overrides) - model_fields - train_fields)
    if unknown:
        raise InputError(
            f"Unknown training option(s) {unknown}. Network options: {sorted(model_fields)}; "
            f"training options: {sorted(train_fields | set(BUDGET_FIELDS) | {'seed'})}."
        )
    model_dict = config_to_dict(chosen.model)
    model_dict.update({k: v for k, v in overrides.items() if k in model_fields})
    train_dict = config_to_dict(chosen.train)
    train_dict.update({k: v for k, v in overrides.items() if k in train_fields})
    if any(b is not None for b in (minutes, epochs, steps)):
        train_dict.update(minutes=minutes, epochs=epochs, steps=steps)
    train_dict["seed"] = checked_seed(seed)  # a numpy integer too
    model_config = config_from_dict(ModelConfig, model_dict, "network setting")
    train_config = config_from_dict(TrainConfig, train_dict, "training setting")
    if train_config.patch_size % model_config.stride:
        raise InputError(
            f"patch_size={train_config.patch_size} must be a multiple of {model_config.stride} "
            f"(2 to the power of the {model_config.n_latent_layers} latent layers)."
        )
    return model_config, train_config
