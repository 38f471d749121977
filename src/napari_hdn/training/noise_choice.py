"""The noise model a training or an adaptation is given: a NoiseModel, the path of one, or a Gaussian sigma."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..foundation.errors import InputError
from ..noise_models.base import NoiseModel
from ..noise_models.files import load_noise_model
from ..noise_models.gaussian import GaussianNoiseModel

if TYPE_CHECKING:
    from ..foundation.types import NoiseModelLike


def resolve_noise_model(noise_model: NoiseModelLike | None, gaussian_sigma: float | None) -> NoiseModel:
    if noise_model is not None and gaussian_sigma is not None:
        raise InputError("Give either a noise model or a Gaussian noise sigma, not both.")
    if gaussian_sigma is not None:
        return GaussianNoiseModel(gaussian_sigma)
    if noise_model is None:
        raise InputError(
            "Training needs a noise model (noise_model=..., e.g. from napari_hdn.calibrate, or a .npz file) "
            "or, for data with Gaussian noise of known sigma, gaussian_sigma=..."
        )
    if isinstance(noise_model, (str, os.PathLike)):
        return load_noise_model(noise_model)
    if not isinstance(noise_model, NoiseModel):
        raise InputError(
            f"noise_model must be a napari-hdn noise model or the path of one, not {type(noise_model).__name__}."
        )
    return noise_model
