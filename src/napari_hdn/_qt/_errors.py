"""Reporting errors: napari notifications and the log, and running a quick action with its error shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error

from ..errors import HDNError

if TYPE_CHECKING:
    from ._task import TaskPanel


log = logging.getLogger("napari_hdn")

def report_error(err: BaseException, doing: str) -> str:
    """Show ``err`` as a napari error notification and return the message shown.

    Expected errors (:class:`HDNError`) already say what went wrong and what to
    do; anything else is a bug, whose traceback goes to the log.
    """
    if isinstance(err, HDNError):
        message = str(err)
    elif isinstance(err, OSError):  # permissions, a full disk, a missing file: the user's to fix, not a bug
        where = f" ({err.filename})" if err.filename else ""
        message = (f"{doing} failed: {err.strerror or err}{where}. Check that the file or folder exists and "
                   "that you may read and write it, and that the disk has space.")
    else:
        log.error("napari-hdn: %s failed", doing, exc_info=(type(err), err, err.__traceback__))
        message = (
            f"{doing} failed unexpectedly ({type(err).__name__}: {err}). "
            "The full traceback is in the log (napari: Help > Show log, or the terminal); please report it."
        )
    show_error(message)
    return message


def attempt(task: TaskPanel, doing: str, action: Callable[[], str]) -> bool:
    """Run a quick main-thread ``action`` (loading or saving a file); show its message or its error."""
    try:
        message = action()
    except Exception as err:
        task.set_status(report_error(err, doing))
        return False
    task.set_status(message)
    return True
