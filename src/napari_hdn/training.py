"""Training HDN on noisy images alone: one generator for every front end.

:func:`training_events` prepares the data (random patches with the 8
flips/rotations, a validation split, the normalisation), trains the ladder VAE
with Adamax, gradient clipping, a learning-rate schedule and early stopping,
writes the ``last`` and ``best`` checkpoints into the output folder and yields a
:class:`TrainingEvent` after every step. The CLI drives it with a progress bar,
the napari widget in a thread worker; :func:`train` is the blocking form.

Presets: ``paper`` is the paper's configuration (a GPU job of hours); ``fast``
is a small network tuned by ``benchmarks/bench_fast_preset.py`` to reach the
best quality in 10-15 minutes on a 2-core CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._config import config_to_dict
from ._device import bfloat16_autocast, resolve_device, usable_cores, use_bfloat16
from ._validation import as_real_array, check_finite, check_not_rgb, is_dask
from .errors import FileFormatError, InputError, TrainingError
from .model.bundle import BEST, LAST, MODEL_JSON, HDNModel, load_model, replace_folder
from .config import PRESETS, ModelConfig, Preset, TrainConfig, resolve_config  # noqa: F401 (re-exported)
from .config.presets import BUDGET_FIELDS as _BUDGET_FIELDS
from .model.lvae import LadderVAE
from .model.objective import hdn_loss
from .progress import Progress, StopToken, drive

# Training data larger than this (as float32) stays lazy when given as a dask array.
MAX_IN_MEMORY_BYTES = 2 * 1024**3
_STATE_TENSORS = "training_state.safetensors"
_STATE_JSON = "training_state.json"
_STATE_VERSION = 1


# Settings that change how fast training runs, not what it computes: free to change on resume.
_RUNTIME_FIELDS = frozenset({"threads", "precision", "val_batch_size"})


@dataclass(frozen=True)
class TrainingEvent(Progress):
    """One report of :func:`training_events`.

    ``kind``: "setup" (data preparation), "step" (after each optimisation step),
    "validation" (after each validation round), "checkpoint" (a checkpoint was
    written to ``checkpoint``), "snapshot" (``model`` is a copy of the model as
    trained so far, see ``snapshot_every_s``) or "done" (training ended;
    ``message`` says why).
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
    val_loss: float | None = None
    best_val_loss: float | None = None
    lr: float | None = None
    patches_per_s: float | None = None
    checkpoint: str | None = None
    model: Any = None


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------
@dataclass
class TrainingData:
    """2-D training regions (numpy views or lazy dask slices), fixed validation patches and the normalisation."""

    train: list[Any]
    val_patches: np.ndarray  # (N, 1, p, p) float32, raw units
    data_mean: float
    data_std: float
    notes: list[str] = field(default_factory=list)


def as_planes(images: Any) -> list[Any]:
    """One or more images or stacks -> a list of 2-D planes (leading axes of a stack are planes).

    ``images`` is one array (2-D image, 3-D stack or time series, ...) or a list/tuple
    of such arrays (sizes may differ). Numpy and dask are accepted; dask stays lazy.
    """
    many = isinstance(images, (list, tuple)) and all(hasattr(a, "shape") for a in images)
    arrays = list(images) if many else [images]
    if not arrays:
        raise InputError("No training images given: pass an image, a stack or a list of them.")
    planes: list[Any] = []
    for i, array in enumerate(arrays):
        name = "training image" if len(arrays) == 1 else f"training image {i}"
        array = as_real_array(array, name)
        if array.ndim < 2:
            raise InputError(
                f"The {name} has shape {tuple(array.shape)}: HDN trains on 2-D images or stacks of them "
                "(3-D stacks and time series are used as sets of 2-D planes)."
            )
        check_not_rgb(array, name)
        h, w = array.shape[-2:]
        stack = array.reshape((-1, h, w))
        if not is_dask(stack):
            check_finite(stack, name)
        planes.extend(stack[k] for k in range(stack.shape[0]))
    return planes


def _mean_std(planes: Sequence[Any]) -> tuple[float, float]:
    """Mean and standard deviation over all pixels (float64, plane by plane, dask computed lazily)."""
    count, mean, m2 = 0, 0.0, 0.0
    for plane in planes:
        if is_dask(plane):
            import dask

            p_mean, p_var, n_bad = dask.compute(plane.mean(dtype=np.float64), plane.var(dtype=np.float64),
                                                (~_isfinite_dask(plane)).sum())
            if n_bad:
                raise InputError(
                    f"The training data contains {int(n_bad)} NaN or infinite value(s): replace or crop them."
                )
        else:
            p64 = np.asarray(plane, dtype=np.float64)
            p_mean, p_var = p64.mean(), p64.var()
        n = int(np.prod(plane.shape))
        delta = float(p_mean) - mean
        total = count + n
        mean += delta * n / total
        m2 += float(p_var) * n + delta * delta * count * n / total  # Chan et al.'s pairwise update
        count = total
    return mean, math.sqrt(m2 / count)


