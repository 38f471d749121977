"""The training loop itself: :func:`_training_run` drives the steps, validation rounds and checkpoints
from settings that :func:`napari_hdn.training.start.training_events` has checked."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._device import bfloat16_autocast, use_bfloat16
from ..config import ModelConfig, TrainConfig
from ..errors import TrainingError
from ..intensity_range import check_training_range
from ..noise_models.auto import bootstrap_for_training, estimate_for_training
from ..model.bundle import BEST, LAST, HDNModel, load_model
from ..model.lvae import LadderVAE
from ..model.objective import hdn_loss
from ..progress import StopToken
from .checkpoints import _restore_training_state, _training_state
from .data import PatchSampler, as_planes, prepare_data
from .events import TrainingEvent
from .optim import _fixed_rng, _lr_at, _make_optimizer
from .running import _Running
from .threads import ThreadTuner
from .warm_start import WarmStart, trainable_parameters

if TYPE_CHECKING:
    from ..noise_models.base import NoiseModel


def _training_run(
    images: Any,
    model_config: ModelConfig,
    train_config: TrainConfig,
    noise: NoiseModel | None,
    trained_off: tuple[int, ...],
    checkpoint: HDNModel | None,
    torch_device: torch.device,
    out_path: Path | None,
    overwrite: bool,
    stop: StopToken | None,
    snapshot_every_s: float | None,
    warm_start: WarmStart | None = None,
) -> Generator[TrainingEvent, None, HDNModel]:
    """The training of :func:`training_events`, from checked settings (``checkpoint``: the one resumed, or None;
    ``warm_start``: the trained weights an adaptation starts from, see :func:`napari_hdn.adapt`)."""
    resume = checkpoint is not None
    cfg = train_config
    torch.manual_seed(cfg.seed)
    network = LadderVAE(model_config)
    if warm_start is not None:
        network.load_state_dict(warm_start.state)
    parent = checkpoint.parent if resume else (warm_start.parent if warm_start is not None else None)
    trainable = trainable_parameters(network, parent["mode"] if parent else "all")
    threads = ThreadTuner(cfg.threads)
    timer_start = time.perf_counter()

    def event(kind: str, message: str, **values: Any) -> TrainingEvent:
        fields: dict[str, Any] = {"done": 0, "total": None}
        fields.update(values)
        return TrainingEvent(stage="training", message=message, elapsed_s=time.perf_counter() - timer_start,
                             kind=kind, **fields)

    yield event("setup", "preparing the training data")
    data = prepare_data(images, cfg)
    if resume:
        data.data_mean, data.data_std = checkpoint.data_mean, checkpoint.data_std
    for note in data.notes:
        yield event("setup", note)
    if noise is None:  # noise_model="auto"
        yield event("setup", "estimating a Poisson-Gaussian noise model from the noisy images")
        noise, estimate = estimate_for_training(as_planes(images))
        yield event("setup", "estimated noise model: gain {gain:.4g}, offset {offset:.4g}, read sigma "
                    "{read_sigma:.4g}".format(**estimate))
    data_range = check_training_range(data.train, noise)  # warns when far outside the noise model's range
    if resume:
        data_range = checkpoint.data_range or data_range

    # With overwrite, the earlier model stays until this training has written its first checkpoint:
    # a failure before that (NaN, crash, kill) must not leave the user with no model at all.
    stale_checkpoints = (
        {name for name in (BEST, LAST) if (out_path / name).is_dir()}
        if out_path is not None and overwrite and not resume
        else set()
    )
    model = HDNModel(network, noise, data.data_mean, data.data_std, train_config=cfg,
                     trained_deactivated=trained_off, data_range=data_range, parent=parent)
    if resume:
        network.load_state_dict(checkpoint.network.state_dict())
        model.history = list(checkpoint.history)
        model.step, model.epoch = checkpoint.step, checkpoint.epoch
    model.to(torch_device)
    bf16 = use_bfloat16(cfg.precision, torch_device)
    # Channels-last tensors let oneDNN / cuDNN use their fast bf16 convolution kernels.
    memory_format = torch.channels_last if bf16 else torch.contiguous_format
    network.to(memory_format=memory_format)
    network.train()
    optimizer = _make_optimizer(cfg, trainable)
    scheduler = None
    if cfg.lr_schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
    direct = None
    if cfg.direct_denoiser:
        from ..direct.concurrent import ConcurrentDirect

        if resume:
            model.direct_denoisers = dict(getattr(checkpoint, "direct_denoisers", {}))
        direct = ConcurrentDirect(model, trained_off, depth=cfg.direct_depth, width=cfg.direct_width,
                                  lr=cfg.direct_lr, loss=cfg.direct_loss, bf16=bf16, seed=cfg.seed)
    rng = np.random.default_rng([cfg.seed, 2])
    loop = {"best_val_loss": None, "rounds_without_improvement": 0, "elapsed_s": 0.0, "steps_this_epoch": 0}
    if resume:
        loop.update(_restore_training_state(out_path / LAST, optimizer, scheduler, rng))

    sampler = PatchSampler(data.train, cfg.patch_size, rng)
    mean_t = torch.tensor(data.data_mean, device=torch_device)
    std_t = torch.tensor(data.data_std, device=torch_device)
    has_val = len(data.val_patches) > 0
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch_record: dict[str, Any] | None = None

    def losses(x_raw: torch.Tensor, direct_targets: list | None = None):
        x = ((x_raw - mean_t) / std_t).contiguous(memory_format=memory_format)
        with bfloat16_autocast(torch_device, bf16):
            result = network(x, deactivate=trained_off)
        if direct_targets is not None:  # the decoded posterior sample, the direct denoiser's target
            direct_targets.append((x, result.out.detach()))
        return hdn_loss(result, x_raw, noise, data.data_mean, data.data_std, model_config.free_bits, trained_off)

    def validate() -> float | None:
        network.eval()
        total, n = 0.0, 0
        with torch.no_grad(), _fixed_rng(cfg.seed + 7919, torch_device):
            for start in range(0, len(data.val_patches), cfg.val_batch_size):
                if stop:
                    network.train()
                    return None
                x = torch.from_numpy(data.val_patches[start : start + cfg.val_batch_size]).to(torch_device)
                total += float(losses(x).total) * len(x)
                n += len(x)
        network.train()
        return total / n

    def save_checkpoint(name: str) -> Path | None:
        if out_path is None:
            return None
        extra = {}
        if name == LAST:
            loop["elapsed_s"] = total_elapsed()
            extra = _training_state(optimizer, scheduler, rng, loop)
        model.save(out_path / name, overwrite=True, extra_files=extra)  # replaces the folder atomically
        stale_checkpoints.discard(name)
        for old in stale_checkpoints:  # the earlier model's other checkpoint no longer belongs here
            shutil.rmtree(out_path / old, ignore_errors=True)
        stale_checkpoints.clear()
        return out_path / name

    budget_s = None if cfg.minutes is None else cfg.minutes * 60.0  # on resume: minutes of this session
    earlier_s = loop["elapsed_s"]  # training time of earlier sessions

    def total_elapsed() -> float:
        return earlier_s + time.perf_counter() - session_start
    max_steps = cfg.max_steps
    start_step = model.step
    session_start = time.perf_counter()
    val_cost_s = 0.0
    speed: float | None = None  # patches per second, smoothed
    window = _Running()
    reason = "budget reached"

    def fraction_done() -> float:
        fractions = []
        if max_steps:
            fractions.append(model.step / max_steps)
        if budget_s:
            fractions.append((time.perf_counter() - session_start) / budget_s)
        return max(fractions) if fractions else 0.0

    def schedule_fraction() -> float:
        """Where the cosine schedule is. A minutes budget counts this session's time, but the schedule
        spans the time of every session: a resumed training continues from the fraction its earlier time
        makes of the new total (an interrupted one exactly where it stopped) instead of restarting at 0."""
        if budget_s and not max_steps:
            return (earlier_s + time.perf_counter() - session_start) / (earlier_s + budget_s)
        return fraction_done()

    def time_left(step_s: float | None) -> float | None:
        left = []
        if budget_s:
            left.append(max(budget_s - (time.perf_counter() - session_start), 0.0))
        if max_steps and step_s:
            remaining = max_steps - model.step
            left.append(remaining * step_s + val_cost_s * math.ceil(remaining / cfg.steps_per_epoch))
        return min(left) if left else None

    def progress_values(step_s: float | None) -> dict[str, Any]:
        if budget_s and not max_steps:
            return {"done": round(time.perf_counter() - session_start, 1), "total": round(budget_s, 1),
                    "eta_s": time_left(step_s)}
        if max_steps and not budget_s:
            return {"done": model.step, "total": max_steps, "eta_s": time_left(step_s)}
        return {"done": round(1000 * fraction_done()), "total": 1000, "eta_s": time_left(step_s)}

    def end_of_epoch() -> Generator[TrainingEvent, None, bool]:
        """Validation, schedule, checkpoints; returns True when training should stop early."""
        nonlocal val_cost_s, best_state, best_epoch_record
        t0 = time.perf_counter()
        val = validate() if has_val else None
        if has_val and val is None:  # stopped during validation
            return True
        if val is not None and not math.isfinite(val):
            raise TrainingError(_nan_message("validation loss", model.step, out_path))
        record = window.summary()
        record.update(step=model.step, epoch=model.epoch, val_loss=val, lr=optimizer.param_groups[0]["lr"],
                      elapsed_s=round(total_elapsed(), 2))
        model.history.append(record)
        window.reset()
        improved = val is not None and (loop["best_val_loss"] is None or val < loop["best_val_loss"])
        if improved:
            loop["best_val_loss"], loop["rounds_without_improvement"] = val, 0
        elif val is not None:
            loop["rounds_without_improvement"] += 1
        if scheduler is not None and val is not None:
            scheduler.step(val)
        values = progress_values(speed and cfg.batch_size / speed)
        yield event("validation", f"epoch {model.epoch}: validation loss {_fmt(val)} (best {_fmt(loop['best_val_loss'])})",
                    step=model.step, epoch=model.epoch, val_loss=val, best_val_loss=loop["best_val_loss"],
                    lr=optimizer.param_groups[0]["lr"], **values)
        if improved or not has_val:
            best_state = {k: v.detach().to("cpu").clone() for k, v in network.state_dict().items()}
            best_epoch_record = record
            path = save_checkpoint(BEST)
            if path is not None:
                yield event("checkpoint", f"saved the best model so far in {path}", step=model.step,
                            epoch=model.epoch, checkpoint=str(path), **values)
        path = save_checkpoint(LAST)
        if path is not None:
            yield event("checkpoint", f"saved checkpoint {path}", step=model.step, epoch=model.epoch,
                        checkpoint=str(path), **values)
        val_cost_s = time.perf_counter() - t0
        patience = cfg.early_stopping_patience
        return bool(has_val and patience is not None and loop["rounds_without_improvement"] >= patience)

    yield event("setup", f"training on {torch_device.type} ({'bfloat16' if bf16 else 'float32'}) "
                f"with {'/'.join(map(str, threads.candidates))} thread(s); "
                f"{network.n_parameters():,} parameters", step=model.step, epoch=model.epoch)
    steps_this_epoch = loop["steps_this_epoch"]
    last_snapshot = time.perf_counter()
    while True:
        if stop:
            reason = "stopped"
            break
        if max_steps is not None and model.step >= max_steps:
            break
        if budget_s is not None:
            step_s = cfg.batch_size / speed if speed else 0.0
            if time.perf_counter() - session_start + step_s + val_cost_s > budget_s and model.step > start_step:
                break
        threads.before_step()
        t_step = time.perf_counter()
        if cfg.lr_schedule == "cosine":
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(cfg, schedule_fraction())
        x_raw = torch.from_numpy(sampler.sample(cfg.batch_size)).to(torch_device)
        optimizer.zero_grad(set_to_none=True)
        chunks = torch.split(x_raw, cfg.virtual_batch or cfg.batch_size)
        step_terms = _Running()
        direct_targets: list | None = [] if direct is not None else None
        for chunk in chunks:
            terms = losses(chunk, direct_targets)
            if not torch.isfinite(terms.total):
                raise TrainingError(_nan_message("training loss", model.step + 1, out_path))
            (terms.total * (len(chunk) / len(x_raw))).backward()
            step_terms.add(terms, weight=len(chunk))
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm or math.inf)
        if torch.isfinite(grad_norm):
            optimizer.step()
        if direct is not None:
            for x_norm, target in direct_targets:
                direct.step(x_norm, target)
        model.step += 1
        steps_this_epoch += 1
        loop["steps_this_epoch"] = steps_this_epoch
        summary = step_terms.summary()
        window.merge(step_terms)
        step_s = time.perf_counter() - t_step
        threads.after_step(step_s)
        now_speed = cfg.batch_size / max(step_s, 1e-9)
        speed = now_speed if speed is None else 0.9 * speed + 0.1 * now_speed
        yield event(
            "step",
            f"step {model.step} loss {summary['loss']:.4f}",
            step=model.step,
            epoch=model.epoch + 1,
            loss=summary["loss"],
            reconstruction_loss=summary["reconstruction_loss"],
            kl_loss=summary["kl_loss"],
            kl_per_layer=tuple(summary["kl_per_layer"]),
            direct_loss=None if direct is None else direct.last_loss,
            lr=optimizer.param_groups[0]["lr"],
            patches_per_s=speed,
            best_val_loss=loop["best_val_loss"],
            **progress_values(cfg.batch_size / speed),
        )
        if cfg.bootstrap_at is not None and not loop.get("bootstrapped") and schedule_fraction() >= cfg.bootstrap_at:
            yield event("bootstrap", "bootstrapping a GMM noise model from the model's own restorations",
                        step=model.step, epoch=model.epoch, **progress_values(cfg.batch_size / speed))
            network.eval()
            noise = bootstrap_for_training(model, as_planes(images), cfg.bootstrap_planes, cfg.bootstrap_samples,
                                           cfg.seed).to(torch_device)
            network.train()
            model.noise_model = noise
            # Losses under the new noise model are not comparable with the earlier ones.
            loop.update(bootstrapped=True, best_val_loss=None, rounds_without_improvement=0)
            yield event("bootstrap", "training continues with the bootstrapped GMM noise model",
                        step=model.step, epoch=model.epoch, **progress_values(cfg.batch_size / speed))
        if snapshot_every_s is not None and time.perf_counter() - last_snapshot >= snapshot_every_s:
            yield event("snapshot", f"model at step {model.step}", step=model.step, epoch=model.epoch,
                        model=model.copy(), **progress_values(cfg.batch_size / speed))
            last_snapshot = time.perf_counter()
        if steps_this_epoch >= cfg.steps_per_epoch:
            model.epoch += 1
            steps_this_epoch = loop["steps_this_epoch"] = 0
            if (yield from end_of_epoch()):
                reason = ("stopped" if stop else
                          f"early stopping: no better validation loss for {cfg.early_stopping_patience} rounds")
                break
    if reason != "stopped" and steps_this_epoch > 0:
        model.epoch += 1  # a partial last epoch still ends with validation and checkpoints
        loop["steps_this_epoch"] = 0
        yield from end_of_epoch()
    elif reason == "stopped" and model.step > start_step:
        if window.count:
            record = window.summary()
            record.update(step=model.step, epoch=model.epoch, val_loss=None, lr=optimizer.param_groups[0]["lr"],
                          elapsed_s=round(total_elapsed(), 2), stopped=True)
            model.history.append(record)
        path = save_checkpoint(LAST)
        if path is not None and not (out_path / BEST).exists():
            model.save(out_path / BEST, overwrite=True)

    if best_state is not None:
        network.load_state_dict(best_state)
    elif resume:
        best_path = out_path / BEST
        if best_path.is_dir():
            network.load_state_dict(load_model(best_path, device="cpu").network.state_dict())
    network.requires_grad_(True)  # an adaptation froze some weights for its own steps only
    network.eval()
    if direct is not None:
        direct.finish()
    where = f"; model in {out_path}" if out_path is not None else ""
    yield event("done", f"{reason} after {model.step} steps{where}", step=model.step, epoch=model.epoch,
                best_val_loss=loop["best_val_loss"], done=1, total=1)
    return model


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _nan_message(what: str, step: int, out: Path | None) -> str:
    kept = ""
    if out is not None:
        kept = (f" The last good checkpoint is kept in {out / LAST}." if (out / LAST).exists()
                else " No checkpoint had been written yet.")
    return (
        f"The {what} became NaN or infinite at step {step}, so training stopped.{kept} "
        "Check that the noise model was calibrated for this data (same camera, same units, covering its "
        "intensity range), or train with a lower learning rate (lr=...)."
    )
