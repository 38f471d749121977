"""Progress events and stop requests shared by every long computation.

Long work (noise-model fitting, training, restoration) is written once, as a
generator that yields :class:`Progress` events (or subclasses with more fields)
and *returns* its result. The CLI drives it in the foreground with
:func:`drive`, napari runs the same generator in a ``thread_worker`` (its
``returned`` signal carries the result) and scripts may iterate it themselves.

A :class:`StopToken` passed into the generator lets a front end ask it to stop
between two units of work (one training step, one tile); the generator then
returns what it has (a partial model, a cancelled result) instead of raising.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Progress:
    """One progress report.

    ``done`` out of ``total`` units of ``stage`` (``total`` is None when unknown);
    ``message`` is one human-readable line.
    """

    stage: str
    done: float
    total: float | None = None
    message: str = ""
    elapsed_s: float = 0.0
    eta_s: float | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


class StopToken:
    """A thread-safe stop request. ``bool(token)`` is True once stop was requested."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request_stop(self) -> None:
        self._event.set()

    @property
    def stop_requested(self) -> bool:
        return self._event.is_set()

    def __bool__(self) -> bool:
        return self._event.is_set()


@dataclass
class Timer:
    """Elapsed time and a linear time-left estimate for progress events."""

    start: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def eta(self, done: float, total: float | None) -> float | None:
        if not total or done <= 0:
            return None
        return max(self.elapsed * (total - done) / done, 0.0)


def format_seconds(seconds: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` from an hour on), ``--:--`` when unknown: for progress displays."""
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def drive(
    events: Generator[Progress, Any, R],
    on_event: Callable[[Progress], Any] | None = None,
) -> R:
    """Run a progress generator to its end and return its result."""
    while True:
        try:
            event = next(events)
        except StopIteration as finished:
            return finished.value
        if on_event is not None:
            on_event(event)
