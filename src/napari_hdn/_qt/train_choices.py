"""The Train widget's defaults: where a run is saved when no folder is chosen, and the devices offered."""

from __future__ import annotations

import time
from pathlib import Path


def default_output_folder(layer_name: str) -> Path:
    """Where a training run keeps its checkpoints when the user did not choose a folder."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in layer_name) or "model"
    return Path.home() / "napari-hdn" / "models" / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


def device_choices() -> list[tuple[str, str]]:
    """(label, device) pairs: "auto" names what it will use (the GPU found, or the CPU)."""
    import torch

    from ..foundation.device import resolve_device

    found = resolve_device("auto")
    if found.type == "cuda":
        name = f"GPU: {torch.cuda.get_device_name(0)}"
    elif found.type == "mps":
        name = "GPU: Apple MPS"
    else:
        name = "CPU (no GPU found)"
    choices = [(f"auto - {name}", "auto"), ("CPU", "cpu")]
    if found.type == "cuda":
        choices.append((f"CUDA - {torch.cuda.get_device_name(0)}", "cuda"))
    return choices