def _isfinite_dask(plane):
    import dask.array as da

    return da.isfinite(plane)


def prepare_data(images: Any, train_config: TrainConfig, seed: int | None = None) -> TrainingData:
    """Planes -> training regions and validation patches, as described in :class:`TrainConfig`.

    The validation split is by whole planes when ``val_fraction`` of them is at
    least one plane, else by regions: the last rows (or columns) of every plane.
    """
    cfg = train_config
    p = cfg.patch_size
    planes = as_planes(images)
    notes: list[str] = []
    too_small = [(i, tuple(pl.shape)) for i, pl in enumerate(planes) if min(pl.shape) < p]
    if too_small:
        i, shape = too_small[0]
        raise InputError(
            f"{len(too_small)} of {len(planes)} training plane(s) are smaller than the {p}x{p} training patches "
            f"(plane {i} is {shape[0]}x{shape[1]}): use larger images or a smaller patch_size."
        )
    rng = np.random.default_rng([cfg.seed if seed is None else seed, 1])
    n_val = int(round(cfg.val_fraction * len(planes)))
    if cfg.val_fraction == 0:
        train, val = planes, []
    elif n_val >= 1 and len(planes) - n_val >= 1:
        order = rng.permutation(len(planes))
        val_set = set(order[:n_val].tolist())
        train = [pl for i, pl in enumerate(planes) if i not in val_set]
        val = [pl for i, pl in enumerate(planes) if i in val_set]
        notes.append(f"validation: {n_val} of {len(planes)} planes")
    else:
        train, val = [], []
        for i, plane in enumerate(planes):
            axis = 0 if plane.shape[0] >= plane.shape[1] else 1
            size = plane.shape[axis]
            n_val_px = max(p, int(round(cfg.val_fraction * size)))
            if size - n_val_px < p:
                raise InputError(
                    f"Training plane {i} ({plane.shape[0]}x{plane.shape[1]}) is too small to hold out a validation "
                    f"region and still train on {p}x{p} patches: it needs at least {2 * p} pixels along one side. "
                    "Give more or larger images, a smaller patch_size, or val_fraction=0 (no validation)."
                )
            cut = size - n_val_px
            if axis == 0:
                train.append(plane[:cut]), val.append(plane[cut:])
            else:
                train.append(plane[:, :cut]), val.append(plane[:, cut:])
        notes.append(f"validation: the last {cfg.val_fraction:.0%} of the rows/columns of each plane")

    val_patches = _grid_patches(val, p, cfg.val_patches, rng)
    mean, std = _mean_std(train)
    if not std > 0:
        raise InputError("The training data is constant (standard deviation 0): there is nothing to learn from.")

    n_bytes = sum(int(np.prod(pl.shape)) for pl in train) * 4
    if any(is_dask(pl) for pl in train):
        if n_bytes <= MAX_IN_MEMORY_BYTES:
            train = [np.asarray(pl.compute() if is_dask(pl) else pl, dtype=np.float32) for pl in train]
            notes.append(f"loaded {n_bytes / 2**20:.0f} MiB of training data into memory")
        else:
            notes.append(f"training data ({n_bytes / 2**30:.1f} GiB) is read lazily, patch by patch")
    else:
        train = [pl if pl.dtype == np.float32 else pl.astype(np.float32) for pl in train]
        notes.append(f"{n_bytes / 2**20:.0f} MiB of training data in memory (float32)")
    return TrainingData(train=train, val_patches=val_patches, data_mean=mean, data_std=std, notes=notes)


