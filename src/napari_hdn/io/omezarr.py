"""OME-Zarr in and out, lazily (dask), with the ``ome-zarr`` and ``zarr`` packages.

Reading takes the highest-resolution level of the first image in the store, with
its axes and pixel sizes; writing puts each result (MMSE, variance, ...) as an
image of its own under one OME-Zarr group, block by block, into a temporary
sibling folder that is renamed onto the output only when everything is written.
Needs the optional extra ``napari-hdn[ome-zarr]``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..foundation.errors import FileFormatError, InputError

INSTALL_HINT = "install the OME-Zarr extra: pip install 'napari-hdn[ome-zarr]'"
# The extra axis of a stack of images (samples, latent layers) takes the first of these the input lacks.
EXTRA_AXIS_CANDIDATES = (("c", "channel"), ("t", "time"))
NGFF_ORDER = "tczyx"


@dataclass(frozen=True)
class ImageMetadata:
    """Axes (names, e.g. "zyx"), their types and units, and the pixel size along each."""

    axes: str
    scale: tuple[float, ...]
    units: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def with_leading_axis(self, name: str, kind: str) -> ImageMetadata:
        return ImageMetadata(name + self.axes, (1.0, *self.scale), dict(self.units), {name: kind, **self.types})


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """True for a folder that looks like a Zarr store (v2 or v3 group metadata), or named *.zarr."""
    p = Path(path)
    if p.suffix.lower() == ".zarr" or p.name.lower().endswith(".ome.zarr"):
        return True
    return p.is_dir() and any((p / name).exists() for name in ("zarr.json", ".zattrs", ".zgroup"))


def _import_ome_zarr():
    try:
        import ome_zarr.io
        import ome_zarr.reader
        import ome_zarr.writer
    except ImportError as err:
        raise InputError(f"Reading and writing OME-Zarr needs the ome-zarr package ({err}): {INSTALL_HINT}.") from err
    return ome_zarr


# -- reading ------------------------------------------------------------------------------------------------
def read_ome_zarr(path: str | os.PathLike) -> tuple[Any, ImageMetadata]:
    """The highest-resolution level of the OME-Zarr image at ``path`` as a lazy dask array, with its metadata."""
    ome_zarr = _import_ome_zarr()
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"OME-Zarr {p} does not exist: check the path.")
    if not p.is_dir():
        raise FileFormatError(f"{p} is a file, not an OME-Zarr folder: give the folder (e.g. image.ome.zarr).")
    location = ome_zarr.io.parse_url(str(p), mode="r")
    if location is None or not location.exists():
        raise FileFormatError(f"{p} is not a Zarr store (no zarr.json / .zattrs): give an OME-Zarr image folder.")
    reader = ome_zarr.reader.Reader(location)
    try:
        nodes = list(reader())
    except Exception as err:  # ome-zarr raises assorted errors on malformed metadata
        raise FileFormatError(f"Cannot read the OME-Zarr metadata of {p} ({err}): is it a valid OME-Zarr image?") from err
    images = [n for n in nodes if n.load(ome_zarr.reader.Multiscales) is not None and n.data]
    if not images:
        raise FileFormatError(
            f"{p} holds no OME-Zarr image (no 'multiscales' metadata; a plate, a label-only store or plain Zarr?): "
            "give the path of an image group, e.g. plate/A/1/0 for a well's first field."
        )
    node = images[0]
    level = p / node.load(ome_zarr.reader.Multiscales).datasets[0]
    return _checked_chunks(node.data[0], level), _metadata(node.metadata, node.data[0].ndim, p)


class CheckedChunks:
    """A Zarr array whose unreadable chunks (corrupt compression, truncated files) raise a
    :class:`FileFormatError` naming the chunk, instead of the codec's own error."""

    def __init__(self, array: Any, level: Path):
        self.array, self.level = array, level
        self.shape, self.dtype, self.ndim, self.chunks = array.shape, array.dtype, array.ndim, array.chunks

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.array[key]
        except OSError:  # permissions, a vanished disk: the CLI's one line for operating-system errors
            raise
        except Exception as err:  # codecs raise assorted errors (RuntimeError, ValueError, ...) on bad bytes
            keys = key if isinstance(key, tuple) else (key,)
            index = tuple(k.start // c if isinstance(k, slice) and k.start else 0 for k, c in zip(keys, self.chunks))
            reason = " ".join(str(err).split()) or type(err).__name__
            raise FileFormatError(f"{self.level}: chunk {index} is corrupt or unreadable ({reason}); restore the "
                                  "image from a copy, or write it again.") from err


def _checked_chunks(data: Any, level: Path) -> Any:
    """``data`` (ome-zarr's dask array of ``level``) read through :class:`CheckedChunks`, block for block."""
    import dask.array as da
    import numpy as np
    import zarr
    from dask.base import tokenize

    array = zarr.open_array(str(level), mode="r")
    if tuple(array.shape) != tuple(data.shape):
        return data
    name = "hdn-ome-zarr-" + tokenize(str(level), array.shape, str(array.dtype), data.name)
    return da.from_array(CheckedChunks(array, level), chunks=data.chunks, name=name, asarray=True,
                         meta=np.empty((0,) * array.ndim, dtype=array.dtype))


def _metadata(meta: dict[str, Any], ndim: int, path: Path) -> ImageMetadata:
    axes = meta.get("axes")
    if not axes or len(axes) != ndim:
        raise FileFormatError(
            f"{path}: the OME-Zarr metadata has no axes for the {ndim} dimensions of the image "
            "(an OME-Zarr older than version 0.4?): rewrite it with current tools, e.g. ome-zarr or bioformats2raw."
        )
    names = "".join(str(a["name"]).lower() if isinstance(a, dict) else str(a).lower() for a in axes)
    if len(names) != ndim:
        raise FileFormatError(f"{path}: axis names {axes} are not single letters (t, c, z, y, x).")
    if names[-2:] != "yx":
        raise InputError(
            f"{path}: the image axes are {names!r}; restoration needs the last two axes to be y and x "
            "(an image with spatial axes y, x last). Transpose the image or rewrite it with y, x last."
        )
    scale = [1.0] * ndim
    for transform in (meta.get("coordinateTransformations") or [[]])[0]:
        if transform.get("type") == "scale":
            scale = [float(s) for s in transform["scale"]]
    units = {n: a["unit"] for n, a in zip(names, axes) if isinstance(a, dict) and a.get("unit")}
    types = {n: a["type"] for n, a in zip(names, axes) if isinstance(a, dict) and a.get("type")}
    return ImageMetadata(names, tuple(scale), units, types)


def default_metadata(ndim: int) -> ImageMetadata:
    """Axes for an image without OME metadata (TIFF, .npy): y, x last, then z, c, t; pixel size 1."""
    if not 2 <= ndim <= len(NGFF_ORDER):
        raise InputError(f"OME-Zarr holds images of 2 to 5 dimensions, not {ndim}: restore a plane or a stack.")
    return ImageMetadata(NGFF_ORDER[-ndim:], (1.0,) * ndim)


# -- writing ------------------------------------------------------------------------------------------------
def output_metadata(metadata: ImageMetadata, extra_axis: bool) -> ImageMetadata:
    """The input's metadata, with a leading axis for stacks of images (samples, layers)."""
    if not extra_axis:
        return metadata
    for name, kind in EXTRA_AXIS_CANDIDATES:
        if name not in metadata.axes:
            return metadata.with_leading_axis(name, kind)
    raise InputError(
        f"Cannot store a stack of samples with an input of axes {metadata.axes!r}: OME-Zarr allows one c and "
        "one t axis and both are taken. Use keep_samples=0, or restore one time point at a time."
    )


def _axes_records(metadata: ImageMetadata) -> list[dict[str, str]]:
    default = {"t": "time", "c": "channel"}
    records = []
    for name in metadata.axes:
        record = {"name": name, "type": metadata.types.get(name, default.get(name, "space"))}
        if name in metadata.units:
            record["unit"] = metadata.units[name]
        records.append(record)
    return records


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (only with ``overwrite``)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists: choose another output name or pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():  # overwrite: the old output goes only once the new one is complete
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "out")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_ome_zarr(
    path: str | os.PathLike,
    images: dict[str, tuple[Any, ImageMetadata]],
    overwrite: bool = False,
    multiscale: bool = False,
    compute_kwargs: dict[str, Any] | None = None,
) -> None:
    """Write each ``NAME: (array, metadata)`` of ``images`` (numpy or dask) as an OME-Zarr image ``path/NAME``.

    Dask arrays go to disk block by block, all in one pass (results sharing one graph
    run the network once). ``multiscale`` adds 2x-downsampled levels in y and x.
    """
    import dask
    import dask.array as da
    import numpy as np
    import zarr

    ome_zarr = _import_ome_zarr()
    for name, (data, metadata) in images.items():
        if data.ndim != len(metadata.axes):
            raise InputError(f"{name}: {data.ndim} dimensions but the axes are {metadata.axes!r}.")
    with atomic_folder(path, overwrite=overwrite) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        pending = []
        for name, (data, metadata) in images.items():
            data = da.asarray(data).astype(np.float32) if not isinstance(data, np.ndarray) else data.astype(np.float32)
            if isinstance(data, da.Array):
                data = _regular_chunks(data)
            pending += ome_zarr.writer.write_image(
                data,
                root.create_group(name),
                scale_factors=(2, 4) if multiscale else (),
                axes=_axes_records(metadata),
                coordinate_transformations=None,
                scale=dict(zip(metadata.axes, metadata.scale)),
                axes_units=dict(metadata.units) or None,
                storage_options=_storage(data),
                compute=False,
                name=name,
            )
        dask.compute(*pending, **(compute_kwargs or {}))


def _regular_chunks(data: Any) -> Any:
    """Zarr needs equal chunks (all but the last): rechunk dask's aligned blocks to their largest size."""
    target = tuple(max(c) for c in data.chunks)
    if all(all(c == t for c in cs[:-1]) for cs, t in zip(data.chunks, target)):
        return data
    return data.rechunk(target)


def _storage(data: Any) -> dict[str, Any]:
    chunks = getattr(data, "chunksize", None) or data.shape
    return {"chunks": tuple(int(c) for c in chunks)}
