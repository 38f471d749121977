"""Intensities outside a model's training range or its noise model's range warn, refuse or fail loudly (issue 13)."""

import warnings

import numpy as np
import pytest
import torch

from napari_hdn.foundation.errors import InputError, IntensityRangeWarning, RestorationError
from napari_hdn.inference import restore
from napari_hdn.noise_models.poisson_gaussian import PoissonGaussianNoiseModel
from napari_hdn.checks.intensity_range import check_training_range, intensity_range
from napari_hdn.model import LadderVAE, ModelConfig, load_model
from napari_hdn.model.bundle import HDNModel
from napari_hdn.noise_models import GaussianNoiseModel


def image(seed=0, shape=(64, 64)):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (100 + 60 * np.sin(yy / 5.0) ** 2 * np.cos(xx / 7.0) ** 2 + rng.normal(0, 10, shape)).astype(np.float32)


def model(data_range=None, signal_range=(-np.inf, np.inf)):
    torch.manual_seed(0)
    config = ModelConfig(n_latent_layers=3, z_channels=4, n_filters=8, blocks_per_layer=1, dropout=0.0)
    noise = GaussianNoiseModel(10.0, signal_range=signal_range)
    return HDNModel(LadderVAE(config).eval(), noise, data_mean=120.0, data_std=25.0, data_range=data_range)


TRAINED = intensity_range([image(1), image(2)])


def run(m, x, **kw):
    return restore(m, x, n_samples=2, keep_samples=1, **kw)


def test_the_training_range_is_saved_and_old_bundles_still_load(tmp_path):
    m = model(data_range=TRAINED)
    assert load_model(m.save(tmp_path / "new")).data_range == pytest.approx(TRAINED)
    old = model().save(tmp_path / "old")  # no range recorded, as in bundles written before it was
    assert load_model(old).data_range is None


def test_images_like_the_training_data_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", IntensityRangeWarning)
        run(model(data_range=TRAINED), image(3))


@pytest.mark.parametrize("change", [lambda x: x - 100, lambda x: x * 2, lambda x: x * 0.3])
def test_offset_removed_or_rescaled_images_warn_with_the_ranges(change):
    with pytest.warns(IntensityRangeWarning, match=r"trained on \(\d.*\)"):
        run(model(data_range=TRAINED), change(image(3)))


def test_an_image_far_outside_the_training_range_is_refused():
    with pytest.raises(InputError, match="meaningless"):
        run(model(data_range=TRAINED), image(3) * 10)


def test_an_image_outside_the_noise_models_range_warns_even_for_old_models():
    with pytest.warns(IntensityRangeWarning, match="noise model"):
        run(model(signal_range=(0.0, 30.0)), image(3))


def test_a_non_finite_restoration_is_an_error_never_silent():
    with pytest.raises(RestorationError, match="NaN or infinite"):
        run(model(), image(3) * np.float32(1e30))  # no training range recorded: only the result can tell


def test_training_data_far_outside_the_noise_model_range_warn():
    noise = GaussianNoiseModel(10.0, signal_range=(90.0, 170.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", IntensityRangeWarning)
        assert check_training_range([image(1)], noise) == pytest.approx(intensity_range([image(1)]))
    with pytest.warns(IntensityRangeWarning, match=r"60\.\.200, noise included"):  # 90..170 widened by 3 sigma
        check_training_range([image(1) * 50], noise)


def test_low_light_data_from_the_calibrated_camera_do_not_warn():
    """At low light the noise spread is as wide as the signal range: noisy values of the very camera and
    light level the noise model was calibrated on lie outside its signal range, and must not warn."""
    rng = np.random.default_rng(0)
    signal = rng.uniform(0, 4.5, (4, 64, 64))  # photons, like nuclei-low (the model saw 100.2..109 ADU)
    noisy = np.round(2.0 * rng.poisson(signal) + rng.normal(0, 1.5, signal.shape) + 100)
    noise = PoissonGaussianNoiseModel(2.0, 100.0, 1.5, signal_range=(100.2, 109.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", IntensityRangeWarning)
        check_training_range(list(noisy), noise)
    with pytest.warns(IntensityRangeWarning, match="noise included"):
        check_training_range(list(noisy + 40), noise)  # another offset: well outside


def test_keep_samples_above_n_samples_is_an_error():
    with pytest.raises(InputError, match="keep_samples=5 is more than the 2 samples"):
        restore(model(), image(3), n_samples=2, keep_samples=5)
    assert restore(model(), image(3), n_samples=3).samples.shape[0] == 3  # default: min(10, N)
