"""Loading a model into the session for the widgets, and a one-line summary of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..session import Session
from ._errors import attempt

if TYPE_CHECKING:
    from ._task import TaskPanel


def load_model_into(session: Session, path: Any, task: TaskPanel) -> bool:
    """Load a model bundle into the session (the Train and Restore widgets both offer it)."""

    def action() -> str:
        from ..model.bundle import load_model

        session.set_model(load_model(path, device="auto"), str(path))  # the GPU when there is one
        return f"Loaded the model {path}."

    return attempt(task, "Loading the model", action)


def model_summary(model: Any) -> str:
    """One line about an HDN model for the widgets' labels (the core's :meth:`HDNModel.describe`)."""
    return model.describe()
