"""Direct denoisers inside a model bundle: ``direct.safetensors`` + ``direct.json``, keyed by layer set."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_path
from ..errors import FileFormatError
from .network import DirectUNet

DIRECT_WEIGHTS = "direct.safetensors"
DIRECT_JSON = "direct.json"


def layer_key(model: Any, deactivate: Collection[int] = ()) -> str:
    """The bundle key of a deactivated layer set: "all-on" or e.g. "off-1-2" (1-based)."""
    off = model.deactivated_layers(deactivate)
    return "off-" + "-".join(map(str, off)) if off else "all-on"


def direct_files(model: Any) -> dict[str, bytes]:
    """The bundle files holding ``model.direct_denoisers`` (empty when it has none)."""
    from safetensors.torch import save

    nets = getattr(model, "direct_denoisers", None) or {}
    if not nets:
        return {}
    tensors, info = {}, {}
    for key, net in nets.items():
        info[key] = {"depth": net.depth, "width": net.width}
        tensors.update({f"{key}.{k}": v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()})
    return {DIRECT_WEIGHTS: save(tensors), DIRECT_JSON: json.dumps(info, indent=1).encode()}


def load_direct(folder: str | Path) -> dict[str, DirectUNet]:
    """The direct denoisers stored in a bundle folder ({} for bundles without any)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / DIRECT_JSON).is_file():
        return {}
    try:
        info = json.loads((folder / DIRECT_JSON).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / DIRECT_WEIGHTS))
        nets = {}
        for key, shape in info.items():
            net = DirectUNet(int(shape["depth"]), int(shape["width"]))
            prefix = key + "."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            nets[key] = net.eval()
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as err:
        raise FileFormatError(f"{folder}: the direct denoisers ({DIRECT_JSON}/{DIRECT_WEIGHTS}) are unreadable ({err}).") from err
    return nets


def save_direct_into(folder: str | Path, model: Any) -> None:
    """Write the model's direct denoisers into an existing bundle folder, each file atomically."""
    folder = Path(folder)
    for name, data in direct_files(model).items():  # weights first: a json never names missing weights
        with atomic_path(folder / name) as tmp:
            Path(tmp).write_bytes(data)
