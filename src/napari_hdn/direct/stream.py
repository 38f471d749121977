"""Stacks and time-lapses through the direct denoiser one plane at a time: memory stays that of one plane.

:func:`denoise_planes` reads a plane, denoises it (:func:`napari_hdn.direct.denoise_events`, with its
tiles and checks) and hands the estimate on before the next plane is read, so that a writer can put it
on disk at once. Progress is counted in planes; the time left is the remaining planes times the time
the last completed plane took (from the second plane on, no start-up cost is in it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..inference.driver import PlaneProgress
from ..progress import StopToken


class PlaneReader(Sequence):
    """The (Y, X) planes of an image file without reading it whole: a TIFF page by page, .npy memory-mapped.

    ``shape`` is the whole image's; ``len()`` the number of planes (the product of the leading axes).
    """

    def __init__(self, path: str, shape: tuple[int, ...], read: Callable[[int], np.ndarray], close: Callable[[], None]):
        self.path, self.shape, self._read, self.close = path, tuple(shape), read, close

    def __len__(self) -> int:
        return int(np.prod(self.shape[:-2], dtype=np.int64))

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._read(index)

    def __enter__(self) -> PlaneReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_planes(path: str) -> PlaneReader | None:
    """A :class:`PlaneReader` for a stack (3 or more axes) in a TIFF whose pages are its planes, or in a .npy;
    None for anything else (2-D images, TIFFs laid out otherwise, other formats: read those whole)."""
    import tifffile

    suffix = str(path).lower().rsplit(".", 1)[-1]
    if suffix == "npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None  # read_image explains what is wrong with the file
        if array.ndim < 3:
            return None
        planes = array.reshape(-1, *array.shape[-2:])
        return PlaneReader(path, array.shape, lambda i: np.array(planes[i]), lambda: None)
    if suffix not in ("tif", "tiff"):
        return None
    try:
        tif = tifffile.TiffFile(path)
    except Exception:  # read_image explains what is wrong with the file
        return None
    try:
        series = tif.series[0]
        shape, pages = tuple(series.shape), series.pages
        if len(shape) < 3 or len(pages) != int(np.prod(shape[:-2])) or tuple(pages[0].shape) != shape[-2:]:
            tif.close()
            return None
    except Exception:
        tif.close()
        return None
    return PlaneReader(path, shape, lambda i: tif.asarray(key=i, series=0), tif.close)


def denoise_planes(model: Any, planes: Sequence[np.ndarray], deactivate: Collection[int] = (), *,
                   progress: Callable[[PlaneProgress], None] | None = None, stop: StopToken | None = None,
                   **options: Any) -> Iterator[np.ndarray]:
    """The direct denoiser's estimate of each plane of ``planes``, one at a time (float32, (Y, X)).

    ``options``: ``tile``, ``overlap``, ``precision``, ``device``, ``batch`` as for :func:`napari_hdn.denoise`;
    ``progress`` receives events counted in planes (fractions within a plane). A bad plane raises an
    InputError naming it; a stop request ends the iteration after the plane in progress (its rest NaN).
    """
    from .denoise import denoise_events

    n = len(planes)
    start, last = time.perf_counter(), None  # last: seconds the latest completed plane took
    for p in range(n):
        plane_start = time.perf_counter()
        if stop:
            return
        try:
            events = denoise_events(model, planes[p], deactivate, stop=stop, **options)
            while True:
                try:
                    event = next(events)
                except StopIteration as finished:
                    estimate = finished.value
                    break
                if progress is not None and event.total and event.done < event.total:  # "done" follows
                    progress(_event(p + event.done / event.total, n, start, last, f"plane {p + 1}/{n}"))
        except InputError as err:
            raise InputError(f"plane {p + 1} of {n}: {err}") from err
        last = time.perf_counter() - plane_start
        if progress is not None:
            progress(_event(p + 1, n, start, last, f"plane {p + 1}/{n} done"))
        yield np.asarray(estimate, dtype=np.float32)


def _event(done: float, n: int, start: float, last: float | None, message: str) -> PlaneProgress:
    eta = None if last is None else max(n - done, 0.0) * last
    return PlaneProgress("denoise", done, n, message, time.perf_counter() - start, eta,
                         plane=min(int(done) + 1, n), n_planes=n)
