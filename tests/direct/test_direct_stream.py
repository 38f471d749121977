"""Stacks through the direct denoiser one plane at a time (direct/stream.py, hdn predict --direct on a stack):
the same result as the whole stack, planes read lazily, progress in planes, bad planes named, nothing
written on failure."""

import numpy as np
import pytest
import tifffile
import torch
from factories import tiny_model

import napari_hdn
from napari_hdn.cli import main
from napari_hdn.direct import DirectUNet
from napari_hdn.direct.stream import denoise_planes, open_planes
from napari_hdn.foundation.errors import InputError
from napari_hdn.foundation.progress import StopToken


def model_with_denoiser():
    torch.manual_seed(0)
    model = tiny_model(data_mean=120.0, data_std=25.0, data_range=(60.0, 180.0))
    net = DirectUNet(depth=1, width=4).eval()
    with torch.no_grad():
        net.out.weight.normal_(0.0, 0.1)  # not the identity
    model.direct_denoisers = {"all-on": net}
    return model


def stack(n=4, shape=(48, 40)):
    return np.random.default_rng(0).normal(120, 25, (n, *shape)).astype(np.float32)


class CountingPlanes:
    """A sequence of planes that records which were read."""

    def __init__(self, data):
        self.data, self.read = data, []

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.read.append(i)
        return self.data[i]


def test_planes_are_read_one_at_a_time_and_match_the_whole_stack():
    model, data = model_with_denoiser(), stack()
    planes = CountingPlanes(data)
    estimates = denoise_planes(model, planes, precision="float32")
    first = next(estimates)
    assert planes.read == [0]  # nothing read ahead
    rest = list(estimates)
    assert planes.read == [0, 1, 2, 3]
    whole = napari_hdn.denoise(model, data, precision="float32")
    np.testing.assert_allclose(np.stack([first, *rest]), whole, rtol=1e-6, atol=1e-4)


def test_progress_counts_planes_and_knows_the_time_left_from_the_second_plane():
    events = []
    list(denoise_planes(model_with_denoiser(), stack(3), progress=events.append))
    assert {e.total for e in events} == {3} and events[-1].done == 3
    assert [e.done for e in events] == sorted(e.done for e in events)
    before_first = [e for e in events if e.done < 1]
    after_first = [e for e in events if e.done >= 1]
    assert all(e.eta_s is None for e in before_first)
    assert all(e.eta_s is not None and e.eta_s >= 0 for e in after_first) and events[-1].eta_s == 0
    assert events[-1].plane == 3 and events[-1].n_planes == 3


def test_a_bad_plane_is_named():
    data = stack()
    data[2, 5, 5] = np.nan
    with pytest.raises(InputError, match="plane 3 of 4"):
        list(denoise_planes(model_with_denoiser(), data))


def test_stop_ends_after_the_plane_in_progress():
    stop = StopToken()
    got = []
    for estimate in denoise_planes(model_with_denoiser(), stack(), stop=stop):
        got.append(estimate)
        stop.request_stop()
    assert len(got) == 1


def test_open_planes_reads_stacks_page_by_page_and_leaves_the_rest(tmp_path):
    data = stack(3)
    tifffile.imwrite(tmp_path / "s.tif", data, imagej=True, metadata={"axes": "TYX"})
    with open_planes(str(tmp_path / "s.tif")) as reader:
        assert reader.shape == (3, 48, 40) and len(reader) == 3
        np.testing.assert_array_equal(reader[2], data[2])
        with pytest.raises(IndexError):
            reader[3]
    np.save(tmp_path / "s.npy", data.reshape(1, 3, 48, 40))
    reader = open_planes(str(tmp_path / "s.npy"))
    assert len(reader) == 3 and np.array_equal(reader[1], data[1])
    tifffile.imwrite(tmp_path / "plane.tif", data[0])
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((3, 16, 16, 3), np.uint8), photometric="rgb")
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    for name in ("plane.tif", "rgb.tif", "broken.tif", "s.png"):
        assert open_planes(str(tmp_path / name)) is None  # read whole (and explained) as before


def predict(tmp_path, name, *extra):
    return main(["predict", str(tmp_path / "m"), str(tmp_path / name), "--out", str(tmp_path / "out"), "--direct",
                 "--device", "cpu", "--precision", "float32", "--quiet", *extra])


def test_cli_streams_a_time_lapse_tiff_keeping_its_axes(tmp_path):
    model, data = model_with_denoiser(), stack()
    model.save(tmp_path / "m")
    tifffile.imwrite(tmp_path / "t.tif", data, imagej=True, metadata={"axes": "TYX"})
    assert predict(tmp_path, "t.tif") == 0
    with tifffile.TiffFile(tmp_path / "out" / "mmse.tif") as tif:
        assert tif.series[0].axes == "TYX"
        out = tif.asarray()
    expected = napari_hdn.denoise(napari_hdn.load_model(tmp_path / "m", device="cpu"), data, precision="float32")
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-4)


def test_cli_on_a_stack_with_a_bad_plane_exits_2_and_writes_nothing(tmp_path, capsys):
    model, data = model_with_denoiser(), stack()
    model.save(tmp_path / "m")
    data[3] = np.inf
    np.save(tmp_path / "z.npy", data)
    assert predict(tmp_path, "z.npy") == 2
    assert "plane 4 of 4" in capsys.readouterr().err
    assert not (tmp_path / "out" / "mmse.tif").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # no temporary file left


def test_cli_streamed_stack_with_deactivate_auto_uses_the_recorded_layers(tmp_path):
    import json

    from napari_hdn.inference import DeactivationSuggestion

    model, data = model_with_denoiser(), stack(3)
    found = DeactivationSuggestion((1,), (), (), (0, 0, 48, 40), 0.05, "correlation", True)
    model.noise_layers = {"layers": [1], "suggestion": found.to_metadata()}
    model.direct_denoisers = {"off-1": model.direct_denoisers["all-on"]}
    model.save(tmp_path / "m")
    tifffile.imwrite(tmp_path / "z.tif", data, imagej=True, metadata={"axes": "ZYX"})
    assert predict(tmp_path, "z.tif", "--deactivate", "auto") == 0
    assert json.loads((tmp_path / "out" / "deactivation.json").read_text())["deactivated_layers"] == [1]
    with tifffile.TiffFile(tmp_path / "out" / "mmse.tif") as tif:
        assert tif.series[0].axes == "ZYX" and tif.series[0].shape == (3, 48, 40)


def test_cli_streams_an_ome_zarr_stack_plane_by_plane(tmp_path, capsys):
    pytest.importorskip("ome_zarr")
    import dask.array as da

    from napari_hdn.io.omezarr import ImageMetadata, read_ome_zarr, write_ome_zarr

    model, data = model_with_denoiser(), stack(3)
    model.save(tmp_path / "m")
    write_ome_zarr(tmp_path / "in.ome.zarr", {"raw": (da.from_array(data, chunks=(1, 16, 16)),
                                                       ImageMetadata("tyx", (1.0, 1.0, 1.0), {}))})
    out = tmp_path / "out.ome.zarr"
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "in.ome.zarr" / "raw"), "--out", str(out),
                 "--direct", "--device", "cpu", "--precision", "float32"]) == 0
    assert "3/3 planes done" in capsys.readouterr().err  # progress in planes
    got = np.asarray(read_ome_zarr(out / "mmse")[0])
    expected = napari_hdn.denoise(napari_hdn.load_model(tmp_path / "m", device="cpu"), data, precision="float32")
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)
