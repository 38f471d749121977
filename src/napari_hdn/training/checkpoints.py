"""The output folder and its checkpoints: training state (save, resume) and folder rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..foundation.errors import FileFormatError, InputError
from ..model.bundle import BEST, LAST, MODEL_JSON
from ..model.folder_checks import read_limited_text


_STATE_TENSORS = "training_state.safetensors"
_STATE_JSON = "training_state.json"
_STATE_VERSION = 1


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
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        info = json.loads(read_limited_text(folder / _STATE_JSON))
        tensors = load_file(str(folder / _STATE_TENSORS))
    except (OSError, ValueError, SafetensorError, RecursionError) as err:
        raise FileFormatError(
            f"The training state in {folder} is missing or corrupt ({err}): it cannot be resumed; "
            "train a new model instead (without resume)."
        ) from err
    if not isinstance(info, dict) or info.get("version") != _STATE_VERSION:
        raise FileFormatError(f"The training state in {folder} has an unknown version; it cannot be resumed.")
    try:
        return _apply_training_state(info, tensors, optimizer, scheduler, rng)
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
        raise FileFormatError(
            f"The training state in {folder} is corrupt or does not fit this model ({type(err).__name__}: {err}): "
            "it cannot be resumed; train a new model instead (without resume)."
        ) from err


def _apply_training_state(info: dict[str, Any], tensors: dict[str, torch.Tensor], optimizer, scheduler,
                          rng: np.random.Generator) -> dict[str, Any]:
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
    loop = info["loop"]
    if not isinstance(loop, dict):
        raise TypeError("the loop counters are not a record")
    return loop


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
            f"{out} already holds a model: choose another folder, resume its training (resume=True) "
            "or replace it (overwrite=True)."
        )
