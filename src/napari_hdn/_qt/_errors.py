"""Reporting errors: napari notifications and the log, and running a quick action with its error shown."""

from __future__ import annotations

import logging

from napari.utils.notifications import show_error
from qtpy.QtCore import QCoreApplication, QTimer

from ..foundation.errors import HDNError
from .gui_words import gui_message


log = logging.getLogger("napari_hdn")

# How long an error pop-up stays up. napari closes its pop-ups after a few seconds only when its window is
# the active one as they appear, and a newer pop-up pauses the older ones, so an error of a job that ended
# while the user was elsewhere would stay until clicked away. The message stays in the widget's status line.
NOTIFICATION_SECONDS = 10.0

def report_error(err: BaseException, doing: str) -> str:
    """Show ``err`` as a napari error notification and return the message shown.

    Expected errors (:class:`HDNError`) already say what went wrong and what to
    do (in the widgets' words: :func:`gui_words.gui_message`); anything else is
    a bug, whose traceback goes to the log.
    """
    if isinstance(err, HDNError):
        message = gui_message(str(err))
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
    if QCoreApplication.instance() is not None:
        QTimer.singleShot(int(NOTIFICATION_SECONDS * 1000), lambda: dismiss_notification(message))
    return message


def dismiss_notification(message: str) -> int:
    """Fade out napari's pop-ups showing ``message``; returns how many were open."""
    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification
    except ImportError:  # napari moved its pop-ups: they then close as napari decides
        return 0
    shown = [popup for popup in list(getattr(NapariQtNotification, "_instances", ()))
             if _popup_text(popup) == message]
    for popup in shown:
        popup.close_with_fade()
    return len(shown)


def _popup_text(popup: object) -> str | None:
    label = getattr(popup, "message", None)
    if label is None:
        return None
    full_text = getattr(label, "full_text", None)  # superqt's eliding label: text() may be cut short
    return full_text() if callable(full_text) else label.text()
