"""The base of every napari-hdn dock widget: its task panels, thread share and shutdown."""

from __future__ import annotations

import weakref
from typing import Any

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QMainWindow, QWidget

from ..session import Session, session_for
from ._task import TaskPanel


class HDNWidget(QWidget):
    """Base of the dock widgets: the viewer, its shared :class:`Session`, and clean shutdown.

    When the widget is closed or taken out of its dock, or the viewer's window
    closes, :meth:`shutdown` stops the running jobs and waits for them, so that
    training ends cleanly and keeps its last checkpoint.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.session: Session = session_for(napari_viewer)
        self.session.join(self)
        # torch CPU threads of this widget's computations; None: chosen per job (see threads_for).
        self.threads: int | None = None
        self._watched_window: weakref.ref | None = None

    def tasks(self) -> list[TaskPanel]:
        """The widget's job panels (subclasses list theirs)."""
        return []

    def threads_for(self, task: TaskPanel) -> int | None:
        """torch threads for a job of ``task``: all cores, or one while another job of this viewer runs.

        Two jobs each using every core of a small machine slow each other down
        several-fold (their threads wait on each other), so a second job takes one core.
        """
        from ..threads import threads_beside_other_jobs

        return threads_beside_other_jobs(self.threads, self.session.other_jobs_running(task))

    def shutdown(self) -> None:
        for task in self.tasks():
            if task.running:
                task.stop_and_wait()

    def event(self, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.ParentChange and self.parent() is None:
            self.shutdown()  # napari's "close" of a dock widget takes the widget out of its dock
        elif kind == QEvent.Type.ParentChange:
            # napari puts the widget into its dock first and the dock into the window after: look once both are done.
            QTimer.singleShot(0, self._watch_window)
        elif kind == QEvent.Type.Show:
            self._watch_window()
        return super().event(event)

    def _watch_window(self) -> None:
        """Watch the main window we are docked in (a floating dock keeps it as parent)."""
        window = self.parentWidget()
        while window is not None and not isinstance(window, QMainWindow):
            window = window.parentWidget()
        if window is None or window is self._watched():
            return
        if self._watched() is not None:
            self._watched().removeEventFilter(self)
        window.installEventFilter(self)
        # Weakly: napari's main window holds the whole viewer, which must be freed when it closes.
        self._watched_window = weakref.ref(window)

    def _watched(self) -> QObject | None:
        ref = getattr(self, "_watched_window", None)  # Qt may call in while Python tears the widget down
        return None if ref is None else ref()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self._watched():
            self.shutdown()
        return False

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)
