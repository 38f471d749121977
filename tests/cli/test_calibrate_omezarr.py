"""hdn calibrate (and, through the same read_image, hdn train) reads an OME-Zarr image folder."""

import numpy as np
import pytest

pytest.importorskip("ome_zarr")

from napari_hdn.cli import main  # noqa: E402
from napari_hdn.io.omezarr import ImageMetadata, write_ome_zarr  # noqa: E402


def test_calibrate_from_ome_zarr_finds_the_gain(tmp_path):
    rng = np.random.default_rng(0)
    clean = rng.uniform(50, 300, (32, 32))
    gain = 2.0
    calib = (gain * rng.poisson(np.broadcast_to(clean, (20, 32, 32)))).astype(np.float32)
    write_ome_zarr(tmp_path / "c.ome.zarr", {"raw": (calib, ImageMetadata("zyx", (1.0, 1.0, 1.0)))})
    out = tmp_path / "nm.npz"
    assert main(["calibrate", str(tmp_path / "c.ome.zarr" / "raw"), "--out", str(out), "--kind", "poisson_gaussian"]) == 0
    from napari_hdn.noise_models import load_noise_model

    assert load_noise_model(out).gain == pytest.approx(gain, rel=0.1)
