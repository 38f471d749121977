import dask.array as da
import numpy as np
import pytest
import torch
from tiny_models import make_image, make_model

import napari_hdn
from napari_hdn.foundation.errors import FileFormatError, InputError
from napari_hdn.inference import (
    RestorationResult,
    layer_activations,
    restore,
    restore_events,
)
from napari_hdn.inference.engine import TTA_TRANSFORMS
from napari_hdn.inference.metrics import psnr
from napari_hdn.inference.uncertainty import MAX_FACTOR
from napari_hdn.noise_models.correlation import residual_covariance_record
from napari_hdn.foundation.progress import StopToken, drive


def test_public_api_names(model, image):
    assert napari_hdn.restore is restore
    assert napari_hdn.layer_activations is layer_activations
    assert napari_hdn.restore_events is restore_events


def test_2d_shapes_dtypes_and_statistics(model, image):
    result = restore(model, image.astype(np.uint16), n_samples=6, keep_samples=6)
    assert isinstance(result, RestorationResult) and result.complete
    for name in ("mmse", "variance", "std", "median"):
        array = getattr(result, name)
        assert isinstance(array, np.ndarray) and array.shape == image.shape and array.dtype == np.float32, name
    assert result.samples.shape == (6, *image.shape) and result.samples.dtype == np.float32
    # MMSE = mean of the N samples; variance, std and median are theirs too (one tile here).
    np.testing.assert_allclose(result.samples.mean(0), result.mmse, atol=1e-3)
    np.testing.assert_allclose(result.samples.var(0), result.variance, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(result.std, np.sqrt(result.variance))
    np.testing.assert_allclose(np.median(result.samples, 0), result.median, atol=1e-3)
    low, high = np.quantile(result.samples, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(result.half_width_90, (high - low) / 2, atol=1e-3)
    assert result.half_width_90.dtype == np.float32 and result.half_width_90.max() > 0
    assert set(result.images()) == {"mmse", "variance", "median", "half_width_90", "samples"}
    assert result.variance.min() >= 0 and result.variance.max() > 0
    # In the input's units (the model normalises with mean 120, std 25), not normalised ones.
    assert 30 < result.mmse.mean() < 300


def test_mmse_is_mean_of_returned_samples_also_across_tiles(model):
    image = make_image((80, 72))
    result = restore(model, image, n_samples=5, keep_samples=5, tile=32, overlap=16)
    np.testing.assert_allclose(result.samples.mean(0), result.mmse, atol=1e-3)


def test_keep_fewer_samples_than_drawn(model, image):
    result = restore(model, image, n_samples=5, keep_samples=2)
    assert result.samples.shape == (2, *image.shape)
    assert result.n_samples == 5
    assert restore(model, image, n_samples=3, keep_samples=0).samples.shape == (0, *image.shape)
    assert restore(model, image, n_samples=2).samples.shape == (2, *image.shape)  # K is at most N


def test_stack_restored_plane_by_plane_with_progress_per_plane(model):
    stack = np.stack([make_image(seed=s) for s in range(3)])
    events = []
    result = drive(restore_events(model, stack, n_samples=3, keep_samples=2), events.append)
    assert result.mmse.shape == stack.shape and result.samples.shape == (2, *stack.shape)
    assert {e.plane for e in events} == {1, 2, 3}
    assert all(e.n_planes == 3 for e in events)
    assert events[-1].done == events[-1].total
    assert [e.done for e in events] == sorted(e.done for e in events)
    # Each plane is restored on its own: plane 1 of the stack = plane 1 alone (seeds by place: plane 0).
    alone = restore(model, stack[0], n_samples=3, keep_samples=2)
    np.testing.assert_array_equal(alone.mmse, result.mmse[0])


def test_4d_stack(model):
    stack = make_image((2, 2, 64, 64))
    result = restore(model, stack, n_samples=2, keep_samples=1)
    assert result.mmse.shape == stack.shape and result.samples.shape == (1, *stack.shape)
    assert np.isfinite(result.mmse).all()


def test_same_seed_same_result_other_seed_other_result(model, image):
    a = restore(model, image, n_samples=4, keep_samples=4, seed=3)
    b = restore(model, image, n_samples=4, keep_samples=4, seed=3)
    c = restore(model, image, n_samples=4, keep_samples=4, seed=4)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.mmse, b.mmse)
    assert not np.allclose(a.samples, c.samples)


def test_seeded_result_does_not_touch_the_global_torch_generator(model, image):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    restore(model, image, n_samples=2, keep_samples=1)
    assert torch.equal(torch.rand(3), expected)


def test_batch_size_only_changes_which_random_numbers_each_sample_gets(model, image):
    one = restore(model, image, n_samples=4, keep_samples=4, batch_size=1)
    again = restore(model, image, n_samples=4, keep_samples=4, batch_size=1)
    four = restore(model, image, n_samples=4, keep_samples=4, batch_size=4)
    np.testing.assert_array_equal(one.samples, again.samples)
    assert one.samples.shape == four.samples.shape


def test_every_layer_off_is_refused_as_in_training(model):
    """With every layer off the result ignores the input (issue 13, item 4): refused, as training refuses it."""
    with pytest.raises(InputError, match="All 3 latent layers would be switched off"):
        restore(model, make_image(seed=1), n_samples=2, keep_samples=2, deactivate=(1, 2, 3))


def test_no_layer_off_follows_the_input(model):
    a = restore(model, make_image(seed=1), n_samples=2, keep_samples=0, posterior_mean=True)
    b = restore(model, make_image(seed=2), n_samples=2, keep_samples=0, posterior_mean=True)
    assert np.abs(a.mmse - b.mmse).max() > 1e-2


def test_deactivating_a_layer_changes_the_result_and_is_reported(model, image):
    on = restore(model, image, n_samples=2, keep_samples=0, posterior_mean=True)
    off = restore(model, image, n_samples=2, keep_samples=0, posterior_mean=True, deactivate=[1])
    assert off.deactivate == (1,) and on.deactivate == ()
    assert np.abs(on.mmse - off.mmse).max() > 1e-3


def test_layers_off_in_training_stay_off(image):
    model = make_model()
    model.trained_deactivated = (1,)
    result = restore(model, image, n_samples=2, keep_samples=0, posterior_mean=True)
    assert result.deactivate == (1,)
    explicit = restore(make_model(), image, n_samples=2, keep_samples=0, posterior_mean=True, deactivate=1)
    np.testing.assert_array_equal(result.mmse, explicit.mmse)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_tiles_blend_without_seams(model, precision):
    image = make_image((160, 136), seed=5)
    whole = restore(model, image, keep_samples=1, posterior_mean=True, precision=precision)
    tiled = restore(model, image, keep_samples=1, posterior_mean=True, tile=48, precision=precision)
    assert psnr(whole.mmse, tiled.mmse) >= 50


def test_tiled_samples_keep_their_variance_in_tile_overlaps(model):
    # Plainly averaging two tiles' independent samples would halve their variance in the overlaps.
    image = np.full((64, 128), 120.0, dtype=np.float32)
    result = restore(model, image, n_samples=40, keep_samples=40, tile=64, overlap=32)
    sample_var = result.samples.var(0)
    inner = result.variance[:, 56:72].mean()
    np.testing.assert_allclose(sample_var[:, 56:72].mean(), inner, rtol=0.05)


def test_tta_spreads_samples_over_the_8_orientations(model, image):
    result = restore(model, image, n_samples=8, keep_samples=8, tta=True)
    assert result.mmse.shape == image.shape and result.samples.shape == (8, *image.shape)
    # With posterior means, TTA is the average of the 8 transformed restorations.
    tta = restore(model, image, posterior_mean=True, tta=True, keep_samples=0)
    expected = []
    for turns, mirror in TTA_TRANSFORMS:
        t = np.rot90(image, turns)
        t = t[:, ::-1] if mirror else t
        r = restore(model, t.copy(), posterior_mean=True, keep_samples=0).mmse
        r = r[:, ::-1] if mirror else r
        expected.append(np.rot90(r, -turns))
    np.testing.assert_allclose(tta.mmse, np.mean(expected, 0), atol=1e-3)
    assert tta.n_samples == 8


def test_model_given_as_path(model, model_path, image):
    from_path = restore(str(model_path), image, n_samples=2, keep_samples=1, device="cpu")
    from_object = restore(model, image, n_samples=2, keep_samples=1)
    np.testing.assert_allclose(from_path.mmse, from_object.mmse, atol=1e-5)


def test_stop_request_returns_a_partial_result(model):
    stack = np.stack([make_image(seed=s) for s in range(3)])
    stop = StopToken()
    events = restore_events(model, stack, n_samples=2, keep_samples=1, stop=stop)
    next(events)
    stop.request_stop()
    result = drive(events)
    assert not result.complete
    assert np.isnan(result.mmse[-1]).all()


# -- dask ------------------------------------------------------------------------------------------------
def test_dask_in_lazy_dask_out(model):
    stack = np.stack([make_image(seed=s) for s in range(2)])
    lazy = restore(model, da.from_array(stack, chunks=(1, 64, 64)), n_samples=3, keep_samples=2, calibrate=True)
    assert lazy.lazy
    assert isinstance(lazy.mmse, da.Array) and isinstance(lazy.samples, da.Array)
    assert lazy.mmse.shape == stack.shape and lazy.samples.shape == (2, *stack.shape)
    assert lazy.mmse.dtype == np.float32
    computed = lazy.compute(scheduler="sync")
    # One chunk per plane: the same tiles and seeds as the numpy path, hence the same numbers.
    eager = restore(model, stack, n_samples=3, keep_samples=2, calibrate=True)
    np.testing.assert_allclose(computed.mmse, eager.mmse, atol=1e-5)
    np.testing.assert_allclose(computed.samples, eager.samples, rtol=1e-6, atol=1e-5)  # float32 rounding
    np.testing.assert_allclose(computed.std, eager.std, rtol=1e-3, atol=1e-5)  # scaled by the factor
    np.testing.assert_allclose(computed.half_width_90, eager.half_width_90, rtol=1e-3, atol=1e-5)
    assert computed.uncertainty.factor == pytest.approx(eager.uncertainty.factor)  # the same crop calibrates both


def test_dask_blocks_overlap_without_seams(model):
    image = make_image((128, 112), seed=3)
    eager = restore(model, image, posterior_mean=True, keep_samples=0)
    lazy = restore(model, da.from_array(image, chunks=(64, 56)), posterior_mean=True, keep_samples=0, overlap=24)
    assert lazy.mmse.numblocks == (2, 2)
    assert psnr(eager.mmse, lazy.mmse.compute(scheduler="sync")) >= 50


def test_dask_nan_block_gives_clear_error(model):
    image = make_image()
    image[3, 3] = np.nan
    lazy = restore(model, da.from_array(image), n_samples=2, keep_samples=0)
    with pytest.raises(InputError, match="NaN"):
        lazy.compute(scheduler="sync")


def test_dask_runs_on_a_distributed_cluster_with_the_model_path(model_path):
    distributed = pytest.importorskip("distributed")
    image = make_image((96, 64))
    lazy = restore(str(model_path), da.from_array(image, chunks=(48, 64)), n_samples=2, keep_samples=1, device="cpu")
    expected = lazy.compute(scheduler="sync")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            on_cluster = lazy.compute()
            assert client.status == "running"
    np.testing.assert_array_equal(on_cluster.mmse, expected.mmse)
    np.testing.assert_array_equal(on_cluster.samples, expected.samples)


# -- activations -----------------------------------------------------------------------------------------
def test_layer_activations_one_plane_per_layer(model, image):
    contributions, kl_maps = layer_activations(model, image)
    assert contributions.shape == (3, *image.shape) and kl_maps.shape == (3, *image.shape)
    assert contributions.dtype == np.float32 and kl_maps.dtype == np.float32
    assert (kl_maps >= -1e-6).all() and kl_maps.sum() > 0
    # Each plane is the decode of one layer alone: the layers hold different things.
    assert np.abs(contributions[0] - contributions[2]).max() > 1e-3
    # Contribution of z1 = posterior mean restoration with layers 2 and 3 switched off.
    only_z1 = restore(model, image, posterior_mean=True, keep_samples=0, deactivate=(2, 3))
    np.testing.assert_allclose(contributions[0], only_z1.mmse, atol=1e-4)


def test_layer_activations_for_stacks_and_dask(model):
    stack = np.stack([make_image(seed=s) for s in range(2)])
    contributions, kl_maps = layer_activations(model, stack)
    assert contributions.shape == (3, *stack.shape) and kl_maps.shape == (3, *stack.shape)
    lazy_c, lazy_kl = layer_activations(model, da.from_array(stack, chunks=(1, 64, 64)))
    assert isinstance(lazy_c, da.Array)
    np.testing.assert_allclose(lazy_kl.compute(scheduler="sync"), kl_maps, atol=1e-5)


def test_layers_off_in_training_have_no_kl(image):
    model = make_model()
    model.trained_deactivated = (1,)
    _, kl_maps = layer_activations(model, image)
    assert np.all(kl_maps[0] == 0) and kl_maps[1].sum() > 0


# -- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((64, 64, 3), dtype=np.uint8), "RGB"),
        (np.zeros(64), "dimension"),
        (np.zeros((6, 64)), "smaller than this model's stride of 8"),
        (np.zeros((64, 64), dtype=complex), "data type"),
        (np.array([]), "empty"),
    ],
)
def test_bad_images_give_clear_errors(model, bad, message):
    with pytest.raises(InputError, match=message):
        restore(model, bad, n_samples=1, keep_samples=0)
    with pytest.raises(InputError, match=message):
        layer_activations(model, bad)


