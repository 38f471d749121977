"""Checks on an untrusted model folder, done before anything is allocated.

Every size a folder describes (the network's settings in ``model.json``, the direct denoisers' shapes in
their safetensors metadata) is bounded, the network is first laid out on torch's ``meta`` device (shapes
only, no memory) and compared with the tensors the weights file's header announces; only a folder that
passes is built for real. A hostile or corrupt folder thus gives a :class:`FileFormatError`, never an
attempt to allocate gigabytes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..foundation.errors import FileFormatError

# The most weights one network of a model folder may have (1 GiB as float32; the paper's network has 7.3 M).
MAX_PARAMETERS = 2**28
# The largest model.json read (long trainings keep one small record per validation round).
MAX_METADATA_BYTES = 64 * 2**20


def read_limited_text(path: Path) -> str:
    """The text of ``path`` (a model description, a training state), refused (FileFormatError) when the
    file is larger than :data:`MAX_METADATA_BYTES`."""
    limit = MAX_METADATA_BYTES
    size = os.stat(path).st_size
    if size > limit:
        raise FileFormatError(f"{path} is {size:,} bytes, more than the {limit:,} bytes a model description may "
                              "have: it is corrupt or not a napari-hdn file.")
    return path.read_text(encoding="utf-8")


def header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes in a safetensors file's header, without reading the tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}


def whole_number(value: Any, name: str, where: Any, low: int = 0, high: int = 2**63 - 1) -> int:
    """A whole number from ``low`` to ``high`` read from a file, or a FileFormatError naming ``name``."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FileFormatError(f"{where}: {name} must be a whole number from {low} to {high}, not {value!r}.")
    return value


def check_planned_network(build: Callable[[], torch.nn.Module], stored: Mapping[str, tuple[int, ...]], what: str,
                          weights: Any) -> None:
    """Lay out ``build()`` on the meta device; refuse it (FileFormatError) when it has more than
    :data:`MAX_PARAMETERS` weights or does not fit the ``stored`` tensor shapes of the file ``weights``."""
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in build().state_dict().items()}
    count = sum(math.prod(shape) for shape in expected.values())
    if count > MAX_PARAMETERS:
        raise FileFormatError(f"The {what} described for {weights} has {count:,} weights, more than the "
                              f"{MAX_PARAMETERS:,} parameters napari-hdn loads: the model folder is corrupt or hostile.")
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise FileFormatError(
            f"{weights} does not fit the {what} described with it: "
            f"{len(missing)} missing weight(s) {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}."
        )
    for name, shape in stored.items():
        if shape != expected[name]:
            raise FileFormatError(f"{weights}: weight {name} has shape {shape}, the {what} needs {expected[name]}.")


def load_noise_model_part(info: dict[str, Any], tensors: Mapping[str, torch.Tensor], prefix: str, where: Path) -> Any:
    """The noise model of a bundle: its scalars from ``model.json`` (small numeric types only) and its arrays
    from the weights (the tensors named ``prefix...``)."""
    import numpy as np

    from ..noise_models.files import noise_model_from_arrays

    scalars = info.get("scalars")
    if not isinstance(scalars, dict):
        raise FileFormatError(f"{where}: the noise model section lacks its scalars.")
    arrays: dict[str, np.ndarray] = {}
    for name, item in scalars.items():
        if not isinstance(item, dict) or "value" not in item or "dtype" not in item:
            raise FileFormatError(f"{where}: noise model value {name!r} is malformed.")
        try:
            dtype = np.dtype(item["dtype"])
            if dtype.kind not in "biufU" or (dtype.kind != "U" and dtype.itemsize > 16):
                raise ValueError(f"data type {item['dtype']!r} is not a number or a text")
            # A text's stored width is not trusted (U99999999999 would allocate terabytes): its own length is used.
            arrays[name] = np.asarray(item["value"], dtype="U" if dtype.kind == "U" else dtype)
        except (TypeError, ValueError, OverflowError) as err:
            raise FileFormatError(f"{where}: noise model value {name!r} is malformed ({err}).") from err
    for key, tensor in tensors.items():
        if key.startswith(prefix):
            arrays[key[len(prefix) :]] = tensor.numpy()
    return noise_model_from_arrays(arrays, f"The noise model embedded in {where}")
