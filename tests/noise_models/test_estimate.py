"""estimate_noise_model: Poisson-Gaussian parameters from ordinary noisy images (no repeats, no clean data)."""

import warnings

import numpy as np
import pytest

import napari_hdn
from napari_hdn.foundation.errors import InputError
from napari_hdn.noise_models import (
    CorrelatedNoiseWarning,
    NoiseEstimate,
    PoissonGaussianNoiseModel,
    estimate_events,
    estimate_noise_model,
    load_noise_model,
    save_estimate_plot,
)
from napari_hdn.foundation.progress import StopToken

from .simulated import blob_photons, camera_image

# gain, read sigma, offset, whole numbers, peak photons (enough Poisson noise to see over the read noise),
# different images (a low gain under strong read noise needs more pixels for 6 %)
CAMERAS = [
    (0.5, 0.5, 0.0, False, 200.0, 1),
    (0.5, 10.0, 1000.0, True, 2000.0, 6),
    (1.0, 3.0, 100.0, False, 200.0, 1),
    (2.0, 1.5, 100.0, True, 200.0, 1),
    (5.0, 0.5, 500.0, True, 200.0, 1),
    (5.0, 10.0, 0.0, False, 200.0, 1),
]


def _true_variance(s, gain, read_sigma, offset, integer):
    return gain * (s - offset) + read_sigma**2 + (1 / 12 if integer else 0.0)


@pytest.mark.parametrize("gain, read_sigma, offset, integer, peak, n_images", CAMERAS)
def test_recovers_known_camera_parameters_with_saturated_pixels(gain, read_sigma, offset, integer, peak, n_images):
    photons = np.stack([blob_photons(peak_photons=peak, seed=k) for k in range(n_images)])
    image = camera_image(photons, gain, read_sigma, offset, integer, saturated=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorrelatedNoiseWarning)
        estimate = estimate_noise_model(image.astype(np.uint16) if integer and offset > 0 else image)
    assert abs(estimate.direction_ratio - 1) < 0.1
    assert estimate.clipped_levels[1] == pytest.approx(image.max())  # the saturation was found and left out
    assert abs(estimate.gain / gain - 1) < 0.06
    assert abs(estimate.gain - gain) < 4 * estimate.gain_std + 0.02 * gain  # the uncertainty is honest
    assert abs(estimate.read_sigma / read_sigma - 1) < 0.12
    assert abs(estimate.offset - offset) < 0.3 * read_sigma + 0.05 * gain
    assert estimate.quantization_variance == pytest.approx(1 / 12 if integer else 0.0)
    # The model's variance curve over the unsaturated 5-95 % signal range is within 10 % of the truth.
    signal = gain * photons + offset
    s = np.linspace(*np.percentile(signal[image < image.max()], (5, 95)), 50)
    fitted = estimate.model.moments(s)[1].double().numpy()
    assert np.max(np.abs(fitted / _true_variance(s, gain, read_sigma, offset, integer) - 1)) < 0.10


def test_a_stack_of_different_images_and_a_known_offset():
    images = np.stack([camera_image(blob_photons((96, 96), seed=k), 2.0, 4.0, 300.0, seed=k) for k in range(4)])
    estimate = estimate_noise_model(images, offset=300.0)
    assert estimate.offset == 300.0 and estimate.offset_given
    assert abs(estimate.gain / 2.0 - 1) < 0.08
    assert abs(estimate.read_sigma / 4.0 - 1) < 0.08
    assert estimate.model.offset == 300.0


def test_model_provenance_is_saved_and_plot_written(tmp_path):
    image = camera_image(blob_photons((128, 128)), 2.0, 3.0, 100.0)
    estimate = estimate_noise_model(image)
    assert isinstance(estimate, NoiseEstimate) and isinstance(estimate.model, PoissonGaussianNoiseModel)
    path = tmp_path / "nm.npz"
    estimate.model.save(path)
    loaded = load_noise_model(path)
    assert loaded.provenance["source"] == "estimated"
    assert loaded.provenance["gain"] == pytest.approx(estimate.gain)
    assert loaded.provenance["gain_std"] == pytest.approx(estimate.gain_std)
    save_estimate_plot(estimate, tmp_path / "nm.png")
    assert (tmp_path / "nm.png").read_bytes()[:4] == b"\x89PNG"
    assert napari_hdn.estimate_noise_model is estimate_noise_model


def test_files_without_provenance_still_load(tmp_path):
    model = PoissonGaussianNoiseModel(2.0, 100.0, 3.0)
    arrays = model.to_arrays()
    assert arrays.pop("provenance").item() == '{"source": "known_parameters"}'
    np.savez(tmp_path / "old.npz", **arrays)
    assert load_noise_model(tmp_path / "old.npz").provenance == {}


def test_events_check_arguments_when_called_and_honour_stop():
    image = np.stack([camera_image(blob_photons((96, 96), seed=k), 1.0, 3.0, 100.0, seed=k) for k in range(3)])
    with pytest.raises(InputError, match="gmm"):
        estimate_events(image, kind="gmm")
    with pytest.raises(InputError, match="n_bins"):
        estimate_events(image, n_bins=1)
    with pytest.raises(InputError, match="Unknown"):
        estimate_events(image, steps=3)
    stop = StopToken()
    events = estimate_events(image, stop=stop)
    first = next(events)
    assert first.stage == "Estimating noise model" and first.total == 4
    stop.request_stop()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            while True:
                next(events)
        except StopIteration as done:
            estimate = done.value
    assert estimate.gain_std is None and estimate.n_candidates < 3 * 88 * 88  # only the first image was used


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((64, 64), 7.0), "constant"),
        (np.random.default_rng(0).normal(100, 3, (20, 20)), "too small"),
        (np.random.default_rng(0).normal(100, 3, (128, 128)), "does not clearly grow"),
        (np.where(np.eye(64, dtype=bool), np.nan, 1.0) + np.arange(64), "NaN"),
        (np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8), "RGB"),
        (np.arange(100.0), "2-D image"),
    ],
    ids=["constant", "too-small", "flat", "nan", "rgb", "1-d"],
)
def test_bad_input_names_the_problem(images, message):
    with pytest.raises(InputError, match=message):
        estimate_noise_model(images)


def test_noise_correlated_along_rows_warns():
    photons = blob_photons((128, 128), peak_photons=20.0)
    rng = np.random.default_rng(0)
    white = rng.normal(0, 1, (128, 132))
    rows = (white[:, :-4] + white[:, 1:-3] + white[:, 2:-2] + white[:, 3:-1] + white[:, 4:]) / np.sqrt(5)
    image = 2.0 * rng.poisson(photons) + 100.0 + 6.0 * rows
    with pytest.warns(CorrelatedNoiseWarning, match="horizontal neighbours"):
        estimate = estimate_noise_model(image)
    assert estimate.direction_ratio < 0.85
    dark = estimate.spatial_correlation["correlation"]["dark"]
    assert dark["x"][0] > 0.5  # 0.8 for this 5-pixel box, whose tail lies beyond the 3-pixel support measured


def test_large_data_is_subsampled_by_tiles():
    photons = np.stack([blob_photons((128, 128), seed=k) for k in range(8)])
    images = camera_image(photons, 2.0, 3.0, 100.0)
    full = estimate_noise_model(images, n_bootstrap=20)
    part = estimate_noise_model(images, max_pairs=30_000, n_bootstrap=20)
    assert part.n_candidates < 0.4 * full.n_candidates
    assert abs(part.gain / 2.0 - 1) < 0.1 and part.gain_std > full.gain_std