def test_nan_image_gives_clear_error(model, image):
    image[5, 5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        restore(model, image)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"keep_samples": -1}, "keep_samples"),
        ({"deactivate": (4,)}, "Latent layer 4 does not exist"),
        ({"deactivate": (0,)}, "Latent layer 0 does not exist"),
        ({"tile": 4}, "smaller than this model's stride"),
        ({"tile": 32, "overlap": 32}, "overlap"),
        ({"seed": -1}, "seed"),
        ({"precision": "half"}, "precision"),
        ({"batch_size": 0}, "batch_size"),
        ({"tta": True, "n_samples": 4}, "at least 8 samples"),
    ],
)
def test_bad_options_give_clear_errors(model, image, options, message):
    with pytest.raises(InputError, match=message):
        restore(model, image, **options)


def test_wrong_model_gives_clear_error(tmp_path, image):
    with pytest.raises(FileFormatError, match="does not exist"):
        restore(tmp_path / "missing", image)
    (tmp_path / "old.pt").write_bytes(b"not a model")
    with pytest.raises(FileFormatError, match="pickled"):
        restore(tmp_path / "old.pt", image)
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileFormatError, match="not a napari-hdn model"):
        restore(tmp_path / "folder", image)
    with pytest.raises(InputError, match="HDNModel"):
        restore(object(), image)


