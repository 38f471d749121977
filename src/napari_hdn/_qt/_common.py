"""Pieces every napari-hdn widget uses: running core generators in a thread worker with a
progress bar and a stop button, layer pickers, writing results back as layers, and
reporting errors as napari notifications.

No model logic lives here: a widget builds a core generator (noise-model fit,
training, restoration) and hands it to a :class:`TaskPanel`.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from napari.layers import Image
from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..errors import HDNError, InputError
from ..progress import Progress, StopToken, format_seconds
from ._session import Session, session_for

log = logging.getLogger("napari_hdn")

# How long closing a widget or the viewer waits for a running job to stop (a training step, a tile).
SHUTDOWN_WAIT_S = 60.0


def report_error(err: BaseException, doing: str) -> str:
    """Show ``err`` as a napari error notification and return the message shown.

    Expected errors (:class:`HDNError`) already say what went wrong and what to
    do; anything else is a bug, whose traceback goes to the log.
    """
    if isinstance(err, HDNError):
        message = str(err)
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


def load_model_into(session: Session, path: Any, task: TaskPanel) -> bool:
    """Load a model bundle into the session (the Train and Restore widgets both offer it)."""

    def action() -> str:
        from ..model.bundle import load_model

        session.set_model(load_model(path, device="auto"), str(path))  # the GPU when there is one
        return f"Loaded the model {path}."

    return attempt(task, "Loading the model", action)


def model_summary(model: Any) -> str:
    """One line about an HDN model for the widgets' labels."""
    text = (f"{model.n_layers} latent layers, {model.config.n_filters} filters, trained {model.step} steps, "
            f"{getattr(model.noise_model, 'kind', '?')} noise model")
    if model.trained_deactivated:
        text += ", " + ", ".join(f"z{i}" for i in model.trained_deactivated) + " off since training"
    return text


def discard_widget(widget: QWidget) -> None:
    """Take a widget out of its layout and window now (deleteLater alone waits for the event loop)."""
    widget.hide()
    widget.setParent(None)
    widget.deleteLater()


# -- layout -----------------------------------------------------------------------------------------------
def form_page(*rows: tuple[Any, Any]) -> QWidget:
    """A widget holding a form of (label, field) rows; a field may be a widget or a layout."""
    page = QWidget()
    form = QFormLayout(page)
    for label, field in rows:
        form.addRow(label, field)
    return page


def hbox(*items: Any) -> QHBoxLayout:
    """Widgets side by side, the first one stretching."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for i, item in enumerate(items):
        row.addWidget(item, 1 if i == 0 else 0)
    return row


# -- running core generators in a worker -------------------------------------------------------------------
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
    callbacks have run.
    """

    finished = Signal(str)

    def __init__(self, doing: str, stop_text: str = "Cancel", graceful: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.doing = doing
        self.graceful = graceful
        self.token: StopToken | None = None
        self.worker: GeneratorWorker | None = None
        self.last_error: str = ""
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

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)

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
            self.last_error = report_error(err, self.doing)
            self.set_status(self.last_error)
            return False
        self.token = token
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
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(round(1000 * fraction)))
            left = "" if event.eta_s is None else f" - {format_seconds(event.eta_s)} left"
            self.bar.setFormat(f"{100 * fraction:.0f}%{left}")
        if event.message and not (self.token and self.token.stop_requested):
            self.set_status(event.message)

    def _returned(self, outcome: Outcome) -> None:
        if self._cancelled:
            return
        if outcome.error is not None:
            self.last_error = report_error(outcome.error, self.doing)
            self.set_status(self.last_error)
            return
        try:
            if self._on_result is not None:
                self._on_result(outcome.result)
        except Exception as err:  # a failure to show the result is reported like a failed job
            self.last_error = report_error(err, self.doing)
            self.set_status(self.last_error)

    def _finished(self) -> None:
        self.worker = None
        self.stop_button.setEnabled(False)
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
        self.finished.emit(outcome)


# -- layers -----------------------------------------------------------------------------------------------
def image_layers(viewer: Any) -> list[Any]:
    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def layer_array(layer: Any, what: str) -> Any:
    """The pixels of an image layer for the core, or a clear error for no layer or an RGB one."""
    if layer is None:
        raise InputError(f"No {what} selected: open an image (File > Open, or File > Open Sample > napari-hdn) "
                         "and choose it in the list.")
    if getattr(layer, "rgb", False):
        raise InputError(
            f"The {what} '{layer.name}' is an RGB colour image; HDN works on single-channel intensity images: "
            "split the channels (right-click the layer > Split RGB) and choose one."
        )
    data = layer.data
    if getattr(layer, "multiscale", False):
        data = data[0]  # full resolution
    return data


