"""Restoration with a trained HDN model: posterior samples, MMSE, variance, median,
selective deactivation of latent layers and per-layer activations, for images of
any size (overlapping tiles), stacks (plane by plane) and dask arrays (lazily).

Module map: :mod:`.restore` (public functions), :mod:`.driver` (planes, tiles,
dask blocks), :mod:`.engine` (the network on one tile), :mod:`.tiling` (tile
layout and seamless blending), :mod:`.suggest` (which latent layers hold noise),
:mod:`.error_estimate` (the error without ground truth), :mod:`.second_opinion` (that estimate for each
layer choice).
"""

from .driver import PlaneProgress
from .suggest import DeactivationSuggestion, LayerVerdict, suggest_deactivation, suggest_deactivation_events
from .restore import (
    RestorationResult,
    layer_activations,
    layer_activations_events,
    restore,
    restore_events,
)
from .second_opinion import SecondOpinion, second_opinion, second_opinion_events

__all__ = [
    "DeactivationSuggestion",
    "LayerVerdict",
    "suggest_deactivation",
    "suggest_deactivation_events",
    "PlaneProgress",
    "RestorationResult",
    "layer_activations",
    "layer_activations_events",
    "restore",
    "restore_events",
    "SecondOpinion",
    "second_opinion",
    "second_opinion_events",
]
