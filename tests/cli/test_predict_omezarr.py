"""hdn predict with OME-Zarr in and out, and on a dask distributed cluster of worker processes."""

import numpy as np
import pytest
import tifffile

pytest.importorskip("ome_zarr")

from factories import tiny_model

from napari_hdn.cli import main  # noqa: E402
from napari_hdn.io.omezarr import ImageMetadata, read_ome_zarr, write_ome_zarr  # noqa: E402

META = ImageMetadata("zyx", (1.5, 0.2, 0.25), {"x": "micrometer", "y": "micrometer"})
COMMON = ["--samples", "3", "--keep-samples", "2", "--device", "cpu", "--precision", "float32", "--quiet"]


@pytest.fixture
def noisy(tmp_path):
    data = np.random.default_rng(0).normal(100, 20, (2, 40, 48)).astype(np.float32)
    import dask.array as da

    write_ome_zarr(tmp_path / "in.ome.zarr", {"raw": (da.from_array(data, chunks=(1, 24, 24)), META)})
    return tmp_path / "in.ome.zarr" / "raw", data


def test_ome_zarr_in_and_out_keeps_axes_pixel_sizes_and_matches_tiff_path(model_dir, noisy, tmp_path):
    path, data = noisy
    out = tmp_path / "out.ome.zarr"
    assert main(["predict", str(model_dir), str(path), "--out", str(out), *COMMON]) == 0
    mmse, meta = read_ome_zarr(out / "mmse")
    assert meta.axes == "zyx" and meta.scale == META.scale and meta.units == META.units
    samples, sample_meta = read_ome_zarr(out / "samples")
    assert sample_meta.axes == "czyx" and samples.shape == (2, *data.shape)
    variance, _ = read_ome_zarr(out / "variance")
    assert np.isfinite(mmse.compute()).all() and (variance.compute() >= 0).all()
    tifffile.imwrite(tmp_path / "in.tif", data)
    assert main(["predict", str(model_dir), str(path), "--out", str(tmp_path / "tifs"), *COMMON]) == 0
    np.testing.assert_allclose(tifffile.imread(tmp_path / "tifs" / "mmse.tif"), mmse.compute(), atol=1e-4)


def test_existing_output_is_refused_and_untouched(model_dir, noisy, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["predict", str(model_dir), str(noisy[0]), "--out", str(out), *COMMON]) != 0
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert main(["predict", str(model_dir), str(noisy[0]), "--out", str(out), "--overwrite", *COMMON]) == 0
    assert not (out / "mine.txt").exists() and (out / "mmse").is_dir()


def test_unreachable_scheduler_is_a_clear_error(model_dir, noisy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HDN_SCHEDULER", "tcp://127.0.0.1:9")
    assert main(["predict", str(model_dir), str(noisy[0]), "--out", str(tmp_path / "o.ome.zarr"), *COMMON]) != 0
    assert "Cannot reach the dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "o.ome.zarr").exists()


@pytest.mark.slow
def test_cluster_of_worker_processes_gives_the_local_result(model_dir, noisy, tmp_path):
    distributed = pytest.importorskip("distributed")
    path, _ = noisy
    local = tmp_path / "local.ome.zarr"
    assert main(["predict", str(model_dir), str(path), "--out", str(local), *COMMON]) == 0
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        remote = tmp_path / "remote.ome.zarr"
        assert main(["predict", str(model_dir), str(path), "--out", str(remote), "--scheduler", cluster.scheduler_address, *COMMON]) == 0
        with distributed.Client(cluster) as client:
            # The model went by path: each worker process loaded it (cached), no weights in the graph.
            loaded = client.run(_loaded_models)
    assert len(loaded) == 2 and sum(loaded.values()) >= 1
    for name in ("mmse", "variance", "samples"):
        np.testing.assert_allclose(
            read_ome_zarr(remote / name)[0].compute(), read_ome_zarr(local / name)[0].compute(), atol=1e-5
        )


def _loaded_models():
    from napari_hdn.inference.driver import _load_cached

    return _load_cached.cache_info().currsize


def test_direct_denoiser_writes_one_pass_mmse_as_ome_zarr(tmp_path, noisy):
    from napari_hdn import denoise
    from napari_hdn.direct import DirectUNet
    from napari_hdn.model import load_model

    model = tiny_model()
    model.direct_denoisers = {"all-on": DirectUNet(1, 4).eval()}
    model_dir = model.save(tmp_path / "with-direct")
    path, data = noisy
    out = tmp_path / "direct.ome.zarr"
    assert main(["predict", str(model_dir), str(path), "--out", str(out), "--direct", "--device", "cpu",
                 "--precision", "float32", "--quiet"]) == 0
    mmse, meta = read_ome_zarr(out / "mmse")
    assert meta.axes == "zyx" and sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) != []
    expected = denoise(load_model(model_dir, device="cpu"), data, precision="float32")
    np.testing.assert_allclose(mmse.compute(), expected, atol=1e-3)
    assert main(["predict", str(model_dir), str(path), "--out", str(tmp_path / "x"), "--direct", "--quiet"]) == 2
