"""Direct denoisers inside a model bundle: one ``direct.safetensors`` keyed by the deactivated layer set.

The networks' shapes travel in the safetensors header's metadata, so the whole store is one file
that is replaced atomically (never a weights file out of step with its description).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING


from .._io import atomic_path
from ..errors import FileFormatError
from .network import DirectUNet

if TYPE_CHECKING:
    from ..model.bundle import HDNModel

DIRECT_WEIGHTS = "direct.safetensors"


def layer_key(model: HDNModel, deactivate: Collection[int] = ()) -> str:
    """The bundle key of a deactivated layer set: "all-on" or e.g. "off-1-2" (1-based)."""
    off = model.deactivated_layers(deactivate)
    return "off-" + "-".join(map(str, off)) if off else "all-on"


def direct_files(model: HDNModel) -> dict[str, bytes]:
    """The bundle files holding ``model.direct_denoisers`` (empty when it has none)."""
    from safetensors.torch import save

    nets = getattr(model, "direct_denoisers", None) or {}
    if not nets:
        return {}
    tensors, info = {}, {}
    for key, net in nets.items():
        info[key] = {"depth": net.depth, "width": net.width}
        tensors.update({f"{key}.{k}": v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()})
    return {DIRECT_WEIGHTS: save(tensors, metadata={"direct_denoisers": json.dumps(info)})}


def load_direct(folder: str | Path) -> dict[str, DirectUNet]:
    """The direct denoisers stored in a bundle folder ({} for bundles without any)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(folder) / DIRECT_WEIGHTS
    if not path.is_file():
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads((f.metadata() or {})["direct_denoisers"])
        tensors = load_file(str(path))
        nets = {}
        for key, shape in info.items():
            net = DirectUNet(int(shape["depth"]), int(shape["width"]))
            prefix = key + "."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            nets[key] = net.eval()
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError, TypeError) as err:
        raise FileFormatError(f"{path}: the direct denoisers are unreadable ({err}); train them again with "
                              "`hdn distill` or delete the file.") from err
    return nets


def save_direct_into(folder: str | Path, model: HDNModel) -> None:
    """Write the model's direct denoisers into an existing bundle folder atomically; nothing else changes."""
    for name, data in direct_files(model).items():
        with atomic_path(Path(folder) / name) as tmp:
            Path(tmp).write_bytes(data)
