"""The Restore widget's "Save results...": which result layers, which format, which folder; the core writes.

The writing (files, pixel size, atomic, no silent overwrite) is
``napari_hdn.io.result_files.save_results``; this module only asks the user and
turns layers into :class:`~napari_hdn.io.result_files.ResultImage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from ..foundation.errors import InputError
from ..io.result_files import ResultImage, ome_zarr_available, result_paths, save_results
from ..plugin.layer_roles import KEY, RESULT, layer_role
from ._errors import report_error
from ._layers import LayerChecklist, layer_array
from ._task import attempt
from .result_axes import without_padding
from .result_names import HALF_WIDTH

FORMAT_TEXT = {"tiff": "TIFF (.tif), one file per layer", "ome-zarr": "OME-Zarr (.ome.zarr), one folder per layer"}
PRESELECTED = ("MMSE", "variance", HALF_WIDTH)  # results ticked at first (of the input layer chosen in the widget)
STACKED = ("samples", "activations", "KL maps")  # results with a leading axis of samples or latent layers


def is_result(layer: Any) -> bool:
    return layer_role(layer.metadata) == RESULT


class SaveResultsDialog(QDialog):
    """The result layers with a tick each (the input's MMSE, variance and uncertainty ticked), and the file format."""

    def __init__(self, viewer: Any, source_layer: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Save results")
        self.layers = LayerChecklist(viewer, accept=is_result)
        self.layers.set_checked(
            layer.name for layer in viewer.layers if is_result(layer)
            and (layer.metadata[KEY].get("source_layer") == source_layer or source_layer is None)
            and layer.metadata[KEY].get("result") in PRESELECTED
        )
        self.format = QComboBox()
        for key, text in FORMAT_TEXT.items():
            self.format.addItem(text, key)
        if not ome_zarr_available():
            self.format.model().item(1).setEnabled(False)
            self.format.setItemData(1, "Needs the OME-Zarr extra: pip install 'napari-hdn[ome-zarr]'",
                                    Qt.ItemDataRole.ToolTipRole)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Results to save (saved with the input's pixel size):"))
        layout.addWidget(self.layers)
        layout.addWidget(self.format)
        layout.addWidget(buttons)

    def chosen(self) -> tuple[list[str], str]:
        return self.layers.checked_names(), self.format.currentData()


def result_image(layer: Any) -> ResultImage:
    """A result layer as the core saves it: pixels, pixel size (the layer's scale) and spatial unit."""
    units = [str(unit) for unit in getattr(layer, "units", ())]
    what = (layer.metadata.get(KEY) or {}).get("result")
    # Saved without the length-1 axes that only put a stack on its own slider (result_axes).
    data, scale = without_padding(layer_array(layer, "result layer"), layer.scale, layer.metadata)
    return ResultImage(layer.name, data, tuple(float(s) for s in scale), unit=units[-1] if units else None,
                       stacked=what in STACKED)


def save_layers(viewer: Any, names: list[str], folder: str | Path, fmt: str, overwrite: bool = False) -> list[Path]:
    images = [result_image(viewer.layers[name]) for name in names if name in viewer.layers]
    return save_results(images, folder, fmt, overwrite=overwrite)


def ask_and_save(parent: QWidget, viewer: Any, source_layer: str | None, task: Any) -> bool:
    """Ask which results, the format and the folder; confirm replacing files; save. True if saved."""
    if not any(is_result(layer) for layer in viewer.layers):
        task.set_status("No results to save yet: restore an image first (Restore), then save its results.")
        return False
    dialog = SaveResultsDialog(viewer, source_layer, parent)
    if not dialog.exec():  # 0: cancelled (PyQt6's exec returns an int, not a DialogCode)
        return False
    names, fmt = dialog.chosen()
    if not names:
        task.set_status("Nothing saved: tick the results to save.")
        return False
    folder = QFileDialog.getExistingDirectory(parent, "Save the results in the folder")
    if not folder:
        return False
    overwrite = False
    try:
        existing = [p.name for p in result_paths(names, folder, fmt) if p.exists()]
    except InputError as err:  # two layers that would share a file name
        task.set_status(report_error(err, "Saving results"))
        return False
    if existing:
        answer = QMessageBox.question(
            parent, "Replace files?", f"{folder} already has {', '.join(existing)}. Replace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            task.set_status("Nothing saved: the existing files are kept.")
            return False
        overwrite = True

    def action() -> str:
        paths = save_layers(viewer, names, folder, fmt, overwrite)
        return f"Saved {', '.join(p.name for p in paths)} in {folder}."

    return attempt(task, "Saving results", action)
