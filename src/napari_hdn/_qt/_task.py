"""The task panel: runs a core generator in a thread worker with a progress bar and a stop button."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker
from qtpy.QtCore import QCoreApplication, Qt, Signal
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..foundation.progress import Progress, StopToken, format_seconds
from ._errors import report_error
from .gui_words import gui_message

# How long closing a widget or the viewer waits for a running job to stop (a training step, a tile).
SHUTDOWN_WAIT_S = 60.0

@dataclass
class Outcome:
    """What a job ended with: its result, or the exception it raised."""

    result: Any = None
    error: BaseException | None = None


def _guarded(job: Generator[Any, Any, Any]) -> Generator[Any, Any, Outcome]:
    """Run ``job`` and return its result or its exception as an :class:`Outcome`.

    Exceptions must not leave the worker: napari's GeneratorWorker turns any
    RuntimeError (which TrainingError and torch's errors are) into a silent
    warning, and would show the others with a raw traceback.
    """
    try:
        result = yield from job
    except Exception as err:  # reported in the main thread by TaskPanel
        return Outcome(error=err)
    return Outcome(result=result)


class TaskPanel(QWidget):
    """A progress bar, a one-line status and a stop button for one background job at a time.

    ``graceful=True`` (training): the stop button asks the job to stop through its
    StopToken and the job's partial result is kept. ``graceful=False`` (fits,
    restorations): the button cancels, the job is abandoned and its result dropped.

    ``finished`` is emitted with "done", "cancelled" or "failed" after the job's
    callbacks have run. ``hidden_until_used=True``: the panel takes no room until it
    has something to say, and its bar and stop button show only while its job runs
    (a click that cannot start a job shows one line, never an empty bar).

    One status line per job, derived from the state: a failure is remembered with
    its cause (:meth:`fail`) and goes when that cause changes (:meth:`clear_error`);
    ``idle_status()``, if given, says what the panel's state is while no job runs
    (:meth:`refresh`).
    """

    finished = Signal(str)

    def __init__(self, doing: str, stop_text: str = "Cancel", graceful: bool = False, parent: QWidget | None = None,
                 hidden_until_used: bool = False, idle_status: Callable[[], str] | None = None):
        super().__init__(parent)
        self.hidden_until_used = hidden_until_used
        self.idle_status = idle_status
        self.doing = doing
        self.graceful = graceful
        self.token: StopToken | None = None
        self.worker: GeneratorWorker | None = None
        self.last_error: str = ""
        self.error_cause: str = ""  # what the failure shown depends on ("model", "layers", ...); "" for anything
        self._started = 0.0
        self._shown_fraction = 0.0
        self._cancelled = False
        self._on_result: Callable[[Any], None] | None = None
        self._on_event: Callable[[Any], None] | None = None

        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        self.stop_button = QPushButton(stop_text)
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.bar_row = QWidget()
        row = QHBoxLayout(self.bar_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar_row)
        layout.addWidget(self.status)
        if hidden_until_used:
            self.bar_row.setVisible(False)
            self.setVisible(False)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(
        self,
        make_job: Callable[[StopToken], Generator[Any, Any, Any]],
        on_result: Callable[[Any], None],
        on_event: Callable[[Any], None] | None = None,
    ) -> bool:
        """Run the generator ``make_job(token)`` in a thread worker.

        ``make_job`` runs here, in the main thread, so that arguments the core
        checks when the generator is made are reported at once. Returns False,
        with the reason shown, when the job could not start.
        """
        if self.running:
            self.set_status(f"{self.doing} is already running: wait for it or stop it first.")
            return False
        token = StopToken()
        self.last_error = ""
        try:
            job = make_job(token)
        except Exception as err:
            self.fail(err)
            return False
        self.token = token
        self._started = time.monotonic()
        self._cancelled = False
        self._on_result = on_result
        self._on_event = on_event
        worker = create_worker(_guarded, job, _worker_class=GeneratorWorker, _ignore_errors=True)
        worker.yielded.connect(self._event)
        worker.returned.connect(self._returned)
        worker.finished.connect(self._finished)
        self.worker = worker
        self.bar.setRange(0, 0)  # busy until the first event with a known total
        self.bar.setFormat("")
        self._shown_fraction = 0.0
        if self.hidden_until_used:
            self.setVisible(True)
            self.bar_row.setVisible(True)
        self.stop_button.setEnabled(True)
        self.set_status(f"{self.doing}...")
        worker.start()
        return True

    def stop(self) -> None:
        """Stop (graceful) or cancel the running job; returns at once."""
        if not self.running or self.token is None:
            return
        self.token.request_stop()
        self.stop_button.setEnabled(False)
        if self.graceful:
            self.set_status(f"Stopping {self.doing.lower()} after the current step...")
        else:
            self._cancelled = True
            assert self.worker is not None
            self.worker.quit()
            self.set_status(f"Cancelling {self.doing.lower()}...")

    def stop_and_wait(self, timeout_s: float = SHUTDOWN_WAIT_S) -> bool:
        """Stop the job and process Qt events until it has ended (its result handled); True if it ended."""
        self.stop()
        deadline = time.monotonic() + timeout_s
        while self.running and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        return not self.running

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        if self.hidden_until_used:
            self.setVisible(bool(text) or self.running)

    def fail(self, err: BaseException, doing: str | None = None, cause: str = "") -> str:
        """Show ``err`` (notification and status line) as this panel's failure, which goes when ``cause`` changes."""
        self.last_error = report_error(err, doing or self.doing)
        self.error_cause = cause or getattr(err, "gui_cause", "")
        self.set_status(self.last_error)
        return self.last_error

    def refresh(self) -> None:
        """Show ``idle_status()`` unless a job runs or a failure is shown."""
        if self.idle_status is not None and not self.running and not self.last_error:
            self.set_status(self.idle_status())

    # -- worker callbacks (main thread) --------------------------------------------------------------------
    def _event(self, event: Any) -> None:
        if isinstance(event, Progress):
            self.show_progress(event)
        if self._on_event is not None and not self._cancelled:
            self._on_event(event)

    def show_progress(self, event: Progress) -> None:
        fraction = event.fraction
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            # Never backwards: a job of several stages (a restoration, then its activations) starts each at 0.
            self._shown_fraction = max(self._shown_fraction, fraction)
            shown = self._shown_fraction
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(round(1000 * shown)))
            self.bar.setFormat(f"{100 * shown:.0f}% - {self._time_left(event, fraction)}")
        if event.message and not (self.token and self.token.stop_requested):
            self.set_status(gui_message(event.message))

    def _time_left(self, event: Progress, fraction: float) -> str:
        """The job's estimate of the time left, else one from the time since the start and the fraction done."""
        eta = event.eta_s
        if eta is None and fraction > 0:
            eta = (time.monotonic() - self._started) * (1.0 - fraction) / fraction
        return "estimating time left" if eta is None else f"{format_seconds(eta)} left"

    def clear_error(self, cause: str | None = None) -> None:
        """Forget the failure shown (when what it complained about has changed); a running job is left alone.

        With ``cause``, only a failure recorded with that cause goes.
        """
        if self.running or not self.last_error:
            return
        if cause is not None and self.error_cause != cause:
            return
        if self.status.text() == self.last_error:
            self.set_status("")
        self.last_error = ""
        self.error_cause = ""
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.refresh()

    def _returned(self, outcome: Outcome) -> None:
        if self._cancelled:
            return
        if outcome.error is not None:
            self.fail(outcome.error)
            return
        try:
            if self._on_result is not None:
                self._on_result(outcome.result)
        except Exception as err:  # a failure to show the result is reported like a failed job
            self.fail(err)

    def _finished(self) -> None:
        self.worker = None
        self.stop_button.setEnabled(False)
        if self.hidden_until_used:
            self.bar_row.setVisible(False)
            self.setVisible(bool(self.status.text()))
        self.bar.setRange(0, 1000)
        if self._cancelled:
            self.bar.setValue(0)
            self.bar.setFormat("")
            self.set_status(f"{self.doing} cancelled.")
            outcome = "cancelled"
        elif self.last_error:
            self.bar.setValue(0)
            self.bar.setFormat("failed")
            outcome = "failed"
        else:
            self.bar.setValue(1000)
            self.bar.setFormat("done")
            outcome = "done"
            self.refresh()
        self.finished.emit(outcome)


def attempt(task: TaskPanel, doing: str, action: Callable[[], str]) -> bool:
    """Run a quick main-thread ``action`` (loading or saving a file); show its message or its error."""
    try:
        message = action()
    except Exception as err:
        task.fail(err, doing)
        return False
    task.set_status(message)
    return True
