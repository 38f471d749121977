"""Ctrl-C and SIGTERM during a long CLI command: ask the computation to stop and keep its work.

The first SIGINT (Ctrl-C) or SIGTERM requests a stop through the core's
:class:`~napari_hdn.foundation.progress.StopToken`: training then ends its current step and
saves ``last/`` as it does for the widget's Stop button. A second Ctrl-C aborts at
once (``KeyboardInterrupt``), for when saving itself hangs.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from ..foundation.progress import StopToken


@contextlib.contextmanager
def stop_on_signals(token: StopToken, command: str, what_happens: str) -> Iterator[dict[str, str]]:
    """Within the block, SIGINT/SIGTERM request ``token``'s stop; yields a dict whose ``"signal"`` names the first one.

    ``what_happens`` is printed when the stop is requested (e.g. "saving last/ ...").
    Outside the main thread (no signal handlers possible) it does nothing.
    """
    received: dict[str, str] = {}
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum, frame) -> None:
        name = signal.Signals(signum).name
        if token.stop_requested:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        received["signal"] = name
        token.request_stop()
        print(f"\nhdn {command}: {name} received: {what_happens} (press Ctrl-C again to abort at once)",
              file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
