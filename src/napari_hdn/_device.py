"""Choosing the torch device: CUDA, then Apple MPS, then CPU, or the user's choice."""

from __future__ import annotations

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
        raise InputError("Device 'cuda' was requested but no CUDA GPU is available to torch: use --device cpu or auto.")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise InputError(f"Device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA GPU(s).")
    if chosen.type == "mps" and not _mps_available():
        raise InputError("Device 'mps' was requested but Apple MPS is not available: use --device cpu or auto.")
    if chosen.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"Device {device!r} is not supported: use auto, cpu, cuda (or cuda:N) or mps.")
    return chosen


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
