"""Names of the Restore widget's result layers, and the rule for when a result is updated in place.

A result is named after its input, what it is, and how it differs from the plain
restoration: "nuclei HDN denoised" (the MMSE), "nuclei HDN denoised (z1 off)", "nuclei HDN
denoised (z1, z2 off; one pass)". Layers off since training are not named (every result of
that model has them off).

The rule: a layer of that name is updated in place only if it is the same
restoration (a result of this plugin for the same input layer, with the same
layers off, by the same method, from the same model: source and training step).
Otherwise the results get the first free numbered names ("... (z1 off) [2]"), so
that another result is never replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import count
from typing import Any

from ..layer_roles import KEY, RESULT, layer_role


# Result layers are named in plain words; their metadata keeps the precise term ("result": "MMSE", "KL maps").
LAYER_WORDS = {"MMSE": "denoised", "KL maps": "information maps"}


def output_name(input_name: str, what: str) -> str:
    """The name of a plain result layer, e.g. "nuclei HDN denoised" for the MMSE."""
    return f"{input_name} HDN {LAYER_WORDS.get(what, what)}"


def variant_tag(switched_off: Sequence[int], one_pass: bool = False, plane: Sequence[int] = ()) -> str:
    """' (z1, z2 off)', ' (one pass)', ' (z1 off; one pass)', ' (plane 29)' or '' for every layer on, with
    samples, of the whole image (``plane``: the indices of the one plane restored, as on napari's sliders)."""
    parts = [", ".join(f"z{i}" for i in switched_off) + " off"] if switched_off else []
    if one_pass:
        parts.append("one pass")
    if plane:
        parts.append("plane " + ", ".join(map(str, plane)))
    return f" ({'; '.join(parts)})" if parts else ""


def same_restoration(layer: Any, identity: Mapping[str, Any]) -> bool:
    """Whether ``layer`` is a result of this plugin matching every entry of ``identity``."""
    about = layer.metadata.get(KEY) or {}
    return layer_role(layer.metadata) == RESULT and all(about.get(k) == v for k, v in identity.items())


def free_names(viewer: Any, bases: Sequence[str], identity: Mapping[str, Any]) -> list[str]:
    """``bases``, numbered " [2]", " [3]"... if needed, so that each name is free or holds this very restoration.

    One number for the whole group (MMSE, variance, samples of one restoration).
    """
    for n in count(1):
        names = [base if n == 1 else f"{base} [{n}]" for base in bases]
        if all(name not in viewer.layers or same_restoration(viewer.layers[name], identity) for name in names):
            return names
    raise AssertionError("unreachable")


def all_on_result(viewer: Any, source_layer: str) -> Any:
    """The MMSE of ``source_layer`` with every latent layer on (the reference to compare with), or None."""
    wanted = {"source_layer": source_layer, "result": "MMSE", "switched_off": []}
    for layer in reversed(list(viewer.layers)):  # the topmost, usually the latest
        if same_restoration(layer, wanted):
            return layer
    return None