def _grid_patches(planes: Sequence[Any], p: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Non-overlapping patches of ``planes`` on a grid; a random subset of at most ``limit``."""
    corners = [(i, r, c) for i, pl in enumerate(planes)
               for r in range(0, pl.shape[0] - p + 1, p) for c in range(0, pl.shape[1] - p + 1, p)]
    if len(corners) > limit:
        chosen = rng.choice(len(corners), size=limit, replace=False)
        corners = [corners[k] for k in sorted(chosen)]
    patches = [planes[i][r : r + p, c : c + p] for i, r, c in corners]
    if any(is_dask(x) for x in patches):
        import dask

        patches = list(dask.compute(*patches))
    if not patches:
        return np.zeros((0, 1, p, p), np.float32)
    return np.stack([np.asarray(x, dtype=np.float32) for x in patches])[:, None]


class PatchSampler:
    """Random ``p x p`` patches of the training regions with one of the 8 flips/rotations each.

    Regions are drawn in proportion to their number of patch positions, so every
    pixel is equally likely to be seen.
    """

    def __init__(self, regions: Sequence[Any], patch_size: int, rng: np.random.Generator):
        self.regions = list(regions)
        self.p = patch_size
        self.rng = rng
        positions = np.array([(r.shape[0] - patch_size + 1) * (r.shape[1] - patch_size + 1) for r in self.regions],
                             dtype=np.float64)
        self.weights = positions / positions.sum()

    def sample(self, n: int) -> np.ndarray:
        """(n, 1, p, p) float32 patches in raw units."""
        p, rng = self.p, self.rng
        which = rng.choice(len(self.regions), size=n, p=self.weights)
        crops = []
        for k in which:
            region = self.regions[k]
            r = int(rng.integers(0, region.shape[0] - p + 1))
            c = int(rng.integers(0, region.shape[1] - p + 1))
            crops.append(region[r : r + p, c : c + p])
        if any(is_dask(x) for x in crops):
            import dask

            crops = list(dask.compute(*crops))
        transforms = rng.integers(0, 8, size=n)
        out = np.empty((n, 1, p, p), np.float32)
        for j, (crop, t) in enumerate(zip(crops, transforms)):
            crop = np.rot90(np.asarray(crop, dtype=np.float32), int(t) % 4)
            out[j, 0] = crop[:, ::-1] if t >= 4 else crop
        return out


# ----------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------
def _training_state(optimizer, scheduler, rng: np.random.Generator, loop: dict[str, Any]) -> dict[str, bytes]:
    """Optimizer, schedule, random generators and loop counters as two files (safetensors + JSON)."""
    from safetensors.torch import save as save_tensors

    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"torch_rng": torch.get_rng_state()}
    per_param: dict[str, dict[str, Any]] = {}
    for idx, state in opt["state"].items():
        per_param[str(idx)] = {}
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{idx}.{name}"] = value.detach().to("cpu").contiguous().clone()
            else:
                per_param[str(idx)][name] = value
    info = {
        "version": _STATE_VERSION,
        "param_groups": opt["param_groups"],
        "optimizer_scalars": per_param,
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "loop": loop,
    }
    return {_STATE_TENSORS: save_tensors(tensors), _STATE_JSON: json.dumps(info, allow_nan=True).encode("utf-8")}


def _restore_training_state(folder: Path, optimizer, scheduler, rng: np.random.Generator) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        info = json.loads((folder / _STATE_JSON).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / _STATE_TENSORS))
    except (OSError, ValueError, json.JSONDecodeError) as err:
        raise FileFormatError(
            f"The training state in {folder} is missing or corrupt ({err}): it cannot be resumed; "
            "train a new model instead (without resume)."
        ) from err
    if info.get("version") != _STATE_VERSION:
        raise FileFormatError(f"The training state in {folder} has an unknown version; it cannot be resumed.")
    state: dict[int, dict[str, Any]] = {}
    for idx, scalars in info["optimizer_scalars"].items():
        state[int(idx)] = dict(scalars)
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": _with_implementation_of(optimizer, info["param_groups"])})
    _match_parameter_layout(optimizer)
    if scheduler is not None and info.get("scheduler") is not None:
        scheduler.load_state_dict(info["scheduler"])
    rng.bit_generator.state = info["numpy_rng"]
    torch.set_rng_state(tensors["torch_rng"])
    return info["loop"]


def _match_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored per-element state (Adam's moments) the memory layout of its parameter.

    Saved state is contiguous (safetensors), while bf16 training keeps conv weights channels-last; the
    fused Adam kernel walks parameter and moments as flat buffers, so mismatched strides would pair
    every element with another one's moments.
    """
    for parameter, state in optimizer.state.items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == parameter.shape and value.stride() != parameter.stride():
                state[name] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def _with_implementation_of(optimizer: torch.optim.Optimizer, saved_groups: list[dict]) -> list[dict]:
    """Saved parameter groups with ``optimizer``'s implementation flags (fused / foreach): those depend
    on the device and torch version that resume, not on the ones that saved (a fused kernel may be missing)."""
    current = optimizer.param_groups[0]
    flags = {key: current[key] for key in ("fused", "foreach") if key in current}
    return [{**group, **flags} for group in saved_groups]


def _check_out_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a model (or anything else) in ``out`` unless asked to."""
    if resume:
        if not (out / LAST / MODEL_JSON).is_file():
            raise InputError(
                f"Cannot resume: {out} holds no training checkpoint ({LAST}/{MODEL_JSON}). "
                "Start a new training (without resume) or give the folder of an earlier training."
            )
        return
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"The output {out} is a file: give a folder name for the model.")
    ours = {BEST, LAST, MODEL_JSON}
    content = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    if not content:
        return
    if content - ours:
        raise InputError(
            f"The output folder {out} already holds other files ({sorted(content - ours)[:3]}): "
            "choose a new folder for the model."
        )
    if (out / MODEL_JSON).exists():
        raise InputError(f"{out} is a saved model bundle, not a training folder: choose another folder.")
    if not overwrite:
        raise InputError(
            f"{out} already holds a model: choose another folder, resume its training (resume / --resume) "
            "or replace it (overwrite / --overwrite)."
        )


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------
def _resolve_noise_model(noise_model: Any, gaussian_sigma: float | None) -> Any:
    from .noise_models.base import NoiseModel
    from .noise_models.files import load_noise_model
    from .noise_models.gaussian import GaussianNoiseModel

    if noise_model is not None and gaussian_sigma is not None:
        raise InputError("Give either a noise model or a Gaussian noise sigma, not both.")
    if gaussian_sigma is not None:
        return GaussianNoiseModel(gaussian_sigma)
    if noise_model is None:
        raise InputError(
            "Training needs a noise model (noise_model=..., e.g. from napari_hdn.calibrate, or a .npz file) "
            "or, for data with Gaussian noise of known sigma, gaussian_sigma=..."
        )
    if isinstance(noise_model, (str, os.PathLike)):
        return load_noise_model(noise_model)
    if not isinstance(noise_model, NoiseModel):
        raise InputError(
            f"noise_model must be a napari-hdn noise model or the path of one, not {type(noise_model).__name__}."
        )
    return noise_model


class ThreadTuner:
    """Chooses the torch thread count between training steps by timing them.

    All CPUs are fastest on an idle machine, but when other programs keep some
    cores busy, threads that wait for each other at every operation make a step
    several times slower than fewer threads would. So now and then one step runs
    with the other candidate count; the faster one is kept, and the trials
    become rarer (up to every ``max_interval`` steps) while the choice holds.
    A fixed ``threads`` setting switches this off.
    """

    def __init__(self, fixed: int | None, max_interval: int = 400):
        usable = usable_cores()
        if fixed is not None:
            self.candidates = [fixed]
        elif usable <= 4:  # start with 1: cheap to try on a small machine, and safe on a busy one
            self.candidates = sorted({1, usable})
        else:
            self.candidates = [usable, usable // 2]
        self.current = self.candidates[0]
        self.max_interval = max_interval
        self.interval = 3
        self.steps_since_trial = 0
        self.step_s: float | None = None  # smoothed step time with the current count
        self.trial: int | None = None
        self.warm = False  # the first step sets up kernels: too slow to compare
        torch.set_num_threads(self.current)

    def before_step(self) -> None:
        if len(self.candidates) > 1 and self.step_s is not None and self.steps_since_trial >= self.interval:
            self.trial = next(c for c in self.candidates if c != self.current)
            torch.set_num_threads(self.trial)

    def after_step(self, seconds: float) -> None:
        if not self.warm:
            self.warm = True
            return
        if self.trial is None:
            self.step_s = seconds if self.step_s is None else 0.8 * self.step_s + 0.2 * seconds
            self.steps_since_trial += 1
            return
        if seconds < 0.9 * self.step_s:
            self.current, self.step_s, self.interval = self.trial, seconds, 3
        else:
            self.interval = min(2 * self.interval, self.max_interval)
            torch.set_num_threads(self.current)
        self.trial, self.steps_since_trial = None, 0


def _make_optimizer(cfg: TrainConfig, parameters) -> torch.optim.Optimizer:
    """The configured optimizer, in its fastest implementation for the parameters' device.

    The default per-tensor loop costs a Python round trip per parameter tensor, a sizeable share of a
    CPU training step with the fast preset's small network; the fused Adam kernel (CPU since torch 2.4)
    and the multi-tensor ("foreach") Adamax compute the same update.
    """
    parameters = list(parameters)
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.optimizer == "adam":
        try:
            return torch.optim.Adam(parameters, fused=True, **common)
        except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device or torch version
            return torch.optim.Adam(parameters, foreach=True, **common)
    return torch.optim.Adamax(parameters, foreach=True, **common)


@contextlib.contextmanager
def _fixed_rng(seed: int, device: torch.device):
    """Run a block with its own seeded torch generator, leaving the training stream untouched."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _lr_at(cfg: TrainConfig, fraction: float) -> float:
    """Cosine decay from ``lr`` to ``min_lr`` over the budget."""
    fraction = min(max(fraction, 0.0), 1.0)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * fraction))


