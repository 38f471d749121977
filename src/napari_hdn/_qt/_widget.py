"""The base of every napari-hdn dock widget: its scrolling page, tabbed dock, task panels, thread share
and shutdown."""

from __future__ import annotations

import itertools
import weakref
from typing import Any

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow, QVBoxLayout, QWidget

from ..plugin.session import Session, session_for
from ._layout import ScrollPage
from ._task import TaskPanel

_created = itertools.count()  # the order in which the widgets were made (the newest joins the others' tabs)


class HDNWidget(QWidget):
    """Base of the dock widgets: the viewer, its shared :class:`Session`, layout in the window, clean shutdown.

    Subclasses lay out their controls on :attr:`body`, which scrolls inside the
    dock, so that a long form never makes the window taller than the screen.
    When docked next to another napari-hdn widget (however both were opened:
    together, or one by one from the Plugins menu) the widget joins that one's
    tabs and comes to the front: the widgets never stack up in one column.

    When the widget is closed or taken out of its dock, or the viewer's window
    closes, :meth:`shutdown` stops the running jobs and waits for them, so that
    training ends cleanly and keeps its last checkpoint.
    """

    # The session changes ("model", "noise_model") after which the failure shown under a job no longer applies
    # (e.g. "No model: train one..." once a model has arrived).
    STALE_ERRORS_ON: tuple[str, ...] = ()

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.session: Session = session_for(napari_viewer)
        self.session.join(self)
        # torch CPU threads of this widget's computations; None: chosen per job (see threads_for).
        self.threads: int | None = None
        self._watched_window: weakref.ref | None = None
        self._order = next(_created)
        self._placed = False  # tabbed with the other napari-hdn docks once, when first docked
        self.body = QWidget()
        self.page = ScrollPage(self.body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.page)
        self.session.subscribe(self._clear_stale_errors)

    def tasks(self) -> list[TaskPanel]:
        """The widget's job panels (subclasses list theirs)."""
        return []

    def threads_for(self, task: TaskPanel) -> int | None:
        """torch threads for a job of ``task``: all cores, or one while another job of this viewer runs.

        Two jobs each using every core of a small machine slow each other down
        several-fold (their threads wait on each other), so a second job takes one core.
        """
        from ..foundation.threads import threads_beside_other_jobs

        return threads_beside_other_jobs(self.threads, self.session.other_jobs_running(task))

    def _clear_stale_errors(self, what: str) -> None:
        if what in self.STALE_ERRORS_ON:
            for task in self.tasks():
                task.clear_error()

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
        if not self._placed:
            self._placed = True
            self._join_plugin_tabs(window)

    def _join_plugin_tabs(self, window: QMainWindow) -> None:
        """Tab our dock with the napari-hdn docks made before it (unless it already is), and show it.

        Only once, when first docked: a user who moves the docks apart afterwards keeps that layout.
        """
        dock = self.parentWidget()
        if not isinstance(dock, QDockWidget) or dock.isFloating():
            return
        earlier = sorted(
            (other for other in window.findChildren(QDockWidget)
             if other is not dock and isinstance(other.widget(), HDNWidget) and not other.isFloating()
             and other.widget()._order < self._order),
            key=lambda other: other.widget()._order,
        )
        if not earlier or any(other in window.tabifiedDockWidgets(dock) for other in earlier):
            return
        window.tabifyDockWidget(earlier[-1], dock)
        dock.show()
        dock.raise_()

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
