import json

import dask.array as da
import numpy as np
import pytest

pytest.importorskip("ome_zarr")
import zarr  # noqa: E402

from napari_hdn.io.atomic import read_image  # noqa: E402
from napari_hdn.foundation.errors import FileFormatError, InputError  # noqa: E402
from napari_hdn.io.omezarr import ImageMetadata, output_metadata, read_ome_zarr, write_ome_zarr  # noqa: E402

META = ImageMetadata("zyx", (2.0, 0.5, 0.25), {"y": "micrometer", "x": "micrometer"})


def test_round_trip_keeps_data_axes_pixel_sizes_and_units(tmp_path):
    data = da.random.random((3, 70, 50), chunks=(1, 32, 32)).astype(np.float32)
    write_ome_zarr(tmp_path / "r.ome.zarr", {"mmse": (data, META)})
    lazy, meta = read_ome_zarr(tmp_path / "r.ome.zarr" / "mmse")
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), data.compute())
    assert meta.axes == "zyx" and meta.scale == META.scale and meta.units == META.units
    np.testing.assert_array_equal(read_image(tmp_path / "r.ome.zarr" / "mmse"), data.compute())


def test_multiscale_levels_and_highest_resolution_read(tmp_path):
    data = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    write_ome_zarr(tmp_path / "m.ome.zarr", {"img": (data, ImageMetadata("yx", (1.0, 1.0)))}, multiscale=True)
    lazy, _ = read_ome_zarr(tmp_path / "m.ome.zarr" / "img")
    assert lazy.shape == (64, 64)
    assert len(zarr.open_group(str(tmp_path / "m.ome.zarr" / "img"), mode="r").attrs["ome"]["multiscales"][0]["datasets"]) == 3


def test_existing_output_is_refused_and_kept(tmp_path):
    out = tmp_path / "o.ome.zarr"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="already exists.*overwrite=True"):
        write_ome_zarr(out, {"a": (np.zeros((8, 8)), ImageMetadata("yx", (1.0, 1.0)))})
    assert (out / "keep.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["o.ome.zarr"]  # no temporary left behind


def test_failed_write_leaves_nothing(tmp_path):
    bad = da.from_delayed(_boom(), shape=(8, 8), dtype=np.float32)
    with pytest.raises(RuntimeError):
        write_ome_zarr(tmp_path / "f.ome.zarr", {"a": (bad, ImageMetadata("yx", (1.0, 1.0)))})
    assert list(tmp_path.iterdir()) == []


def _boom():
    import dask

    @dask.delayed
    def fail():
        raise RuntimeError("block failed")

    return fail()


def test_plain_zarr_is_not_an_image(tmp_path):
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").create_array("x", shape=(4, 4), dtype="f4")
    with pytest.raises(FileFormatError, match="no OME-Zarr image"):
        read_ome_zarr(tmp_path / "plain.zarr")


def test_missing_path_and_file_instead_of_folder(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        read_ome_zarr(tmp_path / "none.ome.zarr")
    (tmp_path / "f.zarr").write_text("x")
    with pytest.raises(FileFormatError, match="is a file"):
        read_ome_zarr(tmp_path / "f.zarr")


def _rewrite_axes(group_path, axes):
    attrs_file = group_path / "zarr.json"
    meta = json.loads(attrs_file.read_text())
    meta["attributes"]["ome"]["multiscales"][0]["axes"] = axes
    attrs_file.write_text(json.dumps(meta))


def test_wrong_axes_and_missing_axes_are_clear_errors(tmp_path):
    write_ome_zarr(tmp_path / "w.ome.zarr", {"img": (np.zeros((4, 8, 8), np.float32), META)})
    group = tmp_path / "w.ome.zarr" / "img"
    _rewrite_axes(group, [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}, {"name": "z", "type": "space"}])
    with pytest.raises(InputError, match="last two axes to be y and x"):
        read_ome_zarr(group)
    _rewrite_axes(group, [])
    with pytest.raises(FileFormatError):
        read_ome_zarr(group)


def test_samples_axis_goes_in_front_and_full_axes_are_refused():
    assert output_metadata(META, extra_axis=True).axes == "czyx"
    assert output_metadata(ImageMetadata("cyx", (1, 1, 1)), extra_axis=True).axes == "tcyx"
    with pytest.raises(InputError, match="one c and one t"):
        output_metadata(ImageMetadata("tcyx", (1, 1, 1, 1)), extra_axis=True)
