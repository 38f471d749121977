"""The training loop itself: :class:`_TrainingRun` drives the steps, validation rounds and checkpoints
from settings that :func:`napari_hdn.training.start.training_events` has checked.

One object holds the state of a run (network, optimiser, data, clock, counters); each stage is a method
that fits on a screen: set-up, one optimisation step, the end of an epoch (validation, schedule,
checkpoints), the noise model's bootstrap, the end of training.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks.intensity_range import check_training_range
from ..config import ModelConfig, TrainConfig
from ..foundation.device import bfloat16_autocast, use_bfloat16
from ..foundation.errors import TrainingError
from ..foundation.progress import StopToken
from ..model.bundle import BEST, LAST, MODEL_JSON, HDNModel, load_model
from ..model.lvae import LadderVAE
from ..model.metadata_file import record_noise_layers
from ..model.objective import hdn_loss
from ..noise_models.auto import bootstrap_for_training, estimate_for_training
from .checkpoints import _restore_training_state, _training_state
from .clock import TrainingClock
from .data import PatchSampler, as_planes, prepare_data
from .events import TrainingEvent
from .noise_layers import knows_correlation, noise_layer_record, suggest_on_training_plane
from .optim import _fixed_rng, _lr_at, _make_optimizer
from .running import _Running
from .threads import ThreadTuner
from .warm_start import WarmStart, trainable_parameters

if TYPE_CHECKING:
    from ..noise_models.base import NoiseModel


@dataclass(frozen=True)
class TrainingPlan:
    """What one training run needs, checked at the door (``training_events``, ``adapt_events``).

    ``noise``: the resolved noise model (None: ``noise_model="auto"``, estimated from the data);
    ``checkpoint``: the model a resumed run continues; ``warm_start``: the trained weights an adaptation
    starts from (see :func:`napari_hdn.adapt`); ``out_path``: the output folder (None: in memory only).
    """

    images: Any
    model_config: ModelConfig
    train_config: TrainConfig
    noise: NoiseModel | None
    trained_off: tuple[int, ...]
    device: torch.device
    out_path: Path | None = None
    overwrite: bool = False
    snapshot_every_s: float | None = None
    checkpoint: HDNModel | None = None
    warm_start: WarmStart | None = None


def _training_run(plan: TrainingPlan, *, stop: StopToken | None = None) -> Generator[TrainingEvent, None, HDNModel]:
    """Run the training that ``plan`` describes; returns the trained model."""
    run = _TrainingRun(plan, stop)
    return (yield from run.run())


class _TrainingRun:
    """The state of one training run and its stages."""

    def __init__(self, plan: TrainingPlan, stop: StopToken | None):
        self.images, self.model_config, self.cfg = plan.images, plan.model_config, plan.train_config
        self.noise, self.trained_off, self.checkpoint = plan.noise, plan.trained_off, plan.checkpoint
        self.device, self.out_path, self.overwrite = plan.device, plan.out_path, plan.overwrite
        self.stop, self.snapshot_every_s, self.warm_start = stop, plan.snapshot_every_s, plan.warm_start
        self.resume = plan.checkpoint is not None
        self.timer_start = time.perf_counter()
        self.speed: float | None = None  # patches per second, smoothed
        self.window = _Running()  # loss means since the last validation round
        self.best_state: dict[str, torch.Tensor] | None = None

    def event(self, kind: str, message: str, **values: Any) -> TrainingEvent:
        fields: dict[str, Any] = {"done": 0, "total": None}
        fields.update(values)
        return TrainingEvent(stage="training", message=message, elapsed_s=time.perf_counter() - self.timer_start,
                             kind=kind, **fields)

    def progress(self) -> dict[str, Any]:
        return self.clock.progress(self.model.step, self.speed and self.cfg.batch_size / self.speed)

    def run(self) -> Generator[TrainingEvent, None, HDNModel]:
        yield from self._prepare_data()
        self._build()
        yield self.event("setup", f"training on {self.device.type} ({'bfloat16' if self.bf16 else 'float32'}) "
                         f"with {'/'.join(map(str, self.threads.candidates))} thread(s); "
                         f"{self.network.n_parameters():,} parameters", step=self.model.step, epoch=self.model.epoch)
        reason = yield from self._steps()
        yield from self._finish(reason)
        return self.model

    # -- set-up -------------------------------------------------------------------------------------------------
    def _prepare_data(self) -> Generator[TrainingEvent, None, None]:
        cfg, checkpoint = self.cfg, self.checkpoint
        torch.manual_seed(cfg.seed)
        self.network = LadderVAE(self.model_config)
        if self.warm_start is not None:
            self.network.load_state_dict(self.warm_start.state)
        self.parent = checkpoint.parent if self.resume else (self.warm_start.parent if self.warm_start else None)
        self.trainable = trainable_parameters(self.network, self.parent["mode"] if self.parent else "all")
        self.threads = ThreadTuner(cfg.threads)
        yield self.event("setup", "preparing the training data")
        self.data = prepare_data(self.images, cfg)
        if self.resume:
            self.data.data_mean, self.data.data_std = checkpoint.data_mean, checkpoint.data_std
        for note in self.data.notes:
            yield self.event("setup", note)
        if self.noise is None:  # noise_model="auto"
            yield self.event("setup", "estimating a Poisson-Gaussian noise model from the noisy images")
            self.noise, estimate = estimate_for_training(as_planes(self.images))
            yield self.event("setup", "estimated noise model: gain {gain:.4g}, offset {offset:.4g}, read sigma "
                             "{read_sigma:.4g}".format(**estimate))
        self.data_range = check_training_range(self.data.train, self.noise)  # warns far outside the noise model's
        if self.resume:
            self.data_range = checkpoint.data_range or self.data_range

    def _build(self) -> None:
        """The model, optimiser, schedule, direct denoiser, sampler and clock (restored when resuming)."""
        cfg, checkpoint, network, data = self.cfg, self.checkpoint, self.network, self.data
        out_path = self.out_path
        # With overwrite, the earlier model stays until this training has written its first checkpoint:
        # a failure before that (NaN, crash, kill) must not leave the user with no model at all.
        self.stale_checkpoints = (
            {name for name in (BEST, LAST) if (out_path / name).is_dir()}
            if out_path is not None and self.overwrite and not self.resume
            else set()
        )
        model = self.model = HDNModel(network, self.noise, data.data_mean, data.data_std, train_config=cfg,
                                      trained_deactivated=self.trained_off, data_range=self.data_range,
                                      parent=self.parent)
        if self.resume:
            network.load_state_dict(checkpoint.network.state_dict())
            model.history = list(checkpoint.history)
            model.step, model.epoch = checkpoint.step, checkpoint.epoch
        model.to(self.device)
        self.bf16 = use_bfloat16(cfg.precision, self.device)
        # Channels-last tensors let oneDNN / cuDNN use their fast bf16 convolution kernels.
        self.memory_format = torch.channels_last if self.bf16 else torch.contiguous_format
        network.to(memory_format=self.memory_format)
        network.train()
        self.optimizer = _make_optimizer(cfg, self.trainable)
        self.scheduler = None
        if cfg.lr_schedule == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
            )
        self.direct = None
        if cfg.direct_denoiser:
            from ..direct.concurrent import ConcurrentDirect

            if self.resume:
                model.direct_denoisers = dict(checkpoint.direct_denoisers)
            self.direct = ConcurrentDirect(model, self.trained_off, depth=cfg.direct_depth, width=cfg.direct_width,
                                           lr=cfg.direct_lr, loss=cfg.direct_loss, bf16=self.bf16, seed=cfg.seed)
        self.rng = np.random.default_rng([cfg.seed, 2])
        self.loop = {"best_val_loss": None, "rounds_without_improvement": 0, "elapsed_s": 0.0,
                     "steps_this_epoch": 0}
        if self.resume:
            self.loop.update(_restore_training_state(out_path / LAST, self.optimizer, self.scheduler, self.rng))
        self.sampler = PatchSampler(data.train, cfg.patch_size, self.rng)
        self.mean_t = torch.tensor(data.data_mean, device=self.device)
        self.std_t = torch.tensor(data.data_std, device=self.device)
        self.has_val = len(data.val_patches) > 0
        # On resume the minutes budget is this session's; the earlier sessions' time counts for the schedule.
        self.clock = TrainingClock(None if cfg.minutes is None else cfg.minutes * 60.0, cfg.max_steps,
                                   self.loop["elapsed_s"], cfg.steps_per_epoch)
        self.start_step = model.step

    # -- losses, validation, checkpoints ------------------------------------------------------------------------
    def losses(self, x_raw: torch.Tensor, direct_targets: list | None = None):
        x = ((x_raw - self.mean_t) / self.std_t).contiguous(memory_format=self.memory_format)
        with bfloat16_autocast(self.device, self.bf16):
            result = self.network(x, deactivate=self.trained_off)
        if direct_targets is not None:  # the decoded posterior sample, the direct denoiser's target
            direct_targets.append((x, result.out.detach()))
        return hdn_loss(result, x_raw, self.noise, self.data.data_mean, self.data.data_std,
                        self.model_config.free_bits, self.trained_off)

    def validate(self) -> float | None:
        """The mean validation loss (fixed random draws), or None when stopped during it."""
        network, cfg, patches = self.network, self.cfg, self.data.val_patches
        network.eval()
        total, n = 0.0, 0
        with torch.no_grad(), _fixed_rng(cfg.seed + 7919, self.device):
            for start in range(0, len(patches), cfg.val_batch_size):
                if self.stop:
                    network.train()
                    return None
                x = torch.from_numpy(patches[start : start + cfg.val_batch_size]).to(self.device)
                total += float(self.losses(x).total) * len(x)
                n += len(x)
        network.train()
        return total / n

    def save_checkpoint(self, name: str) -> Path | None:
        if self.out_path is None:
            return None
        extra = {}
        if name == LAST:
            self.loop["elapsed_s"] = self.clock.total_elapsed()
            extra = _training_state(self.optimizer, self.scheduler, self.rng, self.loop)
        try:  # written beside the old checkpoint, then swapped with it: a failure leaves the old one whole
            self.model.save(self.out_path / name, overwrite=True, extra_files=extra)
        except OSError as err:  # e.g. a full disk
            raise TrainingError(_save_failed_message(self.out_path / name, err)) from err
        self.stale_checkpoints.discard(name)
        for old in self.stale_checkpoints:  # the earlier model's other checkpoint no longer belongs here
            shutil.rmtree(self.out_path / old, ignore_errors=True)
        self.stale_checkpoints.clear()
        return self.out_path / name

    def _end_of_epoch(self) -> Generator[TrainingEvent, None, bool]:
        """Validation, schedule, checkpoints; returns True when training should stop early."""
        model, loop, cfg = self.model, self.loop, self.cfg
        t0 = time.perf_counter()
        val = self.validate() if self.has_val else None
        if self.has_val and val is None:  # stopped during validation
            return True
        if val is not None and not math.isfinite(val):
            raise TrainingError(_nan_message("validation loss", model.step, self.out_path))
        lr = self.optimizer.param_groups[0]["lr"]
        record = self.window.summary()
        record.update(step=model.step, epoch=model.epoch, val_loss=val, lr=lr,
                      elapsed_s=round(self.clock.total_elapsed(), 2))
        model.history.append(record)
        self.window.reset()
        improved = val is not None and (loop["best_val_loss"] is None or val < loop["best_val_loss"])
        if improved:
            loop["best_val_loss"], loop["rounds_without_improvement"] = val, 0
        elif val is not None:
            loop["rounds_without_improvement"] += 1
        if self.scheduler is not None and val is not None:
            self.scheduler.step(val)
        values = self.progress()
        yield self.event("validation", f"epoch {model.epoch}: validation loss {_fmt(val)} "
                         f"(best {_fmt(loop['best_val_loss'])})", step=model.step, epoch=model.epoch, val_loss=val,
                         best_val_loss=loop["best_val_loss"], lr=lr, **values)
        if improved or not self.has_val:
            self.best_state = {k: v.detach().to("cpu").clone() for k, v in self.network.state_dict().items()}
            path = self.save_checkpoint(BEST)
            if path is not None:
                yield self.event("checkpoint", f"saved the best model so far in {path}", step=model.step,
                                 epoch=model.epoch, checkpoint=str(path), **values)
        path = self.save_checkpoint(LAST)
        if path is not None:
            yield self.event("checkpoint", f"saved checkpoint {path}", step=model.step, epoch=model.epoch,
                             checkpoint=str(path), **values)
        self.clock.val_cost_s = time.perf_counter() - t0
        patience = cfg.early_stopping_patience
        return bool(self.has_val and patience is not None and loop["rounds_without_improvement"] >= patience)

    # -- the steps ----------------------------------------------------------------------------------------------
    def _steps(self) -> Generator[TrainingEvent, None, str]:
        """Optimisation steps until the budget, a stop or early stopping; returns why training ended."""
        cfg, model, clock = self.cfg, self.model, self.clock
        last_snapshot = time.perf_counter()
        while True:
            if self.stop:
                return "stopped"
            if clock.max_steps is not None and model.step >= clock.max_steps:
                return "budget reached"
            step_s = cfg.batch_size / self.speed if self.speed else 0.0
            if clock.out_of_time(step_s) and model.step > self.start_step:
                return "budget reached"
            yield self._step()
            if cfg.bootstrap_at is not None and not self.loop.get("bootstrapped") and (
                    clock.schedule_fraction(model.step) >= cfg.bootstrap_at):
                yield from self._bootstrap()
            if self.snapshot_every_s is not None and time.perf_counter() - last_snapshot >= self.snapshot_every_s:
                yield self.event("snapshot", f"model at step {model.step}", step=model.step, epoch=model.epoch,
                                 model=model.copy(), **self.progress())
                last_snapshot = time.perf_counter()
            if self.loop["steps_this_epoch"] >= cfg.steps_per_epoch:
                model.epoch += 1
                self.loop["steps_this_epoch"] = 0
                if (yield from self._end_of_epoch()):
                    return ("stopped" if self.stop else
                            f"early stopping: no better validation loss for {cfg.early_stopping_patience} rounds")

    def _step(self) -> TrainingEvent:
        """One optimisation step (and one of the concurrent direct denoiser); returns its event."""
        cfg, model = self.cfg, self.model
        self.threads.before_step()
        t_step = time.perf_counter()
        if cfg.lr_schedule == "cosine":
            for group in self.optimizer.param_groups:
                group["lr"] = _lr_at(cfg, self.clock.schedule_fraction(model.step))
        x_raw = torch.from_numpy(self.sampler.sample(cfg.batch_size)).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        step_terms = _Running()
        direct_targets: list | None = [] if self.direct is not None else None
        for chunk in torch.split(x_raw, cfg.virtual_batch or cfg.batch_size):
            terms = self.losses(chunk, direct_targets)
            if not torch.isfinite(terms.total):
                raise TrainingError(_nan_message("training loss", model.step + 1, self.out_path))
            (terms.total * (len(chunk) / len(x_raw))).backward()
            step_terms.add(terms, weight=len(chunk))
        grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, cfg.max_grad_norm or math.inf)
        if torch.isfinite(grad_norm):
            self.optimizer.step()
        if self.direct is not None:
            for x_norm, target in direct_targets:
                self.direct.step(x_norm, target)
        model.step += 1
        self.loop["steps_this_epoch"] += 1
        summary = step_terms.summary()
        self.window.merge(step_terms)
        step_s = time.perf_counter() - t_step
        self.threads.after_step(step_s)
        now_speed = cfg.batch_size / max(step_s, 1e-9)
        self.speed = now_speed if self.speed is None else 0.9 * self.speed + 0.1 * now_speed
        return self.event(
            "step", f"step {model.step} loss {summary['loss']:.4f}", step=model.step, epoch=model.epoch + 1,
            loss=summary["loss"], reconstruction_loss=summary["reconstruction_loss"], kl_loss=summary["kl_loss"],
            kl_per_layer=tuple(summary["kl_per_layer"]),
            direct_loss=None if self.direct is None else self.direct.last_loss,
            lr=self.optimizer.param_groups[0]["lr"], patches_per_s=self.speed,
            best_val_loss=self.loop["best_val_loss"], **self.progress(),
        )

    def _bootstrap(self) -> Generator[TrainingEvent, None, None]:
        """noise_model="auto": replace the estimated noise model by a GMM bootstrapped from the model's own
        restorations, and go on training with it."""
        model, cfg = self.model, self.cfg
        yield self.event("bootstrap", "bootstrapping a GMM noise model from the model's own restorations",
                         step=model.step, epoch=model.epoch, **self.progress())
        planes = as_planes(self.images)
        off = ()
        if knows_correlation(self.noise):  # leave the layers that learnt the noise out of the pseudo-clean signal
            suggestion = suggest_on_training_plane(model, planes)
            off = suggestion.layers
            yield self.event("bootstrap", f"before bootstrapping: {suggestion.summary}", step=model.step,
                             epoch=model.epoch, **self.progress())
        self.network.eval()
        noise, note = bootstrap_for_training(model, planes, cfg.bootstrap_planes, cfg.bootstrap_samples, cfg.seed, off)
        self.network.train()
        changed = noise is not self.noise
        self.noise = noise.to(self.device)
        model.noise_model = self.noise
        if changed:  # losses under the new noise model are not comparable with the earlier ones
            self.loop.update(best_val_loss=None, rounds_without_improvement=0)
        self.loop.update(bootstrapped=True)
        yield self.event("bootstrap", f"training continues: {note}", step=model.step, epoch=model.epoch,
                         **self.progress())

    def _record_noise_layers(self) -> Generator[TrainingEvent, None, None]:
        """Which layers hold the camera's correlated noise: kept with the model and its saved checkpoints."""
        model = self.model
        suggestion = suggest_on_training_plane(model, as_planes(self.images))
        model.noise_layers = noise_layer_record(suggestion, model.step)
        if self.out_path is not None:
            for name in (BEST, LAST):
                if (self.out_path / name / MODEL_JSON).is_file():
                    record_noise_layers(self.out_path / name, model.noise_layers)
        yield self.event("noise_layers", f"noise layers: {suggestion.summary} (restore with deactivate=\"auto\")",
                         step=model.step, epoch=model.epoch, **self.progress())

    # -- the end ------------------------------------------------------------------------------------------------
    def _finish(self, reason: str) -> Generator[TrainingEvent, None, None]:
        """The last validation and checkpoints (or, when stopped, the ``last`` checkpoint), then the best weights."""
        model, network, out_path, loop = self.model, self.network, self.out_path, self.loop
        if reason != "stopped" and loop["steps_this_epoch"] > 0:
            model.epoch += 1  # a partial last epoch still ends with validation and checkpoints
            loop["steps_this_epoch"] = 0
            yield from self._end_of_epoch()
        elif reason == "stopped" and model.step > self.start_step:
            if self.window.count:
                record = self.window.summary()
                record.update(step=model.step, epoch=model.epoch, val_loss=None,
                              lr=self.optimizer.param_groups[0]["lr"], elapsed_s=round(self.clock.total_elapsed(), 2),
                              stopped=True)
                model.history.append(record)
            path = self.save_checkpoint(LAST)
            if path is not None and not (out_path / BEST).exists():
                self.save_checkpoint(BEST)
        if self.best_state is not None:
            network.load_state_dict(self.best_state)
        elif self.resume:
            best_path = out_path / BEST
            if best_path.is_dir():
                network.load_state_dict(load_model(best_path, device="cpu").network.state_dict())
        network.requires_grad_(True)  # an adaptation froze some weights for its own steps only
        network.eval()
        if reason != "stopped" and knows_correlation(model.noise_model):
            yield from self._record_noise_layers()
        if self.direct is not None:
            self.direct.finish()
        where = f"; model in {out_path}" if out_path is not None else ""
        yield self.event("done", f"{reason} after {model.step} steps{where}", step=model.step, epoch=model.epoch,
                         best_val_loss=loop["best_val_loss"], done=1, total=1)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _kept(out: Path | None) -> str:
    if out is None:
        return ""
    return (f" The last good checkpoint is kept in {out / LAST}." if (out / LAST).exists()
            else " No checkpoint had been written yet.")


def _save_failed_message(target: Path, err: OSError) -> str:
    return (f"Cannot save the checkpoint {target} ({err.strerror or err}), so training stopped.{_kept(target.parent)} "
            "Free some disk space, then continue the training (resume=True).")


def _nan_message(what: str, step: int, out: Path | None) -> str:
    kept = _kept(out)
    return (
        f"The {what} became NaN or infinite at step {step}, so training stopped.{kept} "
        "Check that the noise model was calibrated for this data (same camera, same units, covering its "
        "intensity range), or train with a lower learning rate (lr=...)."
    )
