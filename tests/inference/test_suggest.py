import dask.array as da
import numpy as np
import pytest
from tiny_models import make_image, make_model

import napari_hdn
from napari_hdn.foundation.errors import HDNError, InputError
from napari_hdn.inference import (
    DeactivationSuggestion,
    restore,
    suggest_deactivation,
    suggest_deactivation_events,
)
from napari_hdn.inference.suggest import central_crop, judge
from napari_hdn.noise_models import GaussianNoiseModel
from napari_hdn.foundation.progress import StopToken, drive

SIGMA = 10.0


def _simulated(seed=0, shape=(96, 96)):
    """A clean image and its noisy version, with Gaussian noise of known sigma."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    clean = 100 + 80 * np.exp(-((yy - 40) ** 2 + (xx - 50) ** 2) / 300.0) + 30 * np.sin(xx / 6.0) ** 2
    return clean, clean + rng.normal(0, SIGMA, shape)


def _blur(image, passes):
    for _ in range(passes):
        image = (image + sum(np.roll(image, shift, axis) for shift in (1, -1) for axis in (0, 1))) / 5
    return image


def test_public_api_names():
    assert napari_hdn.suggest_deactivation is suggest_deactivation
    assert napari_hdn.suggest_deactivation_events is suggest_deactivation_events


def test_layer_that_keeps_noise_is_suggested_and_content_layers_are_not():
    # Known answer: restoration 0 keeps half the noise (z1 learned noise), 1 is the clean image,
    # 2 and 3 lose ever more detail (z2, z3 hold content).
    clean, noisy = _simulated()
    restored = [clean + 0.5 * (noisy - clean), clean, _blur(clean, 3), _blur(clean, 12)]
    suggestion = judge(noisy, restored, GaussianNoiseModel(SIGMA))
    assert suggestion.layers == (1,)
    assert [v.layer for v in suggestion.verdicts] == [1, 2, 3]
    first, second, _ = suggestion.verdicts
    assert first.noise_like and first.score > 0 and first.fit_before < 0.5 and 0.8 < first.fit_after < 1.2
    assert not second.noise_like
    assert "noise" in first.reason and "content" in second.reason
    assert "z1" in suggestion.summary


def test_a_restoration_that_fits_as_the_noise_model_expects_keeps_every_layer():
    clean, noisy = _simulated(seed=1)
    restored = [clean, _blur(clean, 2), _blur(clean, 8)]
    suggestion = judge(noisy, restored, GaussianNoiseModel(SIGMA))
    assert suggestion.layers == () and not any(v.noise_like for v in suggestion.verdicts)
    assert "keep every layer" in suggestion.summary


def test_only_prefixes_are_suggested():
    # Layer 2's removal would look like noise removal, but layer 1 holds content: nothing is suggested.
    clean, noisy = _simulated(seed=2)
    restored = [clean + 0.9 * (noisy - clean), clean + 0.95 * (noisy - clean), clean]
    suggestion = judge(noisy, restored, GaussianNoiseModel(SIGMA))
    assert not suggestion.verdicts[0].noise_like and suggestion.verdicts[1].noise_like
    assert suggestion.layers == ()


def test_layers_off_in_training_are_skipped():
    clean, noisy = _simulated(seed=3)
    restored = [clean + 0.5 * (noisy - clean), clean + 0.5 * (noisy - clean), clean, _blur(clean, 6)]
    suggestion = judge(noisy, restored, GaussianNoiseModel(SIGMA), always_off=(1,))
    assert [v.layer for v in suggestion.verdicts] == [2, 3] and suggestion.layers == (2,)


def test_suggestion_on_a_tiny_model_is_deterministic_and_never_all_layers():
    model, image = make_model(), make_image((72, 80))
    first = suggest_deactivation(model, image)
    assert isinstance(first, DeactivationSuggestion)
    assert [v.layer for v in first.verdicts] == [1, 2]  # 3 layers: never all of them
    assert first.crop == (0, 0, 72, 80)
    assert all(np.isfinite([v.score, v.fit_before, v.fit_after, v.anisotropy, v.edge_correlation]).all()
               for v in first.verdicts)
    assert suggest_deactivation(model, image) == first
    record = first.to_metadata()
    assert record["layers"] == list(first.layers) and len(record["verdicts"]) == 2


def test_crop_of_a_stack_and_dask_input():
    model = make_model()
    stack = np.stack([make_image((64, 96), seed=s) for s in range(3)])
    suggestion = suggest_deactivation(model, stack, crop=40)
    assert suggestion.crop == (12, 28, 40, 40)  # the middle plane's centre, a multiple of the stride (8)
    lazy = suggest_deactivation(model, da.from_array(stack, chunks=(1, 64, 96)), crop=40)
    assert lazy == suggestion
    assert central_crop((20, 300), 256, 8) == (2, 22, 16, 256)


def test_progress_events_and_stop():
    model, image = make_model(), make_image()
    events = []
    drive(suggest_deactivation_events(model, image), events.append)
    assert events[-1].done == events[-1].total == 3
    stop = StopToken()
    stop.request_stop()
    with pytest.raises(InputError, match="stopped"):
        suggest_deactivation(model, image, stop=stop)


def test_restore_auto_switches_off_the_suggested_layers_and_records_them(monkeypatch):
    model, image = make_model(), make_image()
    from napari_hdn.inference import suggest as module

    result = restore(model, image, n_samples=2, deactivate="auto")
    suggestion = suggest_deactivation(model, image)
    assert result.suggestion == suggestion and result.deactivate == suggestion.layers
    monkeypatch.setattr(module, "judge", lambda *a, **k: DeactivationSuggestion((1, 2), (), (), (0, 0, 64, 64), 0.05))
    result = restore(model, image, n_samples=2, deactivate="AUTO")
    assert result.deactivate == (1, 2) and result.suggestion.layers == (1, 2)
    assert "z1, z2 look like noise" in result.suggestion.summary
    np.testing.assert_allclose(result.mmse, restore(model, image, n_samples=2, deactivate=(1, 2)).mmse)


def test_never_switched_off_by_default(model, image):
    result = restore(model, image, n_samples=2)
    assert result.deactivate == () and result.suggestion is None


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, i: restore(m, i, deactivate="best"), "auto"),
        (lambda m, i: suggest_deactivation(m, i, crop=0), "crop"),
        (lambda m, i: suggest_deactivation(m, i, tolerance=1.5), "tolerance"),
        (lambda m, i: suggest_deactivation(m, i[:4, :4]), "stride"),
        (lambda m, i: suggest_deactivation(m, np.full((64, 64), np.nan)), "NaN"),
        (lambda m, i: suggest_deactivation("not a model folder", i), "does not exist"),
        (lambda m, i: suggest_deactivation(object(), i), "HDNModel"),
        (lambda m, i: suggest_deactivation(m, i[0]), "dimension"),
    ],
)
def test_bad_input_gives_clear_errors(model, image, call, message):
    with pytest.raises(HDNError, match=message):  # InputError, or FileFormatError for a missing model
        call(model, image)


def test_restore_auto_on_dask_and_stopped(model):
    image = make_image()
    lazy = restore(model, da.from_array(image, chunks=32), n_samples=2, deactivate="auto")
    assert lazy.lazy and lazy.suggestion == suggest_deactivation(model, image)
    stop = StopToken()
    stop.request_stop()
    stopped = restore(model, image, n_samples=2, deactivate="auto", stop=stop)
    assert not stopped.complete and stopped.suggestion is None and stopped.deactivate == ()
