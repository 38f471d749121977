"""Loading a model into the session for the widgets, a one-line summary of it, and which checkpoint it is."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugin.session import Session
from ._task import attempt

if TYPE_CHECKING:
    from ._task import TaskPanel

CHECKPOINTS = {"best": "best (lowest validation loss)", "last": "last (where training ended)"}


def load_model_into(session: Session, path: Any, task: TaskPanel) -> bool:
    """Load a model bundle into the session (the Train and Restore widgets both offer it)."""

    def action() -> str:
        from ..model.bundle import load_model, resolve_bundle_path

        folder = resolve_bundle_path(path)
        session.set_model(load_model(folder, device="auto"), str(path), str(folder))  # the GPU when there is one
        return f"Loaded the model {path}."

    return attempt(task, "Loading the model", action)


# A noise model in a few plain words (plain_words.plain_noise_model says more).
NOISE_WORDS = {"poisson_gaussian": "a camera model", "gaussian": "even noise at every brightness",
               "gmm": "learned from the data", "histogram": "a table measured from the data"}


def model_summary(model: Any) -> str:
    """One line about an HDN model for the widgets' labels, in plain words (the core's :meth:`HDNModel.describe`,
    with its precise terms, is the labels' tooltip)."""
    text = f"{model.n_layers} detail layers, trained for {model.step} batches of tiles"
    if model.trained_deactivated:
        text += ", " + ", ".join(f"z{i}" for i in model.trained_deactivated) + " off since training"
    if model.parent:
        text += f", adapted from {model.parent.get('path') or 'a model in memory'}"
    noise = NOISE_WORDS.get(getattr(model.noise_model, "kind", ""))
    return text + (f"; noise model: {noise}" if noise else "")


def checkpoint_line(folder: str | Path) -> str:
    """Which checkpoint of a training run the bundle ``folder`` is (its step, best or last), in one line.

    '' for a bundle that is not a ``best``/``last`` checkpoint of a run.
    """
    from ..foundation.errors import HDNError
    from ..model.bundle import read_metadata

    if not folder:
        return ""
    folder = Path(folder)
    if folder.name not in CHECKPOINTS:
        return ""

    def step(bundle: Path) -> int | None:
        try:
            return int((read_metadata(bundle).get("training") or {}).get("step", 0))
        except (HDNError, OSError, TypeError, ValueError):
            return None

    this = step(folder)
    line = f"Checkpoint: {CHECKPOINTS[folder.name]}" + (f", step {this}" if this is not None else "")
    other = folder.parent / ("last" if folder.name == "best" else "best")
    other_step = step(other) if other.is_dir() else None
    if other_step is not None and other_step != this:
        line += f"; the {other.name} checkpoint (step {other_step}) is in {other}"
    return line + "."
