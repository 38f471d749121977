"""A dependency-free text progress bar for the CLI (stderr, redrawn in place on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..foundation.progress import Progress, format_seconds
from .cli_words import cli_message


class ProgressBar:
    """Callable for :func:`napari_hdn.foundation.progress.drive`: draws one line per event, throttled."""

    def __init__(self, stream: TextIO | None = None, width: int = 28, min_interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.width = width
        self.min_interval = min_interval
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._open_line = False

    def __call__(self, event: Progress) -> None:
        now = time.monotonic()
        final = event.total is not None and event.done >= event.total
        if not final and now - self._last < self.min_interval:
            return
        if not self._tty and not final and now - self._last < 5.0:
            return  # logs (CI, cluster jobs) get a line every few seconds, not a flood
        self._last = now
        frac = event.fraction
        if frac is None:
            bar = f"{event.done:g}"
        else:
            filled = int(round(frac * self.width))
            bar = "[" + "#" * filled + "." * (self.width - filled) + f"] {100 * frac:5.1f}%"
        line = f"{event.stage}: {bar} {format_seconds(event.elapsed_s)}<{format_seconds(event.eta_s)} {cli_message(event.message)}"
        if self._tty:
            self.stream.write("\r\033[K" + line)
            self._open_line = True
            if final:
                self.stream.write("\n")
                self._open_line = False
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
