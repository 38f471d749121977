"""Names of the Restore widget's result layers, and the rule for when a result is updated in place.

A result is named after its input, then what it is, then how it differs from the plain restoration:
"nuclei denoised" (the MMSE), "nuclei denoised (no z1)", "nuclei denoised (no z1, z2; fast)",
"nuclei stack samples (plane 29)". Layers off since training are not named (every result of that model has them
off). Names stay short enough for napari's layer list on a laptop screen (1366 x 768), which cuts longer names
in the middle, where it says what a layer is: in a name wider than ``NAME_PX`` the input's name is shortened at its
end ("nuclei n… samples (plane 29)"), never what follows it. The metadata keeps the input's full name.

The rule: a layer of that name is updated in place only if it is the same
restoration (a result of this plugin for the same input layer, with the same
layers off, by the same method, from the same model: source and training step).
Otherwise the results get the first free numbered names ("... (no z1) [2]"), so
that another result is never replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import count
from typing import Any

from ..plugin.layer_roles import KEY, RESULT, layer_role


# Result layers are named in plain words; their metadata keeps the precise term ("result": "MMSE", "KL maps").
HALF_WIDTH = "90 % half-width"  # of the samples' central interval, in intensity units: where the result is unsure
LAYER_WORDS = {"MMSE": "denoised", "KL maps": "info maps", HALF_WIDTH: "uncertainty"}
# What napari's layer list shows of a name beside the plugin's dock at 1366 x 768, with its scroll bar: 198 px of
# its bold text (tests/_qt/test_result_names.py checks the names of the walk-through there).
NAME_PX = 198
MAX_NAME_CHARS = 28  # the same without a Qt application to measure text with
MIN_INPUT_CHARS = 6  # kept of a shortened input's name, besides its "…" (a name this short is never shortened)


def _fits(name: str) -> bool:
    from qtpy.QtGui import QFont, QFontMetrics
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return len(name) <= MAX_NAME_CHARS
    font = QFont(app.font())
    font.setBold(True)  # as napari's layer list draws names
    return QFontMetrics(font).horizontalAdvance(name) <= NAME_PX


def result_name(input_name: str, what: str, tag: str = "") -> str:
    """``input_name``, then what the layer is ("denoised" for the MMSE), then ``tag`` (see :func:`variant_tag`).

    Too long for the layer list: the input's name is shortened at its end ("nuclei n… samples (plane 29)"), what
    follows it never.
    """
    ending = f" {LAYER_WORDS.get(what, what)}{tag}"
    name, keep = input_name + ending, len(input_name)
    while not _fits(name) and keep > MIN_INPUT_CHARS:
        keep -= 1
        name = input_name[:keep].rstrip() + "…" + ending
    return name


def output_name(input_name: str, what: str) -> str:
    """The name of a plain result layer, e.g. "nuclei denoised" for the MMSE."""
    return result_name(input_name, what)


def variant_tag(switched_off: Sequence[int], one_pass: bool = False, plane: Sequence[int] = ()) -> str:
    """' (no z1, z2)', ' (fast)', ' (no z1; fast)', ' (plane 29)' or '' for every layer on, with samples, of the
    whole image (``switched_off``: the layers switched off; ``one_pass``: by the one-pass denoiser, the "Fast"
    mode; ``plane``: the indices of the one plane restored, as on napari's sliders)."""
    parts = ["no " + ", ".join(f"z{i}" for i in switched_off)] if switched_off else []
    if one_pass:
        parts.append("fast")
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
