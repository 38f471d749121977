"""Calibration inputs that used to be accepted silently or misreported (issue 13, items 8, 9, 12)."""

import numpy as np
import pytest

from napari_hdn.foundation.errors import InputError, SaturationWarning
from napari_hdn.noise_models import calibrate


def stack(n=25, shape=(32, 32), seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(50, 150, shape)
    return clean + rng.normal(0, 5, (n, *shape))


def test_a_saturated_integer_stack_warns_with_the_share():
    data = stack().astype(np.uint8)
    data[:, :12] = 255  # 38 % of the pixels clipped
    with pytest.warns(SaturationWarning, match=r"38% .* saturated \(at 255"):
        calibrate(data, "gaussian", check_static=False)


def test_an_unsaturated_stack_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SaturationWarning)
        calibrate(stack().astype(np.uint16), "gaussian", check_static=False)


def test_a_5d_hyperstack_with_leading_singleton_axes_is_a_stack_of_its_frames():
    model = calibrate(stack()[None, None], "gaussian", check_static=False)
    assert model.provenance["n_frames"] == 25


def test_a_path_is_not_taken_for_an_array(tmp_path):
    with pytest.raises(InputError, match=r"is a file name .* read it first"):
        calibrate(str(tmp_path / "calib.tif"))


def test_frames_of_different_scenes_are_not_taken_for_repeats_of_one_signal():
    # issue 29: 8 different scenes against the clean signal of one of them gave gain 3.39 (truth 1.0)
    from napari_hdn.noise_models import fit_noise_model

    rng = np.random.default_rng(0)
    scenes = np.kron(rng.uniform(10, 200, (8, 8, 8)), np.ones((8, 8)))  # 8 scenes of 64 x 64 with structure
    noisy = rng.poisson(scenes) + 100.0
    with pytest.raises(InputError, match="static scene"):
        fit_noise_model(scenes[0] + 100, noisy, kind="poisson_gaussian")
    fit_noise_model(scenes[0] + 100, noisy, kind="gaussian", check_static=False)  # when the user is sure
