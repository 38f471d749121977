"""The Restore widget's choice between posterior samples and the one-pass direct denoiser.

The direct denoiser (napari_hdn.direct) gives the MMSE in one pass, for a given set of switched-off
latent layers; when the model has none for the layers chosen, this offers to train one in the
background (`train_direct_denoiser`, a few minutes), stores it in the model of the session and saves
it into the model's folder (``direct.safetensors``, the weights untouched), so that it is there when
the model is loaded again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from qtpy.QtWidgets import QPushButton, QSpinBox, QVBoxLayout, QWidget

from ._common import TaskPanel, hbox
from ._layout import choice_box

SAMPLES = "Samples (average, spread and samples)"
ONE_PASS = "Fast (one pass: average only)"
NOISIER_HINT = ("After a few minutes of training it gives a slightly noisier result than Samples: train it longer "
                "for a closer match.")


def layers_text(off: tuple[int, ...]) -> str:
    """'every layer on' or 'z1, z2 off'."""
    return ", ".join(f"z{i}" for i in off) + " off" if off else "every layer on"


class OnePassControls(QWidget):
    """Method choice, and "Train the one-pass denoiser" with its task panel."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.method = choice_box([SAMPLES, ONE_PASS], (
            "Samples: the MMSE with a variance map and samples (slower). One pass: the MMSE only, from a direct "
            "denoiser trained for the latent layers switched on now (hundreds of times faster: for large images "
            "and stacks)."))
        self.distill_minutes = QSpinBox()
        self.distill_minutes.setRange(1, 120)
        self.distill_minutes.setValue(3)
        self.distill_minutes.setSuffix(" min")
        self.distill_button = QPushButton("Train the one-pass denoiser")
        self.distill_button.setToolTip("Trains a direct denoiser for the model with the latent layers switched "
                                       "off as in the panel below, on the input layer, in the background.")
        self.task = TaskPanel("One-pass denoiser", "Stop", hidden_until_used=True)
        self.saved_in: dict[tuple[int, str], str] = {}  # (model id, layer key) -> the folder it was saved into
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.method)
        layout.addLayout(hbox(self.distill_button, self.distill_minutes))
        layout.addWidget(self.task)

    def one_pass(self) -> bool:
        return self.method.currentText() == ONE_PASS

    @staticmethod
    def has_denoiser(model: Any, off: tuple[int, ...]) -> bool:
        return model.direct_key(off) in model.direct_denoisers

    def status_line(self, model: Any, off: tuple[int, ...]) -> str:
        """The one-pass state of ``model`` for the layers ``off``: ready (and where it is saved), or ''."""
        if model is None or not self.has_denoiser(model, off):
            return ""
        folder = self.saved_in.get((id(model), model.direct_key(off)))
        where = f" (saved in {folder})" if folder else ""
        then = "Restore uses it." if self.one_pass() else "choose 'Fast (one pass)' and Restore."
        return f"One-pass denoiser ready for {layers_text(off)}{where}: {then} {NOISIER_HINT}"

    def start_distill(self, model: Any, image: Any, off: tuple[int, ...], folder: str,
                      done: Callable[[], None]) -> bool:
        """Train a direct denoiser for ``off`` on ``image`` in a worker, then save it into ``folder`` (if any)."""
        from ..direct import distill_events

        def make_job(token):
            # precision and threads as for restoration; the network lands in model.direct_denoisers
            return distill_events(model, image, off, minutes=float(self.distill_minutes.value()), stop=token)

        def trained(_net: Any) -> None:
            if folder:
                self._save(model, off, folder)
            done()

        return self.task.start(make_job, trained)

    def _save(self, model: Any, off: tuple[int, ...], folder: str) -> None:
        """Add the model's one-pass denoisers to its bundle folder (``direct.safetensors``, model.json)."""

        try:
            model.direct_denoisers.save(folder)
        except Exception as err:
            self.task.fail(err, "Saving the one-pass denoiser")
            return
        self.saved_in[(id(model), model.direct_key(off))] = str(Path(folder))
