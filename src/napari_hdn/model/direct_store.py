"""The one-pass denoisers a model carries: a declared part of :class:`HDNModel`, one per switched-off layer set.

They are stored in one ``direct.safetensors`` keyed by the layer set ("all-on", "off-1", "off-1-2"); the
networks' shapes travel in the safetensors header's metadata, so the whole store is one file that is
replaced atomically (never a weights file out of step with its description).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Collection, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import torch

from ..config.train import SIZE_LIMITS
from ..foundation.errors import FileFormatError
from ..io.atomic import atomic_path
from .direct_network import DirectUNet
from .folder_checks import check_planned_network, header_shapes, whole_number
from .metadata_file import MODEL_JSON, update_metadata

DIRECT_WEIGHTS = "direct.safetensors"


def layer_set_key(layers_off: Collection[int]) -> str:
    """The store key of a set of switched-off layers (1-based): "all-on" or e.g. "off-1-2"."""
    off = sorted({int(i) for i in layers_off})
    return "off-" + "-".join(map(str, off)) if off else "all-on"


class DirectDenoisers(MutableMapping):
    """The model's one-pass denoisers by layer-set key; a mapping with a small store API.

    ``add(net, layers_off)``, ``find(layers_off)`` and ``list()`` speak in switched-off layers
    (as :meth:`HDNModel.deactivated_layers` gives them); ``save(folder)`` adds them to a model folder in
    place. ``copy()`` and ``to(device)`` follow the model's own.
    """

    def __init__(self, nets: Mapping[str, torch.nn.Module] | None = None):
        self._nets: dict[str, torch.nn.Module] = {}
        for key, net in dict(nets or {}).items():
            self[key] = net

    # -- mapping ------------------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> torch.nn.Module:
        return self._nets[key]

    def __setitem__(self, key: str, net: torch.nn.Module) -> None:
        if not isinstance(net, torch.nn.Module):
            raise TypeError(f"a one-pass denoiser is a torch module, not {type(net).__name__}")
        self._nets[str(key)] = net

    def __delitem__(self, key: str) -> None:
        del self._nets[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._nets))

    def __len__(self) -> int:
        return len(self._nets)

    def __repr__(self) -> str:
        return f"DirectDenoisers({self.list()})"

    # -- store --------------------------------------------------------------------------------------------
    def add(self, net: torch.nn.Module, layers_off: Collection[int] = ()) -> str:
        """Keep ``net`` (in evaluation mode) as the denoiser for ``layers_off``; returns its key."""
        key = layer_set_key(layers_off)
        self[key] = net.eval()
        return key

    def find(self, layers_off: Collection[int] = ()) -> torch.nn.Module | None:
        """The denoiser for ``layers_off``, or None when the model has none for that layer set."""
        return self._nets.get(layer_set_key(layers_off))

    def list(self) -> list[str]:
        """The layer-set keys held, sorted."""
        return sorted(self._nets)

    def copy(self) -> DirectDenoisers:
        """Independent copies of the networks (same devices)."""
        return DirectDenoisers({key: copy.deepcopy(net) for key, net in self._nets.items()})

    def to(self, device: str | torch.device) -> DirectDenoisers:
        for net in self._nets.values():
            net.to(device)
        return self

    # -- files --------------------------------------------------------------------------------------------
    def files(self) -> dict[str, bytes]:
        """The bundle files holding the denoisers (empty when there are none)."""
        from safetensors.torch import save

        if not self._nets:
            return {}
        tensors, info = {}, {}
        for key, net in self._nets.items():
            info[key] = {"depth": net.depth, "width": net.width}
            tensors.update({f"{key}.{k}": v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()})
        return {DIRECT_WEIGHTS: save(tensors, metadata={"direct_denoisers": json.dumps(info)})}

    def record(self) -> dict[str, Any]:
        """What ``model.json`` says of them: their file and layer sets (empty when there are none)."""
        return {"file": DIRECT_WEIGHTS, "layer_sets": self.list()} if self._nets else {}

    def save(self, folder: str | os.PathLike) -> None:
        """Add the denoisers to an existing model folder, in place: ``direct.safetensors`` and their record in
        ``model.json``, each replaced atomically; the weights and everything else stay as they are."""
        if not (Path(folder) / MODEL_JSON).is_file():
            raise FileFormatError(f"{folder} is not a napari-hdn model folder (no {MODEL_JSON}): the one-pass "
                                  "denoisers are saved into the folder of the model they were trained for.")
        for name, data in self.files().items():
            with atomic_path(Path(folder) / name) as tmp:
                Path(tmp).write_bytes(data)
        if self._nets:
            update_metadata(folder, direct_denoisers=self.record())

    @classmethod
    def load(cls, folder: str | os.PathLike) -> DirectDenoisers:
        """The denoisers stored in a model folder (none for folders without any).

        Their shapes come from the file's metadata: each is bounded and laid out without memory, then
        compared with the tensors in the file's header, before any network is built.
        """
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        path = Path(folder) / DIRECT_WEIGHTS
        if not path.is_file():
            return cls()
        try:
            with safe_open(str(path), framework="pt") as f:
                info = json.loads((f.metadata() or {})["direct_denoisers"])
            shapes = _checked_shapes(info, path)
            stored = header_shapes(path)
            for key, (depth, width) in shapes.items():
                check_planned_network(lambda: DirectUNet(depth, width), _part(stored, key + "."),
                                      f"one-pass denoiser {key!r}", path)
            tensors = load_file(str(path))
            nets = {}
            for key, (depth, width) in shapes.items():
                net = DirectUNet(depth, width)
                net.load_state_dict(_part(tensors, key + "."))
                nets[key] = net.eval()
        except FileFormatError as err:
            raise FileFormatError(f"{err} Train the one-pass denoisers again or delete {path}.") from err
        except (SafetensorError, OSError, ValueError, KeyError, RuntimeError, TypeError, RecursionError) as err:
            raise FileFormatError(f"{path}: the one-pass denoisers are unreadable ({err}); train them again "
                                  "or delete the file.") from err
        return cls(nets)


def _part(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _checked_shapes(info: Any, path: Path) -> dict[str, tuple[int, int]]:
    """{key: (depth, width)} from the file's metadata, each size within napari-hdn's bounds."""
    if not isinstance(info, dict) or not all(isinstance(v, dict) for v in info.values()):
        raise FileFormatError(f"{path}: the one-pass denoisers' description is not a record of their shapes.")
    shapes = {}
    for key, shape in info.items():
        depth, width = (whole_number(shape.get(name), f"{key}.{name}", path, *SIZE_LIMITS[f"direct_{name}"])
                        for name in ("depth", "width"))
        shapes[key] = (depth, width)
    return shapes
