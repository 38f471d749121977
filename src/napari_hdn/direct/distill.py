"""Distilling the HDN's posterior mean into a direct denoiser.

With an L2 loss the network's optimum is E[target | noisy input]; a posterior sample's decoded
signal is an unbiased draw of s given x, so its conditional mean is the MMSE estimate
(Salmon & Krull 2023). Averaging a few samples per target only lowers the target noise.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks.inputs import as_deactivation, check_image, positive_minutes, resolve_model
from ..checks.intensity_range import check_restoration_range
from ..config.validated import checked_seed
from ..foundation.device import use_bfloat16
from ..foundation.errors import InputError, TrainingError
from ..foundation.progress import Progress, StopToken, Timer, drive
from ..foundation.threads import check_threads, configure_threads
from ..model.bundle import resolve_bundle_path
from ..model.direct_network import DirectUNet
from ..training.data import PatchSampler, as_planes
from .denoise import auto_layers
from .step import direct_step

if TYPE_CHECKING:
    from ..model.bundle import HDNModel
    from ..foundation.types import ModelLike

LOSSES = ("l2", "l1")
LR_SCHEDULES = ("constant", "cosine")


def posterior_targets(model: HDNModel, noisy: torch.Tensor, deactivate: Collection[int], n_average: int) -> torch.Tensor:
    """Mean of ``n_average`` decoded posterior samples of ``noisy`` (normalised), detached."""
    with torch.no_grad():  # not inference_mode: the targets enter the denoiser's autograd graph
        padded, (h, w) = model.network.pad(noisy)
        bu = model.network.bottom_up(padded)
        total = 0.0
        for _ in range(n_average):
            total = total + model.network.top_down(bu, deactivate=deactivate).out.float()[..., :h, :w]
        return total / n_average


@dataclass(frozen=True)
class DistillEvent(Progress):
    loss: float | None = None


def _check(minutes, steps, batch_size, patch_size, n_average, loss, lr_schedule, ema, depth=2, width=32):
    if loss not in LOSSES:
        raise InputError(f"loss={loss!r} must be one of {list(LOSSES)}.")
    if lr_schedule not in LR_SCHEDULES:
        raise InputError(f"lr_schedule={lr_schedule!r} must be one of {list(LR_SCHEDULES)}.")
    if ema is not None and not (isinstance(ema, (int, float)) and not isinstance(ema, bool) and 0 <= ema < 1):
        raise InputError(f"ema must be a number from 0 up to (not including) 1, not {ema!r}.")
    if minutes is None and steps is None:
        raise InputError("Give minutes or steps for the direct denoiser's training.")
    positive_minutes(minutes)
    for value, name in ((steps, "steps"), (batch_size, "batch_size"), (patch_size, "patch_size"), (n_average, "n_average"),
                        (depth, "depth"), (width, "width")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise InputError(f"{name} must be a positive whole number, not {value!r}.")


def distill_events(model: ModelLike, images: Any, deactivate: Collection[int] | str = (), *, minutes: float | None = None,
                   steps: int | None = None, batch_size: int = 8, patch_size: int = 64, n_average: int = 1,
                   loss: str = "l2", depth: int = 2, width: int = 32, lr: float = 1e-3, seed: int = 0,
                   precision: str = "auto", threads: int | None = None, stop: StopToken | None = None,
                   init: DirectUNet | None = None, lr_schedule: str = "constant",
                   ema: float | None = None) -> Generator[DistillEvent, None, DirectUNet]:
    """Train a direct denoiser for ``model`` with ``deactivate`` switched off; yields progress events.

    Arguments are checked when called (before the first event). The trained network is
    stored in ``model.direct_denoisers`` under its layer-set key and returned. ``init``: a direct
    denoiser to start from (its size replaces ``depth`` and ``width``; it is not modified), as
    :func:`napari_hdn.adapt` does with the parent model's. ``lr_schedule``: "constant" (default) keeps
    ``lr``; "cosine" lowers it to nothing over the budget (``steps`` or ``minutes``).
    ``ema``: keep and return an exponential moving average of the weights with this decay (0..1; None,
    the default: the last weights), to average out the noise that single posterior samples as targets put
    into the weights. On nuclei-pg (3 minutes, float32) 0.99 gave 28.26 dB against 28.25 without
    (benchmarks/bench_distill_options.py): no gain worth a default. ``threads``: torch threads, set in the
    thread that runs the steps (None: the usable cores), as for training and restoration. A loss that stops
    being finite raises :class:`~napari_hdn.foundation.errors.TrainingError`, as in training.
    """
    check_threads(threads)
    _check(minutes, steps, batch_size, patch_size, n_average, loss, lr_schedule, ema, depth, width)
    seed = checked_seed(seed)
    if init is not None:
        if not isinstance(init, DirectUNet):
            raise InputError(f"init must be a direct denoiser (DirectUNet), not {type(init).__name__}.")
        depth, width = init.depth, init.width
    model = resolve_model(model, None)
    planes = [check_image(np.asarray(p, dtype=np.float32), 1) for p in as_planes(images)]
    deactivate = as_deactivation(deactivate)
    if deactivate == "auto":  # the model's recorded noise layers, else the suggestion on the middle plane
        deactivate = auto_layers(model, planes[len(planes) // 2])
    off = model.deactivated_layers(deactivate)
    check_restoration_range(model, planes)  # the posterior targets would be meaningless, as a restoration
    if min(min(p.shape) for p in planes) < patch_size:
        raise InputError(f"The images must be at least patch_size={patch_size} pixels on each side.")
    device = model.device
    bf16 = use_bfloat16(precision, device)
    return _distill(model, planes, off, minutes, steps, batch_size, patch_size, n_average, loss, depth, width,
                    lr, seed, bf16, stop, device, init, lr_schedule, ema, threads)


class _WeightAverage:
    """An exponential moving average of a network's weights (short memory at first, ``decay`` later)."""

    def __init__(self, network: DirectUNet, decay: float):
        self.network = copy.deepcopy(network)
        self.decay = decay

    def update(self, network: DirectUNet, step: int) -> None:
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for mine, theirs in zip(self.network.parameters(), network.parameters()):
                mine.lerp_(theirs, 1.0 - decay)


