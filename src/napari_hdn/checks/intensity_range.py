"""Do an image's intensities fit a model's training data and its noise model's calibration?

A model learns the intensities it was trained on, and a noise model is only calibrated over
its signal range: far outside them results are biased or meaningless (issue 13). These checks
compare robust percentiles, so a few hot pixels never trigger them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..foundation.errors import InputError, IntensityRangeWarning, RestorationError

if TYPE_CHECKING:
    from ..noise_models.base import NoiseModel
    from ..model.bundle import HDNModel

# The training data's range: these percentiles (hot pixels and outliers ignored).
RANGE_PERCENTILES = (0.1, 99.9)
# Values looked at per check (a regular subsample of large data: the percentiles barely move).
_MAX_VALUES = 1_000_000
# An image warns when more than this share of its pixels lies outside the range widened by MARGIN of its width.
OUTSIDE_SHARE = 0.05
MARGIN = 0.1
# The noise model's calibration extrapolates: only data well outside it warn.
NOISE_MARGIN = 0.25
NOISE_OUTSIDE_SHARE = 0.10
# Refused: the image's median lies more than this many range widths outside the training range.
MEANINGLESS_WIDTHS = 5.0


def sample_values(planes: Sequence[Any] | Any) -> np.ndarray:
    """A regular subsample of the finite values of ``planes`` (numpy or dask arrays), as float64."""
    planes = list(planes) if isinstance(planes, (list, tuple)) else [planes]
    total = sum(int(np.prod(p.shape)) for p in planes) or 1
    step = max(1, math.ceil(math.sqrt(total / _MAX_VALUES)))
    parts = []
    for plane in planes:
        sub = plane[..., ::step, ::step]
        if hasattr(sub, "compute"):
            sub = sub.compute()
        values = np.asarray(sub, dtype=np.float64).ravel()
        parts.append(values[np.isfinite(values)])
    return np.concatenate(parts) if parts else np.empty(0)


def intensity_range(planes: Sequence[Any] | Any) -> tuple[float, float] | None:
    """The training data's intensity range (RANGE_PERCENTILES), or None when there are no finite values."""
    values = sample_values(planes)
    if values.size == 0:
        return None
    low, high = np.percentile(values, RANGE_PERCENTILES)
    return float(low), float(high)


def _share_outside(values: np.ndarray, low: float, high: float, margin: float) -> float:
    width = max(high - low, 1e-12)
    outside = (values < low - margin * width) | (values > high + margin * width)
    return float(outside.mean()) if values.size else 0.0


def _describe(values: np.ndarray) -> str:
    low, high = np.percentile(values, (1, 99))
    return f"{low:.4g}..{high:.4g} (1st..99th percentile, median {np.median(values):.4g})"


def observation_range(noise_model: NoiseModel) -> tuple[float, float]:
    """The raw values a noise model's calibrated signal range produces: that range widened by three noise
    standard deviations at each end. Noisy data must be compared with this, not with the signal range:
    at low light the noise spread is as wide as the signal range itself."""
    low, high = getattr(noise_model, "signal_range", (-math.inf, math.inf))
    if not (math.isfinite(low) and math.isfinite(high)):
        return low, high
    try:
        mean, variance = noise_model.moments(np.array([low, high], dtype=np.float32))
        mean = mean.detach().cpu().double().numpy()
        std = np.sqrt(np.maximum(variance.detach().cpu().double().numpy(), 0.0))
    except Exception:  # a noise model without moments: its signal range alone
        return low, high
    wide_low, wide_high = float(mean[0] - 3 * std[0]), float(mean[1] + 3 * std[1])
    if not (math.isfinite(wide_low) and math.isfinite(wide_high)):
        return low, high
    return min(low, wide_low), max(high, wide_high)


