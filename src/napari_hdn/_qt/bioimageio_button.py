"""The "Export to BioImage Model Zoo..." button: the model's direct denoiser as a zoo package, in the background."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QFileDialog, QPushButton, QVBoxLayout, QWidget

from ._common import TaskPanel


class BioimageioExport(QWidget):
    """A button asking for a .zip path, then ``export_bioimageio_events`` run in a task panel.

    ``model()`` and ``image()`` give the current model and a noisy image (the test tensors' source);
    both may raise InputError, shown in the panel.
    """

    def __init__(self, model: Callable[[], Any], image: Callable[[], Any], parent: QWidget | None = None):
        super().__init__(parent)
        self._model, self._image = model, image
        self.button = QPushButton("Export to BioImage Model Zoo...")
        self.button.setToolTip("Write the model's one-pass denoiser (direct denoiser; train it with 'Train the "
                               "one-pass denoiser' first) as a BioImage Model Zoo package; a crop of the input "
                               "layer becomes its test image.")
        self.button.clicked.connect(self.export_dialog)
        self.task = TaskPanel("Export", "Cancel", hidden_until_used=True)  # no empty bar until an export runs
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.task)

    def export_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Export to BioImage Model Zoo", "model.zip", "Zip (*.zip)")
        return bool(path) and self.export(path)

    def export(self, path: str) -> bool:
        from ..io.bioimageio import export_bioimageio_events

        def make_job(token):
            # The save dialog has already asked before replacing an existing file.
            return export_bioimageio_events(self._model(), path, self._image(), overwrite=True, stop=token)

        return self.task.start(make_job, self._exported)

    def _exported(self, path: Any) -> None:
        if path is not None:
            # The package passed the zoo's own test before it was written: nothing left to check.
            self.task.set_status(f"Wrote {path}; it passed the BioImage Model Zoo's test. Upload it to the zoo "
                                 "or share the file.")
