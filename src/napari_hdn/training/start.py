"""Starting a training: :func:`training_events` checks every argument when called (in the caller's
thread) and resolves the settings, the noise model and a resumed checkpoint; :func:`train` is the
blocking form. The loop itself is :mod:`.loop`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..checks.inputs import layer_numbers, positive_minutes, positive_number
from ..config import resolve_config
from ..config.presets import BUDGET_FIELDS as _BUDGET_FIELDS
from ..config.presets import PRESETS
from ..config.validated import config_to_dict
from ..foundation.device import resolve_device
from ..foundation.errors import FileFormatError, InputError
from ..foundation.progress import StopToken, drive
from ..io.atomic import check_writable_folder
from ..model.bundle import LAST, HDNModel, load_model
from ..model.lvae import latent_layer_indices
from ..noise_models.auto import is_auto
from .checkpoints import _check_out_folder
from .events import TrainingEvent
from .loop import TrainingPlan, _training_run
from .noise_choice import resolve_noise_model
from .resume_check import check_resume_matches

if TYPE_CHECKING:
    from ..foundation.types import NoiseModelLike

# noise_model="auto": the fraction of the budget after which the estimated model is replaced by a bootstrapped GMM.
AUTO_BOOTSTRAP_AT = 0.5
# Settings that change how fast training runs, not what it computes: free to change on resume.
_RUNTIME_FIELDS = frozenset({"threads", "precision", "val_batch_size"})


def training_events(
    images: Any,
    noise_model: NoiseModelLike | None = None,
    preset: str | None = None,
    minutes: float | None = None,
    epochs: int | None = None,
    out: str | os.PathLike | None = None,
    deactivate: Collection[int] = (),
    seed: int = 0,
    device: str | torch.device = "auto",
    *,
    stop: StopToken | None = None,
    resume: bool = False,
    overwrite: bool = False,
    gaussian_sigma: float | None = None,
    steps: int | None = None,
    snapshot_every_s: float | None = None,
    **overrides: Any,
) -> Generator[TrainingEvent, None, HDNModel]:
    """Train an HDN model on noisy ``images``; yields :class:`TrainingEvent`, returns the trained :class:`HDNModel`.

    ``images``: a 2-D image, a stack (3-D, time series: sets of 2-D planes) or a
    list of them, numpy or dask, any real dtype. ``noise_model``: a NoiseModel or
    the path of one (or ``gaussian_sigma`` for Gaussian noise of known sigma).
    ``preset``: "fast" (CPU, minutes; the default) or "paper"; ``overrides`` change any
    :class:`ModelConfig` or :class:`TrainConfig` setting. Budget: ``minutes``,
    ``epochs`` and/or ``steps`` (replacing the preset's budget). ``out``: the
    training folder receiving the ``best`` and ``last`` checkpoints (None: keep
    everything in memory). ``deactivate``: latent layers (1 = finest) switched
    off during training and in every later use. ``resume``: continue the
    training in ``out`` (its settings are kept; a new budget may be given).
    ``overwrite``: replace an earlier model in ``out``. ``stop``: a StopToken;
    training then ends within one step, leaving the ``last`` checkpoint.
    ``snapshot_every_s``: also yield a "snapshot" event carrying a copy of the
    model (its own weights, evaluation mode) at most this often, so that a
    consumer can preview restorations while training goes on (the Train widget
    does) without reading checkpoints or touching the weights being trained.

    The returned model carries the weights with the best validation loss (the
    last ones when there is no validation).
    """
    torch_device = resolve_device(device)
    deactivate = layer_numbers(deactivate)
    out_path = None if out is None else Path(out)
    if resume and out_path is None:
        raise InputError("resume needs the training folder (out=...) of the training to continue.")
    if out_path is not None:
        _check_out_folder(out_path, resume, overwrite)
        check_writable_folder(out_path, "training folder")
    positive_number(snapshot_every_s, "snapshot_every_s", " of seconds (or None)")
    positive_minutes(minutes)

    if resume:
        assert out_path is not None
        checkpoint = load_model(out_path / LAST, device="cpu")
        if not is_auto(noise_model):  # "auto" made the checkpoint's noise model: nothing to compare with
            check_resume_matches(checkpoint, out_path, noise_model, gaussian_sigma, preset)
        model_config, saved_config = checkpoint.config, checkpoint.train_config
        if saved_config is None:
            raise FileFormatError(f"{out_path / LAST} has no training settings: it cannot be resumed.")
        saved = {**config_to_dict(model_config), **config_to_dict(saved_config)}
        # How fast a training runs may change between sessions (another machine, a busy one); what it learns may not.
        runtime = {k: v for k, v in overrides.items() if k in _RUNTIME_FIELDS}
        changed = sorted(
            k for k, v in overrides.items() if k not in _RUNTIME_FIELDS and (k not in saved or saved[k] != v)
        )
        if changed:
            raise InputError(
                f"Cannot change {changed} when resuming: the training in {out_path} keeps its settings "
                f"(only the budget: minutes, epochs, steps, and {sorted(_RUNTIME_FIELDS)} may change)."
            )
        budget = {"minutes": minutes, "epochs": epochs, "steps": steps}
        if all(v is None for v in budget.values()):
            budget = {k: getattr(saved_config, k) for k in _BUDGET_FIELDS}
        train_config = dataclasses.replace(saved_config, **budget, **runtime)
        noise = checkpoint.noise_model
        trained_off = checkpoint.trained_deactivated
        if tuple(sorted(set(deactivate))) not in ((), trained_off):
            raise InputError(
                f"The training in {out_path} was started with layers {list(trained_off)} switched off; "
                "it must be resumed with the same layers."
            )
    else:
        checkpoint = None
        auto_noise = is_auto(noise_model)
        if auto_noise and gaussian_sigma is not None:
            raise InputError('Give either noise_model="auto" or a Gaussian noise sigma, not both.')
        if auto_noise and "bootstrap_at" not in overrides:
            overrides = {**overrides, "bootstrap_at": AUTO_BOOTSTRAP_AT}
        model_config, train_config = resolve_config(preset or "fast", minutes, epochs, steps, seed, **overrides)
        noise = None if auto_noise else resolve_noise_model(noise_model, gaussian_sigma)
        trained_off = tuple(deactivate)

    # clear error for bad layers
    trained_off = tuple(sorted(i + 1 for i in latent_layer_indices(trained_off, model_config.n_latent_layers)))
    if len(trained_off) == model_config.n_latent_layers:
        raise InputError("At least one latent layer must stay active: the model cannot learn with all layers off.")
    # Everything above runs when training_events is called (bad arguments fail in the caller's thread);
    # the training itself runs when the returned generator is driven.
    plan = TrainingPlan(images, model_config, train_config, noise, trained_off, torch_device, out_path, overwrite,
                        snapshot_every_s, checkpoint=checkpoint)
    return _training_run(plan, stop=stop)


def train(
    images: Any,
    noise_model: NoiseModelLike | None = None,
    preset: str | None = None,
    minutes: float | None = None,
    epochs: int | None = None,
    out: str | os.PathLike | None = None,
    deactivate: Collection[int] = (),
    seed: int = 0,
    device: str | torch.device = "auto",
    *,
    on_event: Callable[[TrainingEvent], Any] | None = None,
    **kwargs: Any,
) -> HDNModel:
    """Blocking form of :func:`training_events` (same arguments); returns the trained model."""
    return drive(
        training_events(images, noise_model, preset, minutes, epochs, out, deactivate, seed, device, **kwargs),
        on_event,
    )
