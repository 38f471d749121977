"""The Restore widget's choice between posterior samples and the one-pass direct denoiser.

The direct denoiser (napari_hdn.direct) gives the MMSE in one pass, for a given set of switched-off
latent layers; when the model has none for the layers chosen, this offers to train one in the
background (`train_direct_denoiser`, a few minutes) and stores it in the model of the session.
"""

from __future__ import annotations

from typing import Any, Callable

from qtpy.QtWidgets import QComboBox, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ._common import TaskPanel, hbox

SAMPLES = "Samples (MMSE, variance, samples)"
ONE_PASS = "Fast (one pass: MMSE only)"


class OnePassControls(QWidget):
    """Method choice, and "Train the one-pass denoiser" with its task panel."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.method = QComboBox()
        self.method.addItems([SAMPLES, ONE_PASS])
        self.method.setToolTip("Samples: the MMSE with a variance map and samples (slower). One pass: the MMSE "
                               "only, from a direct denoiser trained for the latent layers switched on now "
                               "(hundreds of times faster: for large images and stacks).")
        self.distill_minutes = QSpinBox()
        self.distill_minutes.setRange(1, 120)
        self.distill_minutes.setValue(3)
        self.distill_minutes.setSuffix(" min")
        self.distill_button = QPushButton("Train the one-pass denoiser")
        self.distill_button.setToolTip("Trains a direct denoiser for the model with the latent layers switched "
                                       "off as in the panel below, on the input layer, in the background.")
        self.task = TaskPanel("One-pass denoiser", "Stop", hidden_until_used=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.method)
        layout.addLayout(hbox(self.distill_button, self.distill_minutes))
        layout.addWidget(self.task)

    def one_pass(self) -> bool:
        return self.method.currentText() == ONE_PASS

    @staticmethod
    def has_denoiser(model: Any, off: tuple[int, ...]) -> bool:
        from ..direct.store import layer_key

        return layer_key(model, off) in (getattr(model, "direct_denoisers", None) or {})

    def start_distill(self, model: Any, image: Any, off: tuple[int, ...], threads: int | None,
                      done: Callable[[Any], None]) -> bool:
        """Train a direct denoiser for ``off`` on ``image`` in a worker; ``done`` gets the network."""
        from ..direct import distill_events

        def make_job(token):
            # precision and threads as for restoration; the network lands in model.direct_denoisers
            return distill_events(model, image, off, minutes=float(self.distill_minutes.value()), stop=token)

        return self.task.start(make_job, done)
