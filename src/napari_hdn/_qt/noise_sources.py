"""Noise models for users without calibration data, in the Noise model widget: estimated from the noisy
images alone, or bootstrapped from a trained model's restorations (the core's ``estimate_events`` and
``bootstrap_with_signal_events``). Each builder returns the job the widget runs and a description."""

from __future__ import annotations

from typing import Any

from ..foundation.errors import InputError
from ._layers import layer_array

SOURCES = {
    "noisy": "Noisy images only (estimate the camera)",
    "bootstrap": "Restorations of the trained model (bootstrap)",
}
FIT_NEEDS = {
    "noisy": "Choose the noisy images first: ordinary images of your sample (no repeats needed).",
    "bootstrap": "Train or load a model first (Train widget), then choose the noisy images it was trained on.",
}
TOOLTIPS = {
    "noisy": "Estimates the camera's gain, dark level and read noise from the noisy images themselves, where they "
             "are locally flat (Foi et al. 2008). No calibration stack needed. A good start: train with it, then "
             "bootstrap a better model from the trained model's restorations.",
    "bootstrap": "Restores the images with the current model and fits a noise model to (restoration, noisy) "
                 "pairs, as if the restoration were the clean image. Better than the estimate once a model has "
                 "been trained for a while.",
}
BOOTSTRAP_SAMPLES = 20  # posterior samples per pixel of the restoration the bootstrap fits to


def estimate_job(layer: Any) -> tuple[Any, str]:
    """A Poisson-Gaussian model estimated from the noisy images of ``layer``."""
    from ..noise_models import estimate_events

    images = layer_array(layer, "noisy image layer")

    def make_job(token):
        estimate = yield from estimate_events(images, stop=token)
        return estimate.model, None  # no clean data: the widget shows the model's own curves

    return make_job, f"estimated from the noisy images '{layer.name}'"


def bootstrap_job(model: Any, layer: Any, kind: str, options: dict[str, Any]) -> tuple[Any, str]:
    """A GMM or histogram fitted to (the model's restoration of ``layer``, ``layer``)."""
    from ..noise_models import noise_model_diagnostics
    from ..noise_models.bootstrap import BOOTSTRAP_KINDS, bootstrap_with_signal_events

    if model is None:
        raise InputError("There is no model to bootstrap from: train one (Train widget) or load one first.")
    if kind not in BOOTSTRAP_KINDS:
        raise InputError(f"Bootstrapping fits a Gaussian mixture or a histogram: choose one of those as the kind, "
                         f"not {kind!r}.")
    images = layer_array(layer, "noisy image layer")
    clip = options.get("clip_percentiles", (0.5, 99.5))

    def make_job(token):
        result = yield from bootstrap_with_signal_events(model, images, kind, n_samples=BOOTSTRAP_SAMPLES,
                                                         stop=token, **options)
        if result is None:  # stopped during the restoration
            return None
        noise_model, restoration = result
        diagnostics = noise_model_diagnostics(noise_model, signal=restoration, observation=images,
                                              clip_percentiles=clip)
        return noise_model, diagnostics

    return make_job, f"bootstrapped from the model's restorations of '{layer.name}'"
