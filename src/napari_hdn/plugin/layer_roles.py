"""What a layer is for, recorded in its metadata: ``metadata["napari_hdn"]["role"]``.

The sample data marks its calibration stack and its ground truth; the widgets mark
every layer they write (results and previews). The widgets read the marks to
choose defaults that cannot be silently wrong: the noise-model fit offers the
marked calibration stack (or nothing), and the training list leaves out ground
truth and the plugin's own outputs. Qt-free and napari-free (metadata are dicts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEY = "napari_hdn"
CALIBRATION = "calibration"  # repeated acquisitions of one static scene, for the noise model
GROUND_TRUTH = "ground truth"  # a clean reference: never training data
RESULT = "result"  # a restoration the plugin wrote (MMSE, variance, samples, ...)
PREVIEW = "preview"  # a preview the plugin wrote (latent-layer preview, training preview)
OUTPUTS = (RESULT, PREVIEW)


def layer_role(metadata: Mapping[str, Any] | None) -> str | None:
    """The role recorded in a layer's metadata, or None for a layer nobody marked (the user's own images)."""
    about = (metadata or {}).get(KEY)
    return about.get("role") if isinstance(about, Mapping) else None


def with_role(metadata: Mapping[str, Any] | None, role: str, **about: Any) -> dict[str, Any]:
    """A copy of ``metadata`` whose ``napari_hdn`` entry is ``about`` plus the role (nested dicts not shared)."""
    marked = dict(metadata or {})
    marked[KEY] = {**about, "role": role}
    return marked


def is_training_candidate(metadata: Mapping[str, Any] | None) -> bool:
    """Noisy data a user may train on: not ground truth and not one of the plugin's outputs."""
    return layer_role(metadata) not in (GROUND_TRUTH, *OUTPUTS)
