"""The direct denoiser: distillation, storage in the bundle, tiled/dask denoising, errors, CLI."""

import numpy as np
import pytest
import tifffile
import torch
from tiny_models import make_image, make_model

import napari_hdn
from napari_hdn.cli import main
from napari_hdn.foundation.errors import InputError
from napari_hdn.model.bundle import load_model

FAST = dict(batch_size=4, patch_size=32, width=8, depth=1)


@pytest.fixture(scope="module")
def distilled():
    torch.set_num_threads(1)
    model, image = make_model(), make_image((64, 64))
    napari_hdn.train_direct_denoiser(model, image, steps=150, lr=3e-3, n_average=4, **FAST)
    return model, image


def _psnr(a, b):
    return 10 * np.log10(np.ptp(b) ** 2 / np.mean((a - b) ** 2))


def test_approaches_mean_of_many_samples(distilled):
    model, image = distilled
    mmse = napari_hdn.restore(model, image, n_samples=64).mmse
    direct = napari_hdn.denoise(model, image)
    assert direct.shape == image.shape and direct.dtype == np.float32
    # 150 steps take seconds: the estimate is far closer to the 64-sample MMSE than the noisy input
    # (measured ratio ~0.014), though not yet as close as one posterior sample of this untrained model
    assert np.mean((direct - mmse) ** 2) < 0.05 * np.mean((image - mmse) ** 2)


def test_direct_step_learns_a_fixed_target():
    from napari_hdn.direct import DirectUNet
    from napari_hdn.direct.step import direct_step

    torch.manual_seed(0)
    net = DirectUNet(depth=1, width=8)
    optimizer = torch.optim.Adam(net.parameters(), 1e-2)
    noisy, target = torch.randn(2, 1, 16, 16), torch.zeros(2, 1, 16, 16)
    first = direct_step(net, optimizer, noisy, target)
    for _ in range(30):
        last = direct_step(net, optimizer, noisy, target, loss="l1")
    assert last < 0.5 * first ** 0.5  # L1 after training below the initial RMS


def test_save_load_round_trip(distilled, tmp_path):
    model, image = distilled
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert list(loaded.direct_denoisers) == ["all-on"]
    np.testing.assert_array_equal(napari_hdn.denoise(loaded, image), napari_hdn.denoise(model, image))


def test_train_direct_denoiser_out_saves_into_the_model_folder_leaving_the_weights(tmp_path):
    import hashlib
    import json

    image = make_image((64, 64))
    run = tmp_path / "run"
    make_model().save(run / "best")  # a training folder: out= resolves to its best checkpoint
    weights = hashlib.sha256((run / "best" / "weights.safetensors").read_bytes()).hexdigest()
    model = load_model(run)
    napari_hdn.train_direct_denoiser(model, image, steps=3, out=run, **FAST)
    assert hashlib.sha256((run / "best" / "weights.safetensors").read_bytes()).hexdigest() == weights
    meta = json.loads((run / "best" / "model.json").read_text())
    assert meta["direct_denoisers"] == {"file": "direct.safetensors", "layer_sets": ["all-on"]}
    again = load_model(run)
    assert list(again.direct_denoisers) == ["all-on"]
    np.testing.assert_array_equal(napari_hdn.denoise(again, image), napari_hdn.denoise(model, image))
    with pytest.raises(Exception, match="does not exist"):  # refused before any training
        napari_hdn.train_direct_denoiser(model, image, steps=3, out=tmp_path / "nowhere", **FAST)


def test_old_bundle_without_denoiser_loads_and_explains(tmp_path, image=make_image((64, 64))):
    make_model().save(tmp_path / "old")
    model = load_model(tmp_path / "old")
    assert model.direct_denoisers == {}
    with pytest.raises(InputError, match=r"train_direct_denoiser\(model, images, deactivate=\(1,\)\)"):
        napari_hdn.denoise(model, image, deactivate=(1,))


def test_tiles_blend_without_seams(distilled):
    model, image = distilled
    whole = napari_hdn.denoise(model, image)
    tiled = napari_hdn.denoise(model, image, tile=32, overlap=16)
    assert _psnr(tiled, whole) >= 50


