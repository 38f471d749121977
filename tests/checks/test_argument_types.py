"""Arguments as users pass them (issue 29): numpy integers wherever Python ints are accepted (bools still
refused), and deactivate as "1,2" text parsed as a whole (or refused as a whole)."""

import numpy as np
import pytest
from factories import tiny_config, tiny_model

import napari_hdn
from napari_hdn.direct import DirectUNet
from napari_hdn.foundation.errors import InputError
from napari_hdn.training import training_events

TINY_TRAINING = dict(n_latent_layers=2, z_channels=2, n_filters=4, blocks_per_layer=1, dropout=0.0, patch_size=16,
                     batch_size=4, steps_per_epoch=2, val_patches=4, threads=1, precision="float32",
                     gaussian_sigma=3.0, device="cpu")
DIRECT = dict(batch_size=2, patch_size=16, width=4, depth=1)


def image(shape=(32, 32)):
    return np.random.default_rng(0).normal(100, 20, shape).astype(np.float32)


def trained_off(**kwargs):
    """The layers a (two-step) training switched off, after driving it to the end."""
    gen = training_events(image((2, 32, 32)), **{**TINY_TRAINING, "steps": 2, **kwargs})
    while True:
        try:
            next(gen)
        except StopIteration as finished:
            return finished.value.trained_deactivated


def test_restore_takes_numpy_integers_and_arrays_of_layers():
    result = napari_hdn.restore(tiny_model(), image(), n_samples=np.int64(2), keep_samples=np.int32(1),
                                deactivate=np.array([1]), seed=np.int64(3))
    assert result.deactivate == (1,) and result.samples.shape[0] == 1


@pytest.mark.parametrize("text, layers", [("1", (1,)), (" 1, 2 ", (1, 2)), ("1 2", (1, 2)), ("", ())])
def test_restore_reads_layer_text_as_numbers(text, layers):
    model = tiny_model(config=tiny_config(n_latent_layers=3))
    assert napari_hdn.restore(model, image(), n_samples=1, deactivate=text).deactivate == layers


@pytest.mark.parametrize("bad", ["banana", "1;2", "z1", True, (True,), 1.5, (1.0,)])
def test_restore_refuses_bad_layers_as_a_whole(bad):
    with pytest.raises(InputError) as error:
        napari_hdn.restore(tiny_model(), image(), n_samples=1, deactivate=bad)
    if isinstance(bad, str):
        assert repr(bad) in str(error.value)


def test_training_takes_numpy_integers_for_steps_seed_and_layers():
    assert trained_off(steps=np.int64(2), seed=np.int64(3), deactivate=np.array([1])) == (1,)


def test_training_reads_layer_text_as_numbers():
    assert trained_off(deactivate="1") == (1,)


@pytest.mark.parametrize("bad", ["banana", "auto", "1,x"])
def test_training_refuses_bad_layer_text_as_a_whole(bad):
    with pytest.raises(InputError, match=repr(bad)):
        training_events(image((2, 32, 32)), **{**TINY_TRAINING, "steps": 2}, deactivate=bad)


@pytest.mark.parametrize("name", ["steps", "seed"])
def test_training_still_refuses_bools(name):
    with pytest.raises(InputError):
        training_events(image((2, 32, 32)), **{**TINY_TRAINING, "steps": 2, name: True})


def test_direct_denoiser_takes_layer_text_and_numpy_integers():
    model = tiny_model()
    napari_hdn.train_direct_denoiser(model, image(), deactivate="1", steps=np.int64(1), seed=np.int64(3), **DIRECT)
    assert list(model.direct_denoisers) == ["off-1"]
    assert napari_hdn.denoise(model, image(), deactivate=np.array([1]), tile=np.int64(32)).shape == (32, 32)


def test_direct_denoiser_refuses_bad_layer_text_as_a_whole():
    with pytest.raises(InputError, match="'banana'"):
        napari_hdn.train_direct_denoiser(tiny_model(), image(), deactivate="banana", steps=1, **DIRECT)


def test_denoise_reads_layer_text():
    model = tiny_model()
    model.direct_denoisers = {"off-1": DirectUNet(depth=1, width=4).eval()}
    assert napari_hdn.denoise(model, image(), deactivate="1").shape == (32, 32)

