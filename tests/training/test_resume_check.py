"""Resuming with another noise model or preset is refused instead of silently ignored (issue 13, item 13)."""

import pytest

from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import PoissonGaussianNoiseModel
from napari_hdn.training import training_events
from napari_hdn.foundation.progress import drive

TINY = dict(n_latent_layers=2, z_channels=2, n_filters=4, blocks_per_layer=1, dropout=0.0, patch_size=16,
            batch_size=4, steps_per_epoch=2, val_patches=4, threads=1, precision="float32", device="cpu")
NOISE = PoissonGaussianNoiseModel(1.0, 100.0, 3.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import numpy as np

    rng = np.random.default_rng(0)
    data = (rng.poisson(20, (4, 32, 32)) + 100).astype(np.float32)
    out = tmp_path_factory.mktemp("resume") / "run"
    drive(training_events(data, NOISE, steps=2, out=out, **TINY))
    return data, out


def test_the_same_noise_model_and_preset_resume(trained):
    data, out = trained
    model = drive(training_events(data, PoissonGaussianNoiseModel(1.0, 100.0, 3.0), preset="fast", steps=3, out=out,
                                  resume=True, **TINY))
    assert model.step == 3


@pytest.mark.parametrize("change, message", [
    (dict(noise_model=PoissonGaussianNoiseModel(2.0, 100.0, 3.0)), "another noise model"),
    (dict(gaussian_sigma=5.0), "another noise model"),
    (dict(preset="paper"), "started with the 'fast' preset, not 'paper'"),
])
def test_another_noise_model_or_preset_is_refused(trained, change, message):
    data, out = trained
    with pytest.raises(InputError, match=message):
        next(training_events(data, steps=4, out=out, resume=True, **{**TINY, **change}))