def training_events(
    images: Any,
    noise_model: Any = None,
    preset: str = "fast",
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
    ``preset``: "fast" (CPU, minutes) or "paper"; ``overrides`` change any
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
    out_path = None if out is None else Path(out)
    if resume and out_path is None:
        raise InputError("resume needs the training folder (out=...) of the training to continue.")
    if out_path is not None:
        _check_out_folder(out_path, resume, overwrite)
    if snapshot_every_s is not None and not (
        isinstance(snapshot_every_s, (int, float)) and not isinstance(snapshot_every_s, bool) and snapshot_every_s > 0
    ):
        raise InputError(f"snapshot_every_s={snapshot_every_s!r} must be a positive number of seconds (or None).")

    if resume:
        assert out_path is not None
        checkpoint = load_model(out_path / LAST, device="cpu")
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
        model_config, train_config = resolve_config(preset, minutes, epochs, steps, seed, **overrides)
        noise = _resolve_noise_model(noise_model, gaussian_sigma)
        trained_off = tuple(deactivate)

    cfg = train_config
    torch.manual_seed(cfg.seed)
    network = LadderVAE(model_config)
    trained_off = tuple(sorted(i + 1 for i in network.layer_indices(trained_off)))  # clear error for bad layers
    if len(trained_off) == model_config.n_latent_layers:
        raise InputError("At least one latent layer must stay active: the model cannot learn with all layers off.")
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

    # With overwrite, the earlier model stays until this training has written its first checkpoint:
    # a failure before that (NaN, crash, kill) must not leave the user with no model at all.
    stale_checkpoints = (
        {name for name in (BEST, LAST) if (out_path / name).is_dir()}
        if out_path is not None and overwrite and not resume
        else set()
    )
    model = HDNModel(network, noise, data.data_mean, data.data_std, train_config=cfg,
                     trained_deactivated=trained_off)
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
    optimizer = _make_optimizer(cfg, network.parameters())
    scheduler = None
    if cfg.lr_schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
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

    def losses(x_raw: torch.Tensor):
        x = ((x_raw - mean_t) / std_t).contiguous(memory_format=memory_format)
        with bfloat16_autocast(torch_device, bf16):
            result = network(x, deactivate=trained_off)
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
        for chunk in chunks:
            terms = losses(chunk)
            if not torch.isfinite(terms.total):
                raise TrainingError(_nan_message("training loss", model.step + 1, out_path))
            (terms.total * (len(chunk) / len(x_raw))).backward()
            step_terms.add(terms, weight=len(chunk))
        grad_norm = torch.nn.utils.clip_grad_norm_(network.parameters(), cfg.max_grad_norm or math.inf)
        if torch.isfinite(grad_norm):
            optimizer.step()
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
            lr=optimizer.param_groups[0]["lr"],
            patches_per_s=speed,
            best_val_loss=loop["best_val_loss"],
            **progress_values(cfg.batch_size / speed),
        )
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
    network.eval()
    where = f"; model in {out_path}" if out_path is not None else ""
    yield event("done", f"{reason} after {model.step} steps{where}", step=model.step, epoch=model.epoch,
                best_val_loss=loop["best_val_loss"], done=1, total=1)
    return model


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


def train(
    images: Any,
    noise_model: Any = None,
    preset: str = "fast",
    minutes: float | None = None,
    epochs: int | None = None,
    out: str | os.PathLike | None = None,
    deactivate: Collection[int] = (),
    seed: int = 0,
    device: str | torch.device = "auto",
    on_event: Callable[[TrainingEvent], Any] | None = None,
    **kwargs: Any,
) -> HDNModel:
    """Blocking form of :func:`training_events` (same arguments); returns the trained model."""
    return drive(
        training_events(images, noise_model, preset, minutes, epochs, out, deactivate, seed, device, **kwargs),
        on_event,
    )
