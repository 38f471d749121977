"""Calibration stacks that are not repeats of a static scene are refused or warned about."""

import warnings

import numpy as np
import pytest

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import NonStaticStackWarning, PoissonGaussianNoiseModel, calibrate
from napari_hdn.noise_models.stack_check import stack_motion

from .simulated import OFFSET, smooth_scene

CAMERA = PoissonGaussianNoiseModel(2.0, OFFSET, 3.0)


def _shifted(photons, dx):
    """``photons`` moved by ``dx`` pixels along x (Fourier shift: a smooth, sub-pixel drift)."""
    k = np.fft.fftfreq(photons.shape[1])[None, :]
    return np.maximum(np.real(np.fft.ifft2(np.fft.fft2(photons) * np.exp(-2j * np.pi * k * dx))), 0.0)


def _stack(scenes, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([CAMERA.sample(2.0 * s + OFFSET, rng) for s in scenes]).astype(np.float32)


SCENE = smooth_scene((64, 64), peak_photons=60.0)


def test_a_static_stack_passes_silently():
    stack = _stack([SCENE] * 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = calibrate(stack, kind="poisson_gaussian")
    assert model.provenance["source"] == "calibration_stack" and model.provenance["n_frames"] == 20
    assert model.provenance["frame_change_excess"] < 0.05


def test_different_images_are_refused_with_what_to_do():
    stack = _stack([smooth_scene((64, 64), 60.0, seed=k) for k in range(20)])
    with pytest.raises(InputError, match="does not look like a calibration stack.*estimate_noise_model"):
        calibrate(stack, kind="poisson_gaussian")
    calibrate(stack, kind="poisson_gaussian", check_static=False)  # the user's explicit choice


def test_a_drifting_sample_warns():
    stack = _stack([_shifted(SCENE, 0.12 * k) for k in range(20)])
    motion = stack_motion(stack)
    assert 0.05 < motion.excess < 0.25
    with pytest.warns(NonStaticStackWarning, match="not quite static"):
        calibrate(stack, kind="poisson_gaussian")


def test_bleaching_is_seen():
    stack = _stack([SCENE * 0.97**k for k in range(20)])
    assert stack_motion(stack).excess > 0.05
    assert stack_motion(_stack([SCENE] * 20)).excess < 0.02
