"""Direct denoisers inside a model bundle: one ``direct.safetensors`` keyed by the deactivated layer set.

The networks' shapes travel in the safetensors header's metadata, so the whole store is one file
that is replaced atomically (never a weights file out of step with its description).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import atomic_path
from ..config.train import SIZE_LIMITS
from ..errors import FileFormatError
from ..model.folder_checks import check_planned_network, header_shapes, whole_number
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
    """The direct denoisers stored in a bundle folder ({} for bundles without any).

    Their shapes come from the file's metadata: each is bounded and laid out without memory, then
    compared with the tensors in the file's header, before any network is built.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(folder) / DIRECT_WEIGHTS
    if not path.is_file():
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads((f.metadata() or {})["direct_denoisers"])
        shapes = _checked_shapes(info, path)
        stored = header_shapes(path)
        for key, (depth, width) in shapes.items():
            prefix = key + "."
            check_planned_network(lambda: DirectUNet(depth, width), _part(stored, prefix), f"direct denoiser {key!r}",
                                  path)
        tensors = load_file(str(path))
        nets = {}
        for key, (depth, width) in shapes.items():
            net = DirectUNet(depth, width)
            net.load_state_dict(_part(tensors, key + "."))
            nets[key] = net.eval()
    except FileFormatError as err:
        raise FileFormatError(f"{err} Train the direct denoisers again with `hdn distill` or delete {path}.") from err
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError, TypeError, RecursionError) as err:
        raise FileFormatError(f"{path}: the direct denoisers are unreadable ({err}); train them again with "
                              "`hdn distill` or delete the file.") from err
    return nets


def _part(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _checked_shapes(info: Any, path: Path) -> dict[str, tuple[int, int]]:
    """{key: (depth, width)} from the file's metadata, each size within napari-hdn's bounds."""
    if not isinstance(info, dict) or not all(isinstance(v, dict) for v in info.values()):
        raise FileFormatError(f"{path}: the direct denoisers' description is not a record of their shapes.")
    shapes = {}
    for key, shape in info.items():
        depth, width = (whole_number(shape.get(name), f"{key}.{name}", path, *SIZE_LIMITS[f"direct_{name}"])
                        for name in ("depth", "width"))
        shapes[key] = (depth, width)
    return shapes


def direct_record(model: HDNModel) -> dict[str, Any]:
    """What ``model.json`` says of the bundle's direct denoisers: their file and layer sets."""
    nets = getattr(model, "direct_denoisers", None) or {}
    return {"file": DIRECT_WEIGHTS, "layer_sets": sorted(nets)} if nets else {}


def save_direct_into(folder: str | Path, model: HDNModel) -> None:
    """Add the model's direct denoisers to an existing bundle folder: ``direct.safetensors`` and their record in
    ``model.json``, each replaced atomically; the weights and everything else stay as they are."""
    from ..model.bundle import MODEL_JSON, update_metadata

    if not (Path(folder) / MODEL_JSON).is_file():
        raise FileFormatError(f"{folder} is not a napari-hdn model folder (no {MODEL_JSON}): the direct denoisers "
                              "are saved into the folder of the model they were trained for.")
    for name, data in direct_files(model).items():
        with atomic_path(Path(folder) / name) as tmp:
            Path(tmp).write_bytes(data)
    record = direct_record(model)
    if record:
        update_metadata(folder, direct_denoisers=record)
