"""The progress event of :func:`~napari_hdn.training.training_events`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..foundation.progress import Progress


@dataclass(frozen=True)
class TrainingEvent(Progress):
    """One report of :func:`training_events`.

    ``kind``: "setup" (data preparation), "step" (after each optimisation step),
    "validation" (after each validation round), "checkpoint" (a checkpoint was
    written to ``checkpoint``), "snapshot" (``model`` is a copy of the model as
    trained so far, see ``snapshot_every_s``), "bootstrap" (the noise model is
    bootstrapped), "noise_layers" (which latent layers hold the camera's correlated
    noise, recorded in the model) or "done" (training ended; ``message`` says why).
    Losses are per pixel: ``loss`` = ``reconstruction_loss`` (-log p(x|s)) +
    ``kl_loss`` (with free bits). ``kl_per_layer``: KL of each latent layer
    (z1 first) in nats per patch, batch mean, before free bits.
    ``eta_s`` (from Progress) is the estimated time left.
    """

    kind: str = "step"
    step: int = 0
    epoch: int = 0
    loss: float | None = None
    reconstruction_loss: float | None = None
    kl_loss: float | None = None
    kl_per_layer: tuple[float, ...] = ()
    direct_loss: float | None = None  # the concurrent direct denoiser's loss (None without one)
    val_loss: float | None = None
    best_val_loss: float | None = None
    lr: float | None = None
    patches_per_s: float | None = None
    checkpoint: str | None = None
    model: Any = None
