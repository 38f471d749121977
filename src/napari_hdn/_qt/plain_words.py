"""Plain words for what the widgets show: noise models, network sizes, training lengths.

The precise terms (the noise model's :meth:`describe`, preset and config names) stay in the tooltips.
"""

from __future__ import annotations

from typing import Any

# The Train widget's network sizes (the presets' names are the API's and the CLI's).
PRESET_NAMES = {"paper": "large (as in the paper; slow, for a GPU)", "fast": "small (quick, fine on a laptop)"}
# What the training length counts (TrainConfig's minutes / epochs / steps).
BUDGET_NAMES = {"minutes": "minutes", "epochs": "passes over the images", "steps": "batches of tiles"}


def preset_name(key: str) -> str:
    return PRESET_NAMES.get(key, key)


def plain_noise_model(model: Any) -> str:
    """What a noise model says about the noise, without its mathematical form (that is in ``describe()``)."""
    kind = getattr(model, "kind", "")
    if kind == "poisson_gaussian":
        return (f"camera model: {model.gain:.3g} units per photon, dark level {model.offset:.4g}, "
                f"read noise {model.read_sigma:.3g}")
    if kind == "gaussian":
        return f"even noise of strength {model.sigma:.3g} at every brightness"
    if kind == "gmm":
        return "learned from the data: how the noise changes with brightness"
    if kind == "histogram":
        return "measured from the data: the noise at each brightness, as a table"
    return "noise model"