def _cosine_lr(optimizer: torch.optim.Optimizer, lr: float, fraction: float) -> None:
    """Set the learning rate ``fraction`` (0..1) of the way through a cosine decay from ``lr`` to 0."""
    for group in optimizer.param_groups:
        group["lr"] = 0.5 * lr * (1.0 + np.cos(np.pi * min(max(fraction, 0.0), 1.0)))


def _distill(model, planes, off, minutes, steps, batch_size, patch_size, n_average, loss, depth, width, lr, seed,
             bf16, stop, device, init, lr_schedule, ema, threads):
    configure_threads(threads)  # here, in the thread that computes (a napari worker's, for the widgets)
    torch.manual_seed(seed)
    denoiser = DirectUNet(depth, width)
    if init is not None:
        denoiser.load_state_dict(init.state_dict())
    denoiser.to(device)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=lr)
    average = _WeightAverage(denoiser, ema) if ema is not None else None
    sampler = PatchSampler(planes, patch_size, np.random.default_rng(seed))
    model.network.eval()
    timer, step, value = Timer(), 0, None
    budget = None if minutes is None else 60.0 * minutes
    while not stop and (steps is None or step < steps) and (budget is None or timer.elapsed < budget):
        if lr_schedule == "cosine":  # by whichever budget ends first
            fraction = max(step / steps if steps else 0.0, timer.elapsed / budget if budget else 0.0)
            _cosine_lr(optimizer, lr, fraction)
        noisy = torch.from_numpy(model.normalize(sampler.sample(batch_size))).to(device)
        target = posterior_targets(model, noisy, off, n_average)
        value = direct_step(denoiser, optimizer, noisy, target, loss, bf16)
        if average is not None:
            average.update(denoiser, step)
        if not np.isfinite(value):
            raise TrainingError(f"The one-pass denoiser's loss became {value} at step {step}: try a lower lr.")
        step += 1
        done, total = (step, steps) if steps is not None else (timer.elapsed, budget)
        yield DistillEvent("distill", done, total, f"step {step} loss {value:.4g}", timer.elapsed,
                           timer.eta(done, total), loss=value)
    if average is not None:
        denoiser = average.network
    denoiser.eval()
    model.direct_denoisers[model.direct_key(off)] = denoiser
    return denoiser


def train_direct_denoiser(model: ModelLike, images: Any, deactivate: Collection[int] | str = (),
                          minutes: float | None = None, out: str | os.PathLike | None = None, *,
                          on_event: Callable[[DistillEvent], Any] | None = None, **options: Any) -> Any:
    """Train and attach a direct denoiser (see :func:`distill_events`); returns the model.

    ``out``: a model folder (a bundle with ``model.json``, or a training folder: its ``best``, else ``last``
    checkpoint) to save the direct denoisers into, so that loading that folder brings them back. It should
    hold the model they were trained for (e.g. the folder ``model`` was loaded from). Only
    ``direct.safetensors`` and its record in ``model.json`` are written, each replaced atomically; the weights
    are untouched. Without ``out`` the denoiser lives only in the returned model (``model.save`` writes it too;
    ``model.direct_denoisers.save(folder)`` adds it to a folder later). ``on_event``: called with each event.
    """
    folder = None if out is None else resolve_bundle_path(out)  # a wrong folder is refused before training
    model = resolve_model(model, None)
    drive(distill_events(model, images, deactivate, minutes=minutes, **options), on_event)
    if folder is not None:
        model.direct_denoisers.save(folder)
    return model