def test_stop_request_ends_activations_early(model):
    stack = np.stack([make_image(seed=s) for s in range(2)])
    stop = StopToken()
    stop.request_stop()
    contributions, kl_maps = layer_activations(model, stack, stop=stop)
    assert contributions.shape == (3, *stack.shape) and np.isnan(kl_maps).all()


def test_self_calibration_is_opt_in_and_scales_the_spread_consistently(model, image):
    plain = restore(model, image, n_samples=6, keep_samples=6, seed=2)
    assert plain.uncertainty is None and plain.estimated_psnr is None
    calibrated = restore(model, image, n_samples=6, keep_samples=6, seed=2, calibrate=True)
    u = calibrated.uncertainty
    assert u.factor > 0 and np.isfinite(u.estimated_psnr) and "simulated copy" in u.includes
    np.testing.assert_allclose(calibrated.mmse, plain.mmse)
    np.testing.assert_allclose(calibrated.variance, plain.variance * u.factor, rtol=1e-5)
    np.testing.assert_allclose(calibrated.samples - calibrated.mmse,
                               (plain.samples - plain.mmse) * np.sqrt(u.factor), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(calibrated.half_width_90, plain.half_width_90 * np.sqrt(u.factor), rtol=1e-4,
                               atol=1e-4)
    # The error estimate is Stein's (inference.error_estimate), made on the image itself; recorded with it.
    assert u.error is not None and calibrated.estimated_mse == u.error.mse > 0 and u.error.pixels == image.size
    assert u.to_metadata()["error_estimate"]["method"].startswith("Stein")
    assert "estimated error" in u.describe("ADU")


def test_with_a_reliable_error_estimate_the_spread_is_scaled_to_it(image):
    """Where the noise model records its correlation (here: white), the error estimate is reliable and sets the
    temperature: the variance map's mean is then the estimated squared error (no simulation)."""
    model = make_model()
    rng = np.random.default_rng(5)
    model.noise_model.provenance = {"spatial_correlation": residual_covariance_record(
        rng.normal(0.0, 10.0, (4, *image.shape)), np.full(image.shape, 120.0))}
    n = 8
    plain = restore(model, image, n_samples=n, keep_samples=n, seed=2)
    calibrated = restore(model, image, n_samples=n, keep_samples=n, seed=2, calibrate=True)
    u = calibrated.uncertainty
    assert u.reliable and u.error.reliable and "estimated without ground truth" in u.includes
    wanted = u.error.mse / (u.error.posterior_variance * (n - 1) / n)
    assert u.error.temperature(n) == pytest.approx(wanted, rel=1e-9)
    # An untrained model errs far beyond its spread: the factor stops at the cap, and says so.
    assert u.factor == pytest.approx(min(wanted, MAX_FACTOR), rel=1e-6)
    assert (wanted > MAX_FACTOR) == ("the most it is scaled" in u.includes)
    np.testing.assert_allclose(calibrated.variance, plain.variance * u.factor, rtol=1e-5)
    assert u.error.temperature(1) is None  # one sample has no spread to scale


def test_calibrate_must_be_true_or_false(model, image):
    with pytest.raises(InputError, match="calibrate must be True or False"):
        restore(model, image, n_samples=2, calibrate="yes")
