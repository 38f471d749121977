"""The one-pass path makes the sampling path's input checks (issue 29): range, finiteness (also per dask
block), dimensions; the same checks guard the suggestion, the distillation and the export."""

import dask.array as da
import numpy as np
import pytest
from factories import tiny_model

import napari_hdn
from napari_hdn.cli import main
from napari_hdn.direct import DirectUNet
from napari_hdn.foundation.errors import InputError, IntensityRangeWarning


def model_with_denoiser():
    model = tiny_model(data_mean=120.0, data_std=25.0, data_range=(60.0, 180.0))
    model.direct_denoisers = {"all-on": DirectUNet(depth=1, width=4).eval()}
    return model


def image(scale=1.0, shape=(32, 32)):
    return (np.random.default_rng(0).normal(120, 25, shape) * scale).astype(np.float32)


def test_denoise_refuses_data_ten_times_brighter_than_the_training_data():
    with pytest.raises(InputError, match="meaningless"):
        napari_hdn.denoise(model_with_denoiser(), image(scale=10))


def test_denoise_warns_on_data_ten_times_darker():
    with pytest.warns(IntensityRangeWarning, match="outside"):
        napari_hdn.denoise(model_with_denoiser(), image(scale=0.1))


def test_denoise_of_a_dask_image_with_a_nan_block_fails_naming_the_block():
    data = image(shape=(2, 32, 32))
    data[1, 20, 5] = np.nan
    lazy = napari_hdn.denoise(model_with_denoiser(), da.from_array(data, chunks=(1, 16, 16)))
    with pytest.raises(InputError, match=r"block \(1, 1, 0\)"):
        lazy.compute()


def test_restore_of_a_dask_image_with_an_inf_block_fails_naming_the_block():
    data = image(shape=(32, 32))
    data[3, 30] = np.inf
    result = napari_hdn.restore(model_with_denoiser(), da.from_array(data, chunks=(16, 16)), n_samples=2)
    with pytest.raises(InputError, match=r"block \(0, 1\)"):
        result.compute()


def test_suggestion_refuses_data_far_outside_the_training_range():
    with pytest.raises(InputError, match="meaningless"):
        napari_hdn.suggest_deactivation(model_with_denoiser(), image(scale=10))


def test_distillation_refuses_data_far_outside_the_training_range():
    with pytest.raises(InputError, match="meaningless"):
        napari_hdn.train_direct_denoiser(model_with_denoiser(), image(scale=10), steps=1, patch_size=16)


def test_denoise_refuses_a_1d_image():
    with pytest.raises(InputError, match="2-D"):
        napari_hdn.denoise(model_with_denoiser(), np.ones(64, np.float32))


def predict_direct(tmp_path, data):
    model_with_denoiser().save(tmp_path / "m")
    np.save(tmp_path / "in.npy", data)
    return main(["predict", str(tmp_path / "m"), str(tmp_path / "in.npy"), "--out", str(tmp_path / "out"), "--direct",
                 "--device", "cpu", "--quiet"])


def test_cli_direct_on_data_ten_times_brighter_exits_2_and_writes_nothing(tmp_path, capsys):
    assert predict_direct(tmp_path, image(scale=10)) == 2
    assert "meaningless" in capsys.readouterr().err
    assert not (tmp_path / "out" / "mmse.tif").exists()


def test_cli_direct_on_data_ten_times_darker_warns(tmp_path, capsys):
    assert predict_direct(tmp_path, image(scale=0.1)) == 0
    assert "warning: The image's intensities" in capsys.readouterr().err


def test_cli_direct_on_an_ome_zarr_with_a_nan_block_exits_2_and_writes_nothing(tmp_path, capsys):
    pytest.importorskip("ome_zarr")
    from napari_hdn.io.omezarr import ImageMetadata, write_ome_zarr

    data = image(shape=(2, 32, 32))
    data[0, 2, 2] = np.nan
    write_ome_zarr(tmp_path / "in.ome.zarr", {"raw": (da.from_array(data, chunks=(1, 16, 16)),
                                                       ImageMetadata("zyx", (1.0, 1.0, 1.0), {}))})
    model_with_denoiser().save(tmp_path / "m")
    out = tmp_path / "out.ome.zarr"
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "in.ome.zarr" / "raw"), "--out", str(out),
                 "--direct", "--device", "cpu", "--quiet"]) == 2
    assert "NaN or infinite" in capsys.readouterr().err
    assert not out.exists()


def test_export_refuses_a_test_image_far_outside_the_training_range(tmp_path):
    pytest.importorskip("bioimageio.spec")
    with pytest.raises(InputError, match="meaningless"):
        napari_hdn.export_bioimageio(model_with_denoiser(), tmp_path / "m.zip", image(scale=10), check=False)
    assert not list(tmp_path.iterdir())


def test_export_refuses_a_test_image_with_nan(tmp_path):
    pytest.importorskip("bioimageio.spec")
    data = image()
    data[4, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        napari_hdn.export_bioimageio(model_with_denoiser(), tmp_path / "m.zip", data, check=False)


def test_deactivate_auto_on_the_one_pass_path_uses_the_recorded_noise_layers(tmp_path):
    from napari_hdn import denoise, train_direct_denoiser
    from napari_hdn.inference import DeactivationSuggestion

    model, noisy = tiny_model(data_mean=120.0, data_std=25.0), image(shape=(64, 64))
    found = DeactivationSuggestion((1,), (), (), (0, 0, 64, 64), 0.05, "correlation", True)
    model.noise_layers = {"layers": [1], "suggestion": found.to_metadata()}
    train_direct_denoiser(model, noisy[None], deactivate="auto", steps=2, patch_size=32, batch_size=2)
    assert set(model.direct_denoisers) == {"off-1"}
    np.testing.assert_array_equal(denoise(model, noisy, deactivate="auto"), denoise(model, noisy, deactivate=(1,)))


@pytest.mark.parametrize("threads", [0, 1.5, True, "2"])
def test_distillation_refuses_bad_threads_when_called(threads):
    with pytest.raises(InputError, match="threads must be a whole number"):
        napari_hdn.distill_events(model_with_denoiser(), image(), steps=1, patch_size=16, threads=threads)


@pytest.mark.parametrize("threads", [0, 1.5, True, "2"])
def test_denoise_refuses_bad_threads_when_called(threads):
    with pytest.raises(InputError, match="threads must be a whole number"):
        napari_hdn.denoise_events(model_with_denoiser(), image(), threads=threads)


def test_denoise_runs_on_the_threads_asked_for():
    import torch

    model = model_with_denoiser()
    one = napari_hdn.denoise(model, image(), threads=1)
    assert torch.get_num_threads() == 1  # set in the thread that drove it
    np.testing.assert_array_equal(one, napari_hdn.denoise(model, image(), threads=2))


def test_cli_export_without_an_image_says_which_flag_is_missing(tmp_path, capsys):
    model_with_denoiser().save(tmp_path / "m")
    assert main(["export", str(tmp_path / "m"), "--bioimageio", str(tmp_path / "m.zip")]) == 2
    assert "Give --image DATA.tif" in capsys.readouterr().err
    assert not (tmp_path / "m.zip").exists()
