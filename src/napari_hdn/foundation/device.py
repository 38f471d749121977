"""Choosing where and how torch computes: the device (CUDA, then Apple MPS, then CPU,
or the user's choice), how many CPU cores there are, and when bfloat16 pays off."""

from __future__ import annotations

import contextlib
import os

import torch

from .errors import InputError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``device`` ("auto", "cpu", "cuda", "cuda:1", "mps" or a torch.device).

    "auto" (or None) picks CUDA when available, then Apple MPS, then the CPU. Asking
    for an accelerator that is not there is an error rather than a silent fallback,
    so that a user who asked for the GPU knows it is not being used.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"Unknown device {device!r}: use auto, cpu, cuda (or cuda:N) or mps.") from err
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InputError("Device 'cuda' was requested but no CUDA GPU is available to torch: use device=\"cpu\" or \"auto\".")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise InputError(f"Device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA GPU(s).")
    if chosen.type == "mps" and not _mps_available():
        raise InputError("Device 'mps' was requested but Apple MPS is not available: use device=\"cpu\" or \"auto\".")
    if chosen.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"Device {device!r} is not supported: use auto, cpu, cuda (or cuda:N) or mps.")
    return chosen


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_bfloat16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` ("auto", "bfloat16" or "float32") means bfloat16 autocast on ``device``.

    "auto" picks bfloat16 on CUDA GPUs that support it and on CPUs with bf16
    instructions: Intel AMX, or AVX512-BF16 (e.g. AMD Zen 4), where training ran
    1.3x and sampling 2-3x faster than float32 (benchmarks/results/
    train_throughput_fast_cpu_*.json); elsewhere bf16 convolutions are slower.
    """
    if precision != "auto":
        return precision == "bfloat16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return _cpu_has("_is_amx_tile_supported") or _cpu_has("_is_avx512_bf16_supported")
    return False


def _cpu_has(check_name: str) -> bool:
    """Whether torch's CPU feature check ``check_name`` exists and says yes."""
    check = getattr(torch.cpu, check_name, None)
    try:
        return bool(check and check())
    except RuntimeError:
        return False


_AUTOCAST_DEVICES = ("cuda", "cpu")  # where bfloat16 autocast is used


def bfloat16_autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``enabled`` (CUDA and CPU only), else a no-op context."""
    if enabled and device.type in _AUTOCAST_DEVICES:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def without_autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """A region computed in full precision even inside :func:`bfloat16_autocast`."""
    if device.type in _AUTOCAST_DEVICES:
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()
