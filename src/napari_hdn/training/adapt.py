"""Adapting a trained model to new data in minutes (:func:`adapt`), instead of training from scratch.

HDN is trained without clean data, so its own loss on the new noisy images is exactly the
unsupervised loss to adapt with (as GainTuning, Mohan et al. 2021, does with its own). The adapted
model starts from the parent's weights, takes the new data's normalisation and, when given, a new
noise model; the parent is never modified and the adapted bundle records it (``model.parent``).
A parent's direct denoisers are adapted after the network, from their own weights.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks.inputs import positive_minutes, positive_number
from ..config import PRESETS, ModelConfig, TrainConfig
from ..foundation.device import resolve_device
from ..foundation.errors import InputError
from ..foundation.progress import StopToken, drive
from ..io.atomic import check_writable_folder
from ..model.bundle import HDNModel
from ..noise_models.auto import is_auto
from .checkpoints import _check_out_folder
from .events import TrainingEvent
from .loop import TrainingPlan, _training_run
from .noise_choice import resolve_noise_model
from .warm_start import ADAPT_MODES, WarmStart, weights_fingerprint

if TYPE_CHECKING:
    from ..foundation.types import ModelLike, NoiseModelLike

# Chosen by benchmarks/bench_adapt.py (README): nuclei-pg model adapted 3 min to nuclei-low, gains 27.61 dB,
# all weights 27.27, 15 min from scratch 27.11. Few free parameters keep what the parent learned.
DEFAULT_MODE = "gains"
DEFAULT_MINUTES = 2.0  # minutes=None and steps=None: a short adaptation, as the widget offers
# Share of the budget spent adapting the parent's direct denoisers (when it has any), after the network.
DIRECT_SHARE = 0.2
# Settings an adaptation may not take: they would make another network, or a training of another kind.
_NOT_ADAPTABLE = frozenset({"epochs", "direct_denoiser", "bootstrap_at"})


def _load_parent(model: Any) -> tuple[HDNModel, Path | None]:
    from ..model.bundle import load_model, resolve_bundle_path

    if isinstance(model, (str, os.PathLike)):
        path = resolve_bundle_path(model)
        return load_model(path, device="cpu"), path
    if not isinstance(model, HDNModel):
        raise InputError(f"model must be a trained napari-hdn model or the path of one, not {type(model).__name__}.")
    return model, None


def _check_budget(minutes: Any, steps: Any) -> None:
    positive_minutes(minutes)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise InputError(f"steps must be a positive whole number, not {steps!r}.")


def _adapted_settings(parent: HDNModel, minutes: float | None, steps: int | None, seed: int,
                      overrides: dict[str, Any]) -> TrainConfig:
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    changed = sorted(k for k, v in overrides.items() if k in model_fields and getattr(parent.config, k) != v)
    if changed:
        raise InputError(
            f"An adapted model keeps its parent's network, so {changed} cannot change. Train a new model "
            "from scratch (napari_hdn.train) to use other network settings."
        )
    unknown = sorted(k for k in overrides if k not in model_fields | train_fields or k in _NOT_ADAPTABLE)
    if unknown:
        raise InputError(f"adapt does not take {unknown}: give minutes or steps, and training settings such as lr.")
    base = parent.train_config if isinstance(parent.train_config, TrainConfig) else PRESETS["fast"].train
    train_overrides = {k: v for k, v in overrides.items() if k in train_fields}
    return dataclasses.replace(base, minutes=minutes, epochs=None, steps=steps, seed=seed, bootstrap_at=None,
                               direct_denoiser=False, **train_overrides)


def _layers_of(key: str) -> tuple[int, ...]:
    """The deactivated layers of a direct-denoiser key ("all-on", "off-1-2")."""
    return () if key == "all-on" else tuple(int(i) for i in key.removeprefix("off-").split("-"))


def adapt_events(
    model: ModelLike,
    images: Any,
    noise_model: NoiseModelLike | None = None,
    minutes: float | None = None,
    mode: str = DEFAULT_MODE,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    *,
    steps: int | None = None,
    stop: StopToken | None = None,
    overwrite: bool = False,
    gaussian_sigma: float | None = None,
    snapshot_every_s: float | None = None,
    **overrides: Any,
) -> Generator[TrainingEvent, None, HDNModel]:
    """Adapt a trained model (or the path of one) to ``images``; yields :class:`TrainingEvent`, returns the new model.

    ``noise_model``: the new data's noise model (a NoiseModel, its path, "auto" to estimate one from
    ``images``, or ``gaussian_sigma``); None keeps the parent's. ``mode``: "all" trains every weight,
    "gains" only per-channel gains and biases (GainTuning). ``minutes`` / ``steps``: the budget (neither:
    ``DEFAULT_MINUTES``, 2 minutes).
    ``out``: the folder for the ``best`` and ``last`` checkpoints, as for training. Training settings
    (``lr``, ``batch_size``, ...) may be given; network settings may not. Arguments are checked here,
    in the caller's thread.
    """
    parent, parent_path = _load_parent(model)
    if mode not in ADAPT_MODES:
        raise InputError(f"mode={mode!r} is not an adaptation mode; choose one of {sorted(ADAPT_MODES)}.")
    _check_budget(minutes, steps)
    if minutes is None and steps is None:
        minutes = DEFAULT_MINUTES
    torch_device = resolve_device(device)
    out_path = None if out is None else Path(out)
    if out_path is not None:
        if parent_path is not None and out_path.resolve() in (parent_path.resolve(), *parent_path.resolve().parents):
            raise InputError(f"{out_path} holds the model being adapted: choose another folder for the adapted model.")
        _check_out_folder(out_path, False, overwrite)
        check_writable_folder(out_path, "adaptation folder")
    directs = dict(parent.direct_denoisers)
    share = DIRECT_SHARE if directs else 0.0
    cfg = _adapted_settings(parent, None if minutes is None else minutes * (1 - share),
                            None if steps is None else max(1, round(steps * (1 - share))), seed, overrides)
    if is_auto(noise_model):
        if gaussian_sigma is not None:
            raise InputError('Give either noise_model="auto" or a Gaussian noise sigma, not both.')
        noise = None  # estimated from the images when the run starts
    elif noise_model is None and gaussian_sigma is None:
        noise = parent.noise_model
    else:
        noise = resolve_noise_model(noise_model, gaussian_sigma)
    positive_number(snapshot_every_s, "snapshot_every_s", " of seconds (or None)")
    record = {"path": None if parent_path is None else str(parent_path.resolve()),
              "weights_sha256": weights_fingerprint(parent.network), "step": parent.step, "mode": mode,
              "noise_model": parent.noise_model.kind,
              "normalization": {"mean": parent.data_mean, "std": parent.data_std},
              "adapted": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    start = WarmStart({k: v.detach().to("cpu").clone() for k, v in parent.network.state_dict().items()}, mode, record)
    plan = TrainingPlan(images, parent.config, cfg, noise, parent.trained_deactivated, torch_device, out_path,
                        overwrite, snapshot_every_s, warm_start=start)
    run = _training_run(plan, stop=stop)
    direct_budget = {"minutes": None if minutes is None else minutes * share / max(len(directs), 1),
                     "steps": None if steps is None else max(1, round(steps * share / max(len(directs), 1))),
                     "patch_size": cfg.patch_size, "batch_size": cfg.batch_size, "precision": cfg.precision}
    return _adapt_run(run, images, directs, direct_budget, seed, out_path, stop)


def _adapt_run(run, images, directs, direct_budget, seed, out_path, stop) -> Generator[TrainingEvent, None, HDNModel]:
    from ..direct.distill import distill_events
    from ..model.bundle import BEST

    done = None
    while True:  # the network's adaptation; its "done" comes last, after the direct denoisers
        try:
            event = next(run)
        except StopIteration as finished:
            model = finished.value
            break
        if event.kind == "done":
            done = event
        else:
            yield event
    for key, init in directs.items():
        if stop:
            break
        distill = distill_events(model, images, _layers_of(key), init=init, seed=seed, stop=stop, **direct_budget)
        while True:
            try:
                d = next(distill)
            except StopIteration:
                break
            yield TrainingEvent(stage="training", kind="direct", done=d.done, total=d.total, eta_s=d.eta_s,
                                elapsed_s=done.elapsed_s + d.elapsed_s if done else d.elapsed_s,
                                message=f"adapting the direct denoiser ({key}): {d.message}", direct_loss=d.loss,
                                step=model.step, epoch=model.epoch)
    if directs and out_path is not None and model.direct_denoisers:
        model.save(out_path / BEST, overwrite=True)  # the best weights, now with their adapted direct denoisers
    if done is not None:
        yield done
    return model


def adapt(
    model: ModelLike,
    images: Any,
    noise_model: NoiseModelLike | None = None,
    minutes: float | None = None,
    mode: str = DEFAULT_MODE,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    *,
    on_event: Callable[[TrainingEvent], Any] | None = None,
    **kwargs: Any,
) -> HDNModel:
    """Blocking form of :func:`adapt_events` (same arguments); returns the adapted model."""
    return drive(adapt_events(model, images, noise_model, minutes, mode, out, seed, device, **kwargs), on_event)
