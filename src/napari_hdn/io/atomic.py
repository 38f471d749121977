"""File helpers: atomic writes and checked reads. No pickle anywhere."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..foundation.errors import FileFormatError, InputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    A crash or an exception leaves any existing file untouched and no partial
    file behind. With ``overwrite=False`` an existing file is an error.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise InputError(f"{path} already exists: choose another name or allow overwriting (overwrite=True).")
    if path.is_dir():
        raise InputError(f"{path} is a folder: give a file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes it private (0600); the result gets a normal file's mode
            os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temporary_folder(parent: Path, name: str) -> Path:
    """A fresh hidden folder in ``parent`` for building ``name`` atomically, with a normal folder's mode.

    ``tempfile.mkdtemp`` makes it private (0700), which a rename into place would keep.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent))
    os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


def give_normal_modes(folder: Path) -> None:
    """Give the files in ``folder`` a normal file's mode (some writers, e.g. safetensors, make them private)."""
    file_mode = 0o666 & ~current_umask()
    for child in folder.iterdir():
        if child.is_file():
            os.chmod(child, file_mode)


def replace_folder(new: Path, target: Path) -> None:
    """Move the finished folder ``new`` onto ``target``, never leaving a half-written ``target``.

    An old ``target`` is swapped with ``new`` in one atomic step where the system can (Linux), so
    ``target`` always holds the old or the new folder. Elsewhere (a folder cannot be renamed over a
    non-empty one) the old ``target`` is first renamed aside; a crash in between leaves that aside copy,
    which :func:`napari_hdn.model.load_model` does not need (``best``/``last`` fall back to each other).
    """
    if not target.exists():
        os.replace(new, target)
        return
    if _exchange(new, target):  # one atomic swap: ``target`` is the old or the new folder, never missing
        shutil.rmtree(new, ignore_errors=True)  # now the old folder
        return
    aside = target.with_name(f".{target.name}.old-{os.getpid()}")
    if aside.exists():
        shutil.rmtree(aside)
    os.replace(target, aside)
    os.replace(new, target)
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without renameat2
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    return done  # False (e.g. a file system without the flag): the caller falls back to renaming aside


def check_writable_folder(folder: str | os.PathLike, what: str = "output folder") -> None:
    """Raise a clear :class:`InputError` now if nothing can be written into ``folder``.

    Long computations call this before they start, so a read-only or full target fails in
    seconds instead of after an epoch of work. A folder that does not exist yet is not
    created: its nearest existing parent is probed instead.
    """
    folder = Path(folder)
    probe_in = folder
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".hdn-write-test.", dir=probe_in)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise InputError(
            f"Cannot write into the {what} {folder} ({err.strerror or err}): choose a folder you can write to, "
            "with free space."
        ) from err


def write_file(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to the disk; a full disk raises OSError (ENOSPC) here."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


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


@contextlib.contextmanager
def quiet_tifffile() -> Iterator[None]:
    """Silence tifffile's log lines about corrupt files: the error raised says it once, clearly."""
    import logging

    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_error_reason(err: Exception) -> str:
    """Why numpy/tifffile could not read a file, without numpy's advice to unpickle untrusted data."""
    text = str(err)
    if "pickle" in text:  # numpy says so for any file it does not recognise: never suggest unpickling
        return "not a NumPy file: its content is not recognised (corrupt, or another format)"
    return text


def read_image(path: str | os.PathLike):
    """Read a TIFF, an OME-Zarr image (its full resolution) or .npy (without pickle) as an array; clear errors for the rest."""
    import numpy as np
    import tifffile

    from .omezarr import is_ome_zarr, read_ome_zarr

    if is_ome_zarr(path):
        return np.asarray(read_ome_zarr(path)[0])
    p = existing_file(path, "Image")
    suffix = p.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            with quiet_tifffile():
                return tifffile.imread(p)
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
    except Exception as err:  # tifffile raises many kinds of errors on corrupt files
        kind = "TIFF" if suffix in (".tif", ".tiff") else "NumPy .npy file"
        raise FileFormatError(f"Cannot read {p} as an image ({load_error_reason(err)}). Is it a valid {kind}?") from err
    raise FileFormatError(f"{p}: unsupported image format {suffix!r}; use .tif/.tiff, .npy or an OME-Zarr folder.")