def test_batched_tiles_match_one_at_a_time(distilled):
    model, image = distilled
    image = np.pad(image, ((0, 16), (0, 8)), mode="reflect")  # 80 x 72: edge tiles of other sizes
    one = napari_hdn.denoise(model, image, tile=32, overlap=16, precision="float32", batch_size=1)
    many = napari_hdn.denoise(model, image, tile=32, overlap=16, precision="float32", batch_size=4)
    assert np.isfinite(many).all()
    np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-4)


def test_batched_tiles_honour_stop(distilled):
    from napari_hdn.foundation.progress import StopToken

    model, image = distilled
    stop = StopToken()
    events = napari_hdn.denoise_events(model, image, tile=32, overlap=16, batch_size=2, stop=stop)
    next(events)  # the "starting" event
    next(events)  # the first batch
    stop.request_stop()
    with pytest.raises(StopIteration) as finished:
        while True:
            next(events)
    assert np.isnan(finished.value.value).any()  # the tiles after the stop were not computed


@pytest.mark.parametrize("batch", [0, 1.5, "8"])
def test_bad_batch(distilled, batch):
    with pytest.raises(InputError, match="batch_size"):
        napari_hdn.denoise(distilled[0], distilled[1], batch_size=batch)


def test_batch_is_the_old_spelling_of_batch_size(distilled):
    model, image = distilled
    with pytest.warns(DeprecationWarning, match="batch= is deprecated: use batch_size="):
        old = napari_hdn.denoise(model, image, tile=32, overlap=16, precision="float32", batch=2)
    new = napari_hdn.denoise(model, image, tile=32, overlap=16, precision="float32", batch_size=2)
    np.testing.assert_array_equal(old, new)
    with pytest.raises(InputError, match="Give batch_size only"):
        napari_hdn.denoise(model, image, batch=2, batch_size=2)


def test_dask_in_dask_out(distilled):
    da = pytest.importorskip("dask.array")
    model, image = distilled
    lazy = napari_hdn.denoise(model, da.from_array(np.stack([image, image]), chunks=(1, 32, 32)))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute()[1], napari_hdn.denoise(model, image), atol=1e-3)


@pytest.mark.parametrize("bad", [np.zeros(5), np.full((16, 16), np.nan), "text"])
def test_bad_input(distilled, bad):
    with pytest.raises(InputError):
        napari_hdn.denoise(distilled[0], bad)


def test_bad_arguments_fail_when_called():
    with pytest.raises(InputError, match="loss"):
        napari_hdn.distill_events(make_model(), make_image(), loss="l3", steps=1)
    with pytest.raises(InputError, match="minutes or steps"):
        napari_hdn.distill_events(make_model(), make_image())
    with pytest.raises(InputError, match="lr_schedule"):
        napari_hdn.distill_events(make_model(), make_image(), lr_schedule="step", steps=1)
    for ema in (1.0, -0.1, True, "0.9"):
        with pytest.raises(InputError, match="ema"):
            napari_hdn.distill_events(make_model(), make_image(), ema=ema, steps=1)
    for name, value in (("width", 0), ("width", 16.5), ("depth", 0), ("depth", True)):
        with pytest.raises(InputError, match=name):
            napari_hdn.distill_events(make_model(), make_image(), steps=1, **{name: value})


