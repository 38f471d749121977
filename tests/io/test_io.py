import numpy as np
import pytest
import tifffile

from napari_hdn.io.atomic import atomic_path, atomic_write_text, read_image
from napari_hdn.foundation.errors import FileFormatError, InputError


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


@pytest.mark.parametrize("exchange", [True, False])
def test_replace_folder_swaps_in_the_new_folder_and_leaves_nothing_behind(tmp_path, monkeypatch, exchange):
    from napari_hdn.io import atomic as _io

    target, new = tmp_path / "last", tmp_path / ".last.tmp"
    for folder, text in ((target, "old"), (new, "new")):
        folder.mkdir()
        (folder / "model.json").write_text(text)
    swaps = []
    real = _io._exchange
    monkeypatch.setattr(_io, "_exchange", lambda a, b: swaps.append(1) or (exchange and real(a, b)))
    _io.replace_folder(new, target)
    assert (target / "model.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["last"] and swaps == [1]


def test_replace_folder_is_one_atomic_exchange_on_linux(tmp_path, monkeypatch):
    import sys

    from napari_hdn.io import atomic as _io

    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux's")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    assert _io._exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "a" and not (tmp_path / "a" / "x").exists()
    monkeypatch.setattr(_io.os, "replace", lambda *a: pytest.fail("renamed aside instead of swapping"))
    _io.replace_folder(tmp_path / "a", tmp_path / "b")
    assert not (tmp_path / "b" / "x").exists() and not (tmp_path / "a").exists()
