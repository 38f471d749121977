import numpy as np
import pytest
import tifffile

from napari_hdn._io import atomic_path, atomic_write_text, read_image
from napari_hdn.errors import FileFormatError, InputError


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temporary file left


def test_atomic_write_refuses_to_overwrite_when_asked(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "keep me")
    with pytest.raises(InputError, match="already exists"):
        atomic_write_text(target, "new", overwrite=False)
    assert target.read_text() == "keep me"


def test_read_image_tiff_and_npy(tmp_path):
    data = np.arange(12, dtype=np.uint16).reshape(3, 4)
    tifffile.imwrite(tmp_path / "a.tif", data)
    np.save(tmp_path / "a.npy", data)
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), data)
    np.testing.assert_array_equal(read_image(tmp_path / "a.npy"), data)


@pytest.mark.parametrize("name, content", [("bad.tif", b"not a tiff"), ("x.png", b"\x89PNG")])
def test_read_image_rejects_corrupt_and_unknown_files(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FileFormatError):
        read_image(tmp_path / name)


def test_read_image_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        read_image(tmp_path / "nope.tif")


def test_npy_with_objects_is_not_unpickled(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError):
        read_image(tmp_path / "obj.npy")
