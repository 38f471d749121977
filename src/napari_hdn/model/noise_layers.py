"""The record of which latent layers hold a camera's correlated noise, kept with a model (``HDNModel.noise_layers``)."""

from __future__ import annotations

from typing import Any

from ..foundation.errors import InputError


def checked_noise_layers(value: Any, n_layers: int) -> dict[str, Any]:
    """A noise-layer record ({"layers": [...], ...}) whose layers exist in a network of ``n_layers`` layers."""
    if not isinstance(value, dict) or not isinstance(value.get("layers"), list):
        raise InputError("noise_layers must be a record with a list of 'layers'.")
    layers = value["layers"]
    if not all(isinstance(k, int) and not isinstance(k, bool) and 1 <= k < n_layers for k in layers):
        raise InputError(f"noise_layers lists layers {layers}: they must be whole numbers 1..{n_layers - 1}.")
    return {**value, "layers": sorted(set(layers))}
