"""Which latent layers hold the camera's noise, found during and at the end of a training.

A pixel noise model cannot describe noise correlated between neighbouring pixels (real cameras' read noise):
the finest latent layers learn it as image detail. Where the noise model carries a measurement of that
correlation (estimated from the noisy images, or from a calibration stack), the training asks the layer
suggestion which layers hold it, on a training plane:

- before bootstrapping a GMM (``noise_model="auto"``), so that its pseudo-clean signal leaves them out;
- at the end, so that the model records them (``HDNModel.noise_layers``): ``restore(deactivate="auto")``,
  ``hdn predict --deactivate auto`` and the Restore widget switch them off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..inference.suggest import DeactivationSuggestion, suggest_deactivation
from ..noise_models.correlation import record_of


def knows_correlation(noise_model: Any) -> bool:
    """Whether the noise model carries a measurement of the noise's correlation between neighbours."""
    return record_of(noise_model) is not None


def suggest_on_training_plane(model: Any, planes: list[np.ndarray]) -> DeactivationSuggestion:
    """The layer suggestion judged on the middle training plane (the network in evaluation mode meanwhile)."""
    network = model.network
    was_training = network.training
    network.eval()
    try:
        plane = np.asarray(planes[len(planes) // 2], dtype=np.float32)
        return suggest_deactivation(model, plane, device=model.device)
    finally:
        network.train(was_training)


def noise_layer_record(suggestion: DeactivationSuggestion, step: int) -> dict[str, Any]:
    """The record kept with the model (``HDNModel.noise_layers``): the layers and why."""
    return {"layers": list(suggestion.layers), "found_at_step": int(step), "summary": suggestion.summary,
            "suggestion": suggestion.to_metadata()}
