"""A corrupt OME-Zarr chunk is a one-line FileFormatError naming the chunk, wherever it is read (issue 29)."""

from pathlib import Path

import dask.array as da
import numpy as np
import pytest

pytest.importorskip("ome_zarr")

from factories import tiny_model  # noqa: E402

from napari_hdn.io.atomic import read_image  # noqa: E402
from napari_hdn.cli import main  # noqa: E402
from napari_hdn.foundation.errors import FileFormatError  # noqa: E402
from napari_hdn.io.omezarr import ImageMetadata, read_ome_zarr, write_ome_zarr  # noqa: E402


def _chunk_files(image: Path) -> list[Path]:
    metadata = ("zarr.json", ".zarray", ".zattrs", ".zgroup")
    return sorted(p for p in image.rglob("*") if p.is_file() and p.name not in metadata)


@pytest.fixture
def corrupt(tmp_path) -> tuple[Path, Path]:
    """An OME-Zarr image (2 x 40 x 48, chunks 1 x 24 x 24) with one chunk overwritten by garbage."""
    data = np.random.default_rng(0).normal(100, 20, (2, 40, 48)).astype(np.float32)
    write_ome_zarr(tmp_path / "in.ome.zarr", {"raw": (da.from_array(data, chunks=(1, 24, 24)), ImageMetadata(
        "zyx", (1.0, 1.0, 1.0)))})
    image = tmp_path / "in.ome.zarr" / "raw"
    chunk = _chunk_files(image)[-1]
    chunk.write_bytes(b"\x28\xb5\x2f\xfd garbage, not a compressed chunk" * 3)
    return image, chunk


def _names_the_chunk(message: str, chunk: Path) -> bool:
    """The message names the chunk's grid position (the last one: z, y, x = 1, 1, 1) and its image."""
    return "corrupt" in message and "chunk (1, 1, 1)" in message and str(chunk.parents[3]) in message


def test_reading_a_corrupt_chunk_names_it(corrupt):
    image, chunk = corrupt
    lazy, _ = read_ome_zarr(image)
    with pytest.raises(FileFormatError) as error:
        lazy.compute()
    assert _names_the_chunk(str(error.value), chunk), str(error.value)
    with pytest.raises(FileFormatError, match=r"chunk \(1, 1, 1\)"):
        read_image(image)


def test_hdn_predict_on_a_corrupt_chunk_says_so_in_one_line(corrupt, tmp_path, capsys):
    image, chunk = corrupt
    model = tiny_model().save(tmp_path / "model")
    out = tmp_path / "out.ome.zarr"
    argv = ["predict", str(model), str(image), "--out", str(out), "--samples", "2", "--device", "cpu", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and _names_the_chunk(err, chunk), err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
