"""Stacks and time-lapses through the direct denoiser one plane at a time: memory stays that of one plane.

:func:`denoise_planes` reads a plane, denoises it (:func:`napari_hdn.direct.denoise_events`, with its
tiles and checks) and hands the estimate on before the next plane is read, so that a writer can put it
on disk at once. Progress is counted in planes; the time left is the remaining planes times the time
the last completed plane took: known while the second plane runs, and free of the first plane's start-up
costs once the second is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import numpy as np

from ..foundation.errors import InputError
from ..foundation.progress import StopToken
from ..inference.driver import PlaneProgress


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


class PlaneRun:
    """Denoises plane ``p`` of ``planes`` when called with ``p`` (in any order: dask picks its own), reporting
    progress in planes completed."""

    def __init__(self, model: Any, planes: Sequence[np.ndarray], deactivate: Collection[int] = (), *,
                 progress: Callable[[PlaneProgress], None] | None = None, stop: StopToken | None = None,
                 **options: Any):
        self.model, self.planes, self.deactivate, self.options = model, planes, deactivate, options
        self.progress, self.stop = progress, stop
        self.n, self.completed, self.last = len(planes), 0, None  # last: seconds the latest plane took
        self.start = time.perf_counter()

    def __call__(self, p: int) -> np.ndarray:
        from .denoise import denoise_events

        plane_start = time.perf_counter()
        try:
            events = denoise_events(self.model, self.planes[p], self.deactivate, stop=self.stop, **self.options)
            while True:
                try:
                    event = next(events)
                except StopIteration as finished:
                    estimate = finished.value
                    break
                if event.total and event.done < event.total:  # the plane's own "done" follows
                    self._report(self.completed + event.done / event.total,
                                 f"plane {p + 1} of {self.n} ({self.completed} done)")
        except InputError as err:
            raise InputError(f"plane {p + 1} of {self.n}: {err}") from err
        self.last = time.perf_counter() - plane_start
        self.completed += 1
        self._report(self.completed, f"{self.completed}/{self.n} planes done")
        return np.asarray(estimate, dtype=np.float32)

    def _report(self, done: float, message: str) -> None:
        if self.progress is None:
            return
        eta = None if self.last is None else max(self.n - done, 0.0) * self.last
        self.progress(PlaneProgress("denoise", done, self.n, message, time.perf_counter() - self.start, eta,
                                    plane=min(int(done) + 1, self.n), n_planes=self.n))


def denoise_planes(model: Any, planes: Sequence[np.ndarray], deactivate: Collection[int] = (), *,
                   progress: Callable[[PlaneProgress], None] | None = None, stop: StopToken | None = None,
                   **options: Any) -> Iterator[np.ndarray]:
    """The direct denoiser's estimate of each plane of ``planes``, one at a time (float32, (Y, X)).

    ``options``: ``tile``, ``overlap``, ``precision``, ``device``, ``batch_size`` as for :func:`napari_hdn.denoise`;
    ``progress`` receives events counted in planes (fractions within a plane). A bad plane raises an
    InputError naming it; a stop request ends the iteration after the plane in progress (its rest NaN).
    """
    run = PlaneRun(model, planes, deactivate, progress=progress, stop=stop, **options)
    for p in range(run.n):
        if stop:
            return
        yield run(p)


def lazy_stack(model: Any, image: Any, deactivate: Collection[int] = (), *,
               progress: Callable[[PlaneProgress], None] | None = None, **options: Any) -> Any:
    """The estimate of a dask stack (..., Y, X) as a dask array of one task per plane (chunks of one plane).

    Computed with dask's synchronous scheduler (``scheduler="synchronous"``), one plane is read,
    denoised and written at a time, and ``progress`` counts planes.
    """
    import dask
    import dask.array as da

    lead, plane_shape = tuple(image.shape[:-2]), tuple(image.shape[-2:])

    def read(p: int) -> np.ndarray:
        return np.asarray(image[np.unravel_index(p, lead)].compute())

    planes = PlaneReader("dask", image.shape, read, lambda: None)
    run = PlaneRun(model, planes, deactivate, progress=progress, **options)
    tasks = [da.from_delayed(dask.delayed(run, pure=False)(p), plane_shape, np.float32) for p in range(len(planes))]
    return da.stack(tasks).reshape(*lead, *plane_shape)