def test_cosine_schedule_falls_from_lr_to_nothing():
    from napari_hdn.direct import DirectUNet
    from napari_hdn.direct.distill import _cosine_lr

    optimizer = torch.optim.Adam(DirectUNet(depth=1, width=4).parameters(), lr=1.0)
    seen = []
    for fraction in (0.0, 0.5, 1.0, 1.5):
        _cosine_lr(optimizer, 2e-3, fraction)
        seen.append(optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([2e-3, 1e-3, 0.0, 0.0])


def test_weight_average_mixes_old_and_new_weights():
    from napari_hdn.direct import DirectUNet
    from napari_hdn.direct.distill import _WeightAverage

    network = DirectUNet(depth=1, width=4)
    start = [p.detach().clone() for p in network.parameters()]
    average = _WeightAverage(network, decay=0.9)
    with torch.no_grad():
        for p in network.parameters():
            p.add_(1.0)
    average.update(network, step=1000)  # late in training the decay is the one asked for
    for mine, first in zip(average.network.parameters(), start):
        torch.testing.assert_close(mine, first + 0.1)
    average.update(network, step=0)  # early on, memory is short: (1 + 0) / (10 + 0) = 0.1 of the old
    for mine, first in zip(average.network.parameters(), start):
        torch.testing.assert_close(mine, first + 0.1 * 0.1 + 0.9)


def test_distilling_with_weight_average_returns_the_average():
    model, image = make_model(), make_image((64, 64))
    plain = napari_hdn.train_direct_denoiser(model, image, steps=6, seed=1, ema=None,
                                             **FAST).direct_denoisers["all-on"]
    model = make_model()
    averaged = napari_hdn.train_direct_denoiser(model, image, steps=6, seed=1, ema=0.5,
                                                **FAST).direct_denoisers["all-on"]
    differences = [float((a - b).detach().abs().max()) for a, b in zip(plain.parameters(), averaged.parameters())]
    assert max(differences) > 0  # the average lags the last weights
    assert all(torch.isfinite(p).all() for p in averaged.parameters())


def test_cli_distill_then_predict_direct(tmp_path, capsys):
    make_model().save(tmp_path / "m")
    tifffile.imwrite(tmp_path / "x.tif", make_image((64, 64)))
    assert main(["distill", str(tmp_path / "m"), str(tmp_path / "x.tif"), "--deactivate", "1", "--steps", "2",
                 "--device", "cpu", "--quiet"]) == 0
    assert main(["distill", str(tmp_path / "m"), str(tmp_path / "x.tif"), "--steps", "2", "--device", "cpu",
                 "--width", "16", "--quiet"]) == 0
    assert sorted(load_model(tmp_path / "m").direct_denoisers) == ["all-on", "off-1"]
    assert load_model(tmp_path / "m").direct_denoisers["all-on"].width == 16  # the lighter network, as asked
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "x.tif"), "--out", str(tmp_path / "r"), "--direct",
                 "--deactivate", "1", "--device", "cpu", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["mmse.tif"]
    assert tifffile.imread(tmp_path / "r" / "mmse.tif").shape == (64, 64)
    batched = tmp_path / "batched"
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "x.tif"), "--out", str(batched), "--direct",
                 "--deactivate", "1", "--tile", "32", "--batch-size", "4", "--device", "cpu", "--quiet"]) == 0
    assert tifffile.imread(batched / "mmse.tif").shape == (64, 64)
    refused = tmp_path / "refused"
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "x.tif"), "--out", str(refused), "--direct",
                 "--deactivate", "1", "--batch-size", "0", "--device", "cpu", "--quiet"]) == 2
    assert not refused.exists() and "batch_size must be a whole number" in capsys.readouterr().err


def test_the_dask_path_is_restores_one_thread_per_block(distilled, monkeypatch, tmp_path):
    da = pytest.importorskip("dask.array")
    from napari_hdn.inference import driver

    model, image = distilled
    threads_set = []
    real = driver.configure_threads
    monkeypatch.setattr(driver, "configure_threads", lambda n: (threads_set.append(n), real(n))[1])
    stack = da.from_array(np.stack([image, image[::-1]]), chunks=(1, 32, 32))
    lazy = napari_hdn.denoise(model, stack, deactivate=(), tile=32, overlap=16)
    assert lazy.shape == stack.shape and lazy.dtype == np.float32
    out = lazy.compute(scheduler="threads")
    assert threads_set and set(threads_set) == {1}  # every block runs on one torch thread, as restore's
    for plane, estimate in zip((image, image[::-1]), out):
        np.testing.assert_allclose(estimate, napari_hdn.denoise(model, plane, tile=32, overlap=16), atol=1e-3)
    model.save(tmp_path / "m")  # a saved model travels to the blocks as its path (each worker loads it once)
    from_path = napari_hdn.denoise(tmp_path / "m", stack, tile=32, overlap=16)
    np.testing.assert_allclose(from_path.compute(), out, atol=1e-5)
