"""A model folder's ``model.json``: its name, JSON-safe values, and updates that leave the weights alone."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_path

MODEL_JSON = "model.json"


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (JSON cannot hold them) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def update_metadata(folder: str | os.PathLike, **entries: Any) -> None:
    """Set ``entries`` in the bundle's ``model.json``, replaced atomically (the weights untouched)."""
    path = Path(folder) / MODEL_JSON
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(json_safe(entries))
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=1, allow_nan=False), encoding="utf-8")


def record_noise_layers(folder: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write ``record`` as the bundle's noise layers into its ``model.json`` atomically (weights untouched)."""
    update_metadata(folder, noise_layers=record)
