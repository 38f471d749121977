"""What the Restore widget restores: the plane in view (the default) or the whole stack, and how long it takes.

A stack of 60 planes with 100 samples each takes the better part of an hour on a laptop; the plane in view
takes a minute. So a stack is restored plane by plane unless "Whole stack" is chosen, and before a job
starts the widget says how long it will take, from the speed measured on this model's earlier
restorations and previews (seconds per pixel and sample).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import numpy as np
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..foundation.progress import format_seconds
from ._layout import choice_box

PLANE_IN_VIEW = "Plane in view"
WHOLE_STACK = "Whole stack"


def plane_in_view(viewer: Any, layer: Any, image: Any) -> tuple[int, ...]:
    """The indices, along the leading axes of ``image``, of the plane the viewer shows."""
    if image.ndim <= 2:
        return ()
    point = layer.world_to_data(viewer.dims.point)
    return tuple(int(np.clip(round(float(p)), 0, n - 1)) for p, n in zip(point[: image.ndim - 2], image.shape))


class RestoreTarget(QWidget):
    """"Plane in view" / "Whole stack" (shown for stacks only) and the estimated time of the job."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.choice = choice_box([PLANE_IN_VIEW, WHOLE_STACK], (
            "Plane in view: restores the plane the viewer shows (quick), into a result placed at that plane. "
            "Whole stack: every plane, one after the other (can take long: the estimate below says how long)."))
        self.estimate = QLabel("")
        self.estimate.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.choice)
        layout.addWidget(self.estimate)
        self._speed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> s per pixel and sample
        self._started: dict[str, tuple[Any, float, float]] = {}  # job -> (model, pixels x samples, start)

    def whole_stack(self) -> bool:
        return self.choice.currentText() == WHOLE_STACK

    def part(self, viewer: Any, layer: Any, image: Any) -> tuple[Any, tuple[int, ...]]:
        """The part of ``image`` to restore (the plane in view keeps its axes, of length 1) and its plane."""
        if image.ndim <= 2 or self.whole_stack():
            return image, ()
        lead = plane_in_view(viewer, layer, image)
        return image[tuple(slice(i, i + 1) for i in lead)], lead

    # -- speed and estimate --------------------------------------------------------------------------------------
    def started(self, job: str, model: Any, pixels: float, samples: int) -> None:
        """``job`` restores ``pixels`` x ``samples`` from now on (measured when :meth:`finished` is called)."""
        self._started[job] = (model, float(pixels) * max(samples, 1), time.monotonic())

    def finished(self, job: str) -> None:
        if job not in self._started:
            return
        model, work, start = self._started.pop(job)
        elapsed = time.monotonic() - start
        if work > 0 and elapsed > 0:
            self._speed[model] = elapsed / work

    def seconds(self, model: Any, pixels: float, samples: int) -> float | None:
        speed = self._speed.get(model) if model is not None else None
        return None if speed is None else speed * float(pixels) * max(samples, 1)

    def show_estimate(self, model: Any, shape: tuple[int, ...] | None, samples: int, one_pass: bool) -> None:
        """The estimated time of restoring the part chosen of an image of ``shape`` with ``samples`` samples."""
        if model is None or shape is None or one_pass:
            self.estimate.setText("")
            return
        whole = len(shape) > 2 and self.whole_stack()
        pixels = float(np.prod(shape if whole else shape[-2:]))
        seconds = self.seconds(model, pixels, samples)
        what = "the whole stack" if whole else ("the plane in view" if len(shape) > 2 else "this image")
        if seconds is None:
            self.estimate.setText(f"Time for {what}: known after the first restoration or preview with this "
                                  "model.")
        else:
            self.estimate.setText(f"Estimated time for {what}: about {format_seconds(seconds)}.")
