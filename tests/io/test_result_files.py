"""Saving result images: TIFF with the pixel size, OME-Zarr, names, and never replacing files unasked."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from napari_hdn.io.atomic import current_umask
from napari_hdn.foundation.errors import InputError
from napari_hdn.io.result_files import ResultImage, file_name, result_paths, save_results


def _image(name="nuclei HDN MMSE (z1 off)", shape=(3, 16, 20), scale=(2.0, 0.5, 0.25), **kwargs):
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    return ResultImage(name, data, scale, **kwargs)


def test_tiff_keeps_pixels_pixel_size_unit_and_z_spacing(tmp_path):
    image = _image(unit="micrometer")
    (path,) = save_results([image], tmp_path)
    assert path == tmp_path / "nuclei HDN MMSE (z1 off).tif"
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.asarray(), image.data)
        page = tif.pages.first
        x_res, y_res = page.resolution
        assert (x_res, y_res) == pytest.approx((1 / 0.25, 1 / 0.5))  # pixels per unit, as ImageJ reads them
        assert tif.imagej_metadata["unit"] == "micron" and tif.imagej_metadata["spacing"] == pytest.approx(2.0)
        assert tif.series[0].axes == "ZYX"
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~current_umask()  # a normal file's mode, not a temporary's
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_samples_are_a_leading_axis_and_pixels_without_unit(tmp_path):
    samples = _image("x HDN samples", shape=(4, 16, 20), scale=(1.0, 1.0, 1.0), stacked=True)
    (path,) = save_results([samples], tmp_path)
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "TYX" and "unit" not in tif.imagej_metadata
        assert tif.asarray().shape == (4, 16, 20)


def test_existing_files_are_never_replaced_unasked_and_nothing_is_written(tmp_path):
    first, second = _image("a"), _image("b")
    (tmp_path / "b.tif").write_bytes(b"keep me")
    with pytest.raises(InputError, match="b.tif already exist"):
        save_results([first, second], tmp_path)
    assert not (tmp_path / "a.tif").exists() and (tmp_path / "b.tif").read_bytes() == b"keep me"
    save_results([first, second], tmp_path, overwrite=True)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "b.tif"), second.data)


def test_names_and_bad_input_give_clear_errors(tmp_path):
    assert file_name("a/b: c?", "tiff") == "a_b_ c_.tif"
    assert file_name("x HDN MMSE", "ome-zarr") == "x HDN MMSE.ome.zarr"
    with pytest.raises(InputError, match="same file name"):
        result_paths(["a/b", "a:b"], tmp_path, "tiff")
    with pytest.raises(InputError, match="Unknown format"):
        file_name("a", "png")
    with pytest.raises(InputError, match="No result chosen"):
        save_results([], tmp_path)
    with pytest.raises(InputError, match="pixel sizes for 3 axes"):
        ResultImage("a", np.zeros((2, 4, 4)), (1.0, 1.0))
    with pytest.raises(InputError, match="positive"):
        ResultImage("a", np.zeros((4, 4)), (0.0, 1.0))


def test_ome_zarr_keeps_pixel_size_and_unit(tmp_path):
    pytest.importorskip("ome_zarr")
    from napari_hdn.io.omezarr import read_ome_zarr

    image = _image("x HDN MMSE", unit="micrometer")
    (path,) = save_results([image], tmp_path, "ome-zarr")
    assert path == tmp_path / "x HDN MMSE.ome.zarr"
    data, meta = read_ome_zarr(path / "x_HDN_MMSE")
    np.testing.assert_array_equal(np.asarray(data), image.data)
    assert meta.axes == "zyx" and meta.scale == (2.0, 0.5, 0.25) and meta.units["x"] == "micrometer"
    with pytest.raises(InputError, match="already exist"):
        save_results([image], tmp_path, "ome-zarr")
