"""napari-hdn: Hierarchical DivNoising (Prakash et al., ICLR 2022) for napari.

The public Python API. Imports are lazy so that ``import napari_hdn`` (and
napari's plugin discovery) stays fast and does not load torch.

Noise models::

    nm = napari_hdn.calibrate(stack, kind="gmm")            # repeated acquisitions
    nm = napari_hdn.fit_noise_model(signal, observation)    # noisy + pseudo-clean
    nm = napari_hdn.load_noise_model("nm.npz")
    nm = napari_hdn.estimate_noise_model(noisy).model       # from the noisy images alone
    nm = napari_hdn.bootstrap_noise_model(model, noisy)     # GMM from a trained model's restorations

Training and restoration::

    model = napari_hdn.train(noisy, noise_model=nm, preset="fast", minutes=10, out="model")
    adapted = napari_hdn.adapt(model, new_noisy, noise_model=new_nm, minutes=3)   # new data, in minutes
    result = napari_hdn.restore(model, image, n_samples=100)
    result.mmse, result.variance, result.samples
    napari_hdn.suggest_deactivation(model, image).layers   # latent layers that look like noise
    napari_hdn.restore(model, image, deactivate="auto")    # switch them off (recorded in result.suggestion)
    napari_hdn.second_opinion(model, image).summary        # each layer choice's error, estimated without truth
    napari_hdn.export_bioimageio(model, "model.zip", image)  # its direct denoiser for the BioImage Model Zoo
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .foundation.moved_modules import install as _install_moved_modules

_API = {
    # noise models
    "calibrate": "napari_hdn.noise_models",
    "fit_noise_model": "napari_hdn.noise_models",
    "load_noise_model": "napari_hdn.noise_models",
    "estimate_noise_model": "napari_hdn.noise_models",
    "estimate_events": "napari_hdn.noise_models",
    "bootstrap_noise_model": "napari_hdn.noise_models",
    "bootstrap_events": "napari_hdn.noise_models",
    "calibrate_events": "napari_hdn.noise_models",
    "fit_noise_model_events": "napari_hdn.noise_models",
    "NoiseModel": "napari_hdn.noise_models",
    "NoiseEstimate": "napari_hdn.noise_models",
    "NonStaticStackWarning": "napari_hdn.noise_models",
    "CorrelatedNoiseWarning": "napari_hdn.noise_models",
    # model and training
    "train": "napari_hdn.training",
    "training_events": "napari_hdn.training",
    "adapt": "napari_hdn.training",
    "adapt_events": "napari_hdn.training",
    "load_model": "napari_hdn.model",
    "HDNModel": "napari_hdn.model",
    "TrainingEvent": "napari_hdn.training",
    # restoration
    "restore": "napari_hdn.inference",
    "restore_events": "napari_hdn.inference",
    "layer_activations": "napari_hdn.inference",
    "layer_activations_events": "napari_hdn.inference",
    "RestorationResult": "napari_hdn.inference",
    "DeactivationSuggestion": "napari_hdn.inference",
    "suggest_deactivation": "napari_hdn.inference",
    "suggest_deactivation_events": "napari_hdn.inference",
    "SecondOpinion": "napari_hdn.inference",
    "second_opinion": "napari_hdn.inference",
    "second_opinion_events": "napari_hdn.inference",
    # direct denoiser (one-pass MMSE, Salmon & Krull 2023)
    "train_direct_denoiser": "napari_hdn.direct",
    "distill_events": "napari_hdn.direct",
    "denoise": "napari_hdn.direct",
    "denoise_events": "napari_hdn.direct",
    # sharing: BioImage Model Zoo package of the direct denoiser (needs napari-hdn[bioimageio])
    "export_bioimageio": "napari_hdn.io.bioimageio",
    "export_bioimageio_events": "napari_hdn.io.bioimageio",
    # progress
    "StopToken": "napari_hdn.foundation.progress",
    "Progress": "napari_hdn.foundation.progress",
    "drive": "napari_hdn.foundation.progress",
    # errors and warnings
    "HDNError": "napari_hdn.foundation.errors",
    "InputError": "napari_hdn.foundation.errors",
    "FileFormatError": "napari_hdn.foundation.errors",
    "TrainingError": "napari_hdn.foundation.errors",
    "RestorationError": "napari_hdn.foundation.errors",
    "IntensityRangeWarning": "napari_hdn.foundation.errors",
    "SaturationWarning": "napari_hdn.foundation.errors",
}

# Old public names: still found, with a DeprecationWarning saying what to use instead.
_DEPRECATED = {
    "direct_step": ("napari_hdn.direct.step", "it is internal now (one optimisation step); use "
                    "napari_hdn.train_direct_denoiser or distill_events"),
}

_install_moved_modules()  # the module paths before 0.1.0's regrouping import, with a DeprecationWarning

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        import warnings

        module, advice = _DEPRECATED[name]
        warnings.warn(f"napari_hdn.{name} is deprecated: {advice}.", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), name)
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'napari_hdn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