class LayerChoice(QComboBox):
    """A drop-down of the viewer's image layers, kept in step with the layer list."""

    def __init__(self, viewer: Any, none_text: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self.none_text = none_text
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        _follow_layer_list(viewer, self.refresh)
        self.refresh()

    def refresh(self, *_: Any) -> None:
        current = self.currentText()
        names = [layer.name for layer in image_layers(self.viewer)]
        self.blockSignals(True)
        self.clear()
        if self.none_text is not None:
            self.addItem(self.none_text)
        self.addItems(names)
        self.blockSignals(False)
        if current and self.findText(current) >= 0:
            self.setCurrentIndex(self.findText(current))
        elif self.count():
            self.setCurrentIndex(0)
            self.currentIndexChanged.emit(0)

    def layer(self) -> Any:
        name = self.currentText()
        if not name or name == self.none_text or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

    def set_layer(self, name: str) -> None:
        index = self.findText(name)
        if index < 0:
            raise ValueError(f"no image layer named {name!r}")
        self.setCurrentIndex(index)


class LayerChecklist(QListWidget):
    """The viewer's image layers with a check box each (several may be chosen)."""

    def __init__(self, viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self.setMaximumHeight(90)
        _follow_layer_list(viewer, self.refresh)
        self.refresh()

    def refresh(self, *_: Any) -> None:
        checked = set(self.checked_names())
        self.clear()
        for layer in image_layers(self.viewer):
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if layer.name in checked else Qt.CheckState.Unchecked)
            self.addItem(item)

    def checked_names(self) -> list[str]:
        return [
            self.item(i).text() for i in range(self.count()) if self.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_checked(self, names: Iterable[str]) -> None:
        wanted = set(names)
        for i in range(self.count()):
            item = self.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in wanted else Qt.CheckState.Unchecked)

    def layers(self) -> list[Any]:
        return [self.viewer.layers[name] for name in self.checked_names() if name in self.viewer.layers]


def _follow_layer_list(viewer: Any, refresh: Callable[..., None]) -> None:
    """Call ``refresh`` whenever image layers are added, removed, moved or renamed."""

    def guarded_refresh(*args: Any) -> None:
        try:
            refresh()
        except RuntimeError:  # the widget was deleted (its C++ object is gone); nothing to refresh
            pass

    def on_inserted(event: Any) -> None:
        event.value.events.name.connect(guarded_refresh)
        guarded_refresh()

    viewer.layers.events.inserted.connect(on_inserted)
    viewer.layers.events.removed.connect(guarded_refresh)
    viewer.layers.events.moved.connect(guarded_refresh)
    for layer in viewer.layers:
        layer.events.name.connect(guarded_refresh)


def show_image(
    viewer: Any,
    name: str,
    data: Any,
    like: Any,
    leading_axes: int = 0,
    metadata: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Add the image layer ``name``, or update it in place if it exists, placed like the layer ``like``.

    The new layer inherits ``like``'s scale, translate and metadata (plus
    ``metadata``); ``leading_axes`` extra axes in front of ``like``'s (samples,
    latent layers) get unit scale and zero offset.
    """
    scale = (1.0,) * leading_axes + tuple(like.scale)
    translate = (0.0,) * leading_axes + tuple(like.translate)
    meta = dict(like.metadata)
    meta.update(metadata or {})
    if name in viewer.layers:
        layer = viewer.layers[name]
        if isinstance(layer, Image) and layer.ndim == np.ndim(data) and not layer.rgb:
            layer.data = data
            layer.scale = scale
            layer.translate = translate
            layer.metadata = meta
            for key, value in kwargs.items():
                setattr(layer, key, value)
            if "contrast_limits" not in kwargs:
                layer.reset_contrast_limits()
            return layer
        viewer.layers.remove(name)  # another kind of layer or other dimensions: replace it
    return viewer.add_image(data, name=name, scale=scale, translate=translate, metadata=meta, **kwargs)


# -- widget life cycle ------------------------------------------------------------------------------------
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
        if self.threads is not None:
            return self.threads
        return 1 if self.session.other_jobs_running(task) else None

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