def check_training_range(planes: Sequence[Any], noise_model: NoiseModel) -> tuple[float, float] | None:
    """The training data's range; warns (IntensityRangeWarning) when it lies well outside the noise model's."""
    values = sample_values(planes)
    if values.size == 0:
        return None
    low, high = observation_range(noise_model)
    if math.isfinite(low) and math.isfinite(high) and _share_outside(values, low, high, NOISE_MARGIN) > NOISE_OUTSIDE_SHARE:
        warnings.warn(
            f"The training data's intensities {_describe(values)} lie well outside the range the noise "
            f"model was calibrated on ({low:.4g}..{high:.4g}, noise included): it will describe their noise wrongly. Calibrate "
            "the noise model on data from the same camera settings, or estimate one from these images "
            "(estimate_noise_model).",
            IntensityRangeWarning,
            stacklevel=3,
        )
    data_low, data_high = np.percentile(values, RANGE_PERCENTILES)
    return float(data_low), float(data_high)


def check_restoration_range(model: HDNModel, image: Any) -> None:
    """Warn (IntensityRangeWarning) or refuse (InputError) an image far outside the model's intensities.

    Models saved before the training range was recorded are checked only against the noise model.
    """
    values = sample_values(image)
    if values.size == 0:
        return
    data_range = getattr(model, "data_range", None)
    if data_range is not None:
        low, high = data_range
        width = max(high - low, 1e-12 * max(1.0, abs(high)))
        median = float(np.median(values))
        distance = max(low - median, median - high, 0.0) / width
        if distance > MEANINGLESS_WIDTHS:
            raise InputError(
                f"The image's intensities {_describe(values)} lie {distance:.0f} times the width of the training "
                f"data's range ({low:.4g}..{high:.4g}) away from it: a restoration would be meaningless. Restore "
                "images acquired like the training data (same camera, gain, exposure, no offset removed or "
                "rescaling), or train a model on such images."
            )
        if _share_outside(values, low, high, MARGIN) > OUTSIDE_SHARE:
            warnings.warn(
                f"The image's intensities {_describe(values)} lie outside those the model was trained on "
                f"({low:.4g}..{high:.4g}): the restoration may be biased (wrong intensities). Restore images "
                "acquired like the training data (no offset removed, no rescaling), or train on such images.",
                IntensityRangeWarning,
                stacklevel=3,
            )
            return
    low, high = observation_range(model.noise_model)
    if math.isfinite(low) and math.isfinite(high) and _share_outside(values, low, high, NOISE_MARGIN) > NOISE_OUTSIDE_SHARE:
        warnings.warn(
            f"The image's intensities {_describe(values)} lie well outside the range the model's noise "
            f"model was calibrated on ({low:.4g}..{high:.4g}, noise included): the restoration may be wrong. Use a model whose "
            "noise model was calibrated with the camera settings of this image.",
            IntensityRangeWarning,
            stacklevel=3,
        )


def check_finite_result(arrays: dict[str, np.ndarray], model: HDNModel) -> None:
    """Raise RestorationError when a restoration output holds NaN or infinite values (never silently)."""
    for name, array in arrays.items():
        if array is None or getattr(array, "size", 0) == 0 or hasattr(array, "compute"):
            continue
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        if bad:
            trained = getattr(model, "data_range", None)
            hint = "" if trained is None else f" (the model was trained on intensities {trained[0]:.4g}..{trained[1]:.4g})"
            raise RestorationError(
                f"The restoration's {name} has {bad} NaN or infinite pixels ({bad / np.size(array):.1%}): the network "
                f"overflowed, most often because the image is far brighter or darker than the training data{hint}. "
                "Restore images acquired like the training data, or train a model on such images."
            )


def check_some_layer_active(layers_off: Sequence[int], n_layers: int) -> None:
    """Refuse a restoration with every latent layer off: it would ignore the input (training refuses it too)."""
    if len(set(layers_off)) >= n_layers:
        raise InputError(
            f"All {n_layers} latent layers would be switched off: the result would ignore the image. "
            "Keep at least one layer active (switch off only the finest ones, e.g. 1 or 1,2)."
        )
