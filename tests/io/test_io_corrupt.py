"""Corrupt files: one clear error, no advice to unpickle, no stray log lines (issue 13, items 10, 14)."""

import os

import numpy as np
import pytest
import tifffile

from napari_hdn.io.atomic import read_image
from napari_hdn.foundation.errors import FileFormatError
from napari_hdn.noise_models.files import load_noise_model


@pytest.mark.parametrize("name", ["random.npz", "random.npy"])
def test_random_bytes_never_suggest_unpickling(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(os.urandom(500))
    with pytest.raises(FileFormatError) as info:
        (load_noise_model if name.endswith("npz") else read_image)(path)
    assert "pickle" not in str(info.value) and "not a NumPy file" in str(info.value)


def test_a_truncated_tiff_gives_the_error_and_no_log_line(tmp_path, capfd):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.zeros((5, 64, 64), np.uint16))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FileFormatError, match="valid TIFF"):
        read_image(path)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
