"""File helpers: atomic writes and checked reads. No pickle anywhere."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import FileFormatError, InputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    A crash or an exception leaves any existing file untouched and no partial
    file behind. With ``overwrite=False`` an existing file is an error.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise InputError(f"{path} already exists: choose another name or allow overwriting (--overwrite).")
    if path.is_dir():
        raise InputError(f"{path} is a folder: give a file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise a clear error if it is not a readable file."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"{what} {p} does not exist: check the path.")
    if p.is_dir():
        raise FileFormatError(f"{what} {p} is a folder, not a file.")
    return p


def read_image(path: str | os.PathLike):
    """Read a TIFF, an OME-Zarr image (its full resolution) or .npy (without pickle) as an array; clear errors for the rest."""
    import numpy as np
    import tifffile

    from .omezarr_io import is_ome_zarr, read_ome_zarr

    if is_ome_zarr(path):
        return np.asarray(read_ome_zarr(path)[0])
    p = existing_file(path, "Image")
    suffix = p.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            return tifffile.imread(p)
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
    except Exception as err:  # tifffile raises many kinds of errors on corrupt files
        raise FileFormatError(f"Cannot read {p} as an image ({err}). Is it a valid TIFF?") from err
    raise FileFormatError(f"{p}: unsupported image format {suffix!r}; use .tif/.tiff, .npy or an OME-Zarr folder.")
