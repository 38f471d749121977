"""Checks on the noisy images given to the noise estimate (ordinary images, not a calibration stack)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks.arrays import as_real_array, check_finite
from ..foundation.errors import InputError
from .local_statistics import MARGIN

MIN_SIDE = 4 * MARGIN + 8  # smaller planes leave too few interior pixels for local statistics


def checked_planes(images: Any) -> np.ndarray:
    """The images as a (planes, Y, X) numpy array, or a clear error naming the problem and what to do."""
    array = np.asarray(as_real_array(images, "noisy image(s)"))
    if array.ndim < 2:
        raise InputError(
            f"The noisy image has shape {tuple(array.shape)}; the noise estimate needs a 2-D image (Y, X) or a "
            "stack of images (N, Y, X)."
        )
    if array.shape[-1] in (3, 4) and array.shape[-2] > 4:
        raise InputError(
            f"The noisy image looks like an RGB(A) colour image (shape {tuple(array.shape)}); noise models "
            "describe one intensity channel: split the channels and estimate each one."
        )
    check_finite(array, "noisy image(s)")
    planes = array.reshape((-1, *array.shape[-2:]))
    if min(planes.shape[-2:]) < MIN_SIDE:
        raise InputError(
            f"The noisy image is too small to estimate its noise from (planes of {planes.shape[-2]} x "
            f"{planes.shape[-1]} pixels): give images of at least {MIN_SIDE} x {MIN_SIDE} pixels, better 256 x 256 "
            "or more, or calibrate from repeated acquisitions."
        )
    if float(planes.min()) == float(planes.max()):
        raise InputError(
            f"The noisy image is constant ({float(planes.min()):g}): it holds no noise to estimate. Check that "
            "the right image was given (not a mask or an empty channel)."
        )
    return planes

