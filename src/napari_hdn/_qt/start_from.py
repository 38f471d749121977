""""Start from a trained model…" in the Train widget: adapt a model to the chosen layers (napari_hdn.adapt)
instead of training a new one from scratch."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ..foundation.errors import InputError
from ._layout import hbox

# Training arguments an adaptation does not take: the parent decides them.
_PARENTS_CHOICE = ("preset", "deactivate")


class StartFromModel(QWidget):
    """A tick box, the model folder to start from and what to adapt; :meth:`adapt_arguments` converts the
    Train widget's training arguments into those of :func:`napari_hdn.adapt_events`."""

    def __init__(self, parent: QWidget | None = None):
        from ..training.adapt import DEFAULT_MODE
        from ..training.warm_start import ADAPT_MODES

        super().__init__(parent)
        self.enabled = QCheckBox("Start from a trained model")
        self.enabled.setToolTip(
            "Adapt a model trained on similar images (another day, light level or camera) to these layers: "
            "a few minutes instead of a full training. The model you start from is not changed.")
        self.path = QLineEdit()
        self.path.setPlaceholderText("model folder")
        self.browse = QPushButton("...")
        self.browse.clicked.connect(self._browse)
        self.mode = QComboBox()
        for key, text in ADAPT_MODES.items():
            self.mode.addItem(f"{key}: {text}", key)
        self.mode.setCurrentIndex(list(ADAPT_MODES).index(DEFAULT_MODE))
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.enabled)
        form.addRow("Model", hbox(self.path, self.browse))
        form.addRow("Adapt", self.mode)
        self._form = form
        self.enabled.toggled.connect(self._toggled)
        self._toggled(False)

    def _toggled(self, on: bool) -> None:
        for field in (self.path, self.browse, self.mode):
            field.setVisible(on)
        for row in range(1, self._form.rowCount()):
            item = self._form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                item.widget().setVisible(on)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Trained model to start from")
        if path:
            self.path.setText(path)

    def active(self) -> bool:
        return self.enabled.isChecked()

    def adapt_arguments(self, training: dict[str, Any]) -> dict[str, Any]:
        """The arguments of ``adapt_events`` for the Train widget's ``training`` arguments."""
        path = self.path.text().strip()
        if not path:
            raise InputError("No model to start from: choose its folder (...) or untick 'Start from a trained model'.")
        arguments = {k: v for k, v in training.items() if k not in _PARENTS_CHOICE}
        if arguments.pop("resume", False):
            raise InputError("An adaptation starts a new model: choose 'stop with a message' or 'replace it' for an "
                             "output folder that holds a model, not 'continue its training'.")
        if "epochs" in arguments:
            raise InputError("Give an adaptation a budget in minutes or steps, not epochs.")
        arguments.setdefault("minutes", None)
        return {"model": path, "mode": self.mode.currentData(), **arguments}
