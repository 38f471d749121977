"""What the plugin's widgets share within one napari viewer: the current noise model and HDN model.

Qt-free on purpose: the reader (``napari_hdn.plugin.contributions``) fills it without
importing Qt, and tests can drive it directly. Widgets subscribe with
:meth:`Session.subscribe` and are called (on the thread that made the change,
which is napari's main thread for readers and worker results) after each change.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NOISE_MODEL = "noise_model"
MODEL = "model"


@dataclass
class Session:
    """The objects one viewer's widgets pass to each other; ``*_source`` says where each came from."""

    noise_model: Any = None
    noise_model_source: str = ""
    model: Any = None
    model_source: str = ""
    # The bundle folder the model's weights are saved in (what a one-pass denoiser trained for it is saved
    # into); "" for a model that lives only in memory.
    model_folder: str = ""
    _listeners: list[Any] = field(default_factory=list, repr=False)
    _members: weakref.WeakSet = field(default_factory=weakref.WeakSet, repr=False)

    def join(self, member: Any) -> None:
        """Register a widget whose ``tasks()`` (objects with ``running``) count in :meth:`other_jobs_running`."""
        self._members.add(member)

    def other_jobs_running(self, job: Any = None) -> bool:
        """Whether a job other than ``job`` runs in any of this viewer's widgets."""
        return any(task.running for member in list(self._members) for task in member.tasks() if task is not job)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(what)`` with ``what`` = "noise_model" or "model" after each change.

        Bound methods are held weakly: the registry of sessions is global, and a
        strong reference to a widget would keep its viewer alive forever.
        """
        ref = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else (lambda: callback)
        self._listeners.append(ref)

    def unsubscribe(self, callback: Callable[[str], None]) -> None:
        self._listeners = [ref for ref in self._listeners if ref() not in (None, callback)]

    def set_noise_model(self, noise_model: Any, source: str) -> None:
        self.noise_model = noise_model
        self.noise_model_source = source
        self._notify(NOISE_MODEL)

    def set_model(self, model: Any, source: str, folder: str = "") -> None:
        self.model = model
        self.model_source = source
        self.model_folder = str(folder)
        self._notify(MODEL)

    def _notify(self, what: str) -> None:
        self._listeners = [ref for ref in self._listeners if ref() is not None]
        for ref in list(self._listeners):
            callback = ref()
            if callback is not None:
                callback(what)


# One session per viewer. Viewers are not hashable (pydantic models), so the
# registry is keyed by id() and each entry is dropped when its viewer is collected.
_SESSIONS: dict[int, Session] = {}


def session_for(viewer: Any) -> Session:
    """The session of ``viewer``, created on first use."""
    viewer = getattr(viewer, "__wrapped__", viewer)  # widgets get the viewer behind napari's PublicOnlyProxy
    key = id(viewer)
    session = _SESSIONS.get(key)
    if session is None:
        session = _SESSIONS[key] = Session()
        weakref.finalize(viewer, _SESSIONS.pop, key, None)
    return session
