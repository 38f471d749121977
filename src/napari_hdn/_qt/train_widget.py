"""The "Train" dock widget: train HDN on image layers in the background, with live losses and a preview.

Training runs the core's ``training_events`` generator in a thread worker; Stop
asks it (through its StopToken) to end after the current step, keeping the last
checkpoint. Every few seconds training hands over a copy of the model as trained
so far (a "snapshot" event); the widget restores a small crop with it in a second
worker and shows it as "<name> training preview" (hidden when training ends).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible
from superqt.utils import qthrottled

from ..foundation.errors import InputError
from ..plugin.layer_roles import PREVIEW, is_training_candidate, with_role
from ..training.convergence import converged_hint
from ._common import (
    HDNWidget,
    LayerChecklist,
    TaskPanel,
    attempt,
    discard_widget,
    form_page,
    hbox,
    layer_array,
    load_model_into,
    model_summary,
)
from ._plots import LossPlot
from .plain_words import BUDGET_NAMES, plain_noise_model, preset_name
from .result_names import result_name
from .start_from import StartFromModel
from .train_choices import default_output_folder, device_choices  # noqa: F401 (default_output_folder: API)
from .tooltips import explain_training_options

NOISE_SOURCES = {
    "session": "From the Noise model widget",
    "file": "From a file (.npz)",
    "gaussian": "Gaussian noise, known sigma",
    # No calibration data: estimated from the training images, then bootstrapped from the model half-way.
    "auto": "Estimate it from the training images",
}
BUDGETS = ("minutes", "epochs", "steps")
EXISTING = {"refuse": "stop with a message", "resume": "continue its training", "replace": "replace it"}
PREVIEW_CROP = 128  # pixels per side of the live preview
PREVIEW_SAMPLES = 8
PREVIEW_MIN_INTERVAL_S = 3.0

class TrainWidget(HDNWidget):
    """Train an HDN model on one or more image layers."""

    STALE_ERRORS_ON = ("noise_model", "model")

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        from ..training import PRESETS

        # Extra ``training_events`` settings (any ModelConfig / TrainConfig field) for scripts and tests,
        # e.g. a tiny network: {"n_latent_layers": 2, "n_filters": 8}.
        self.overrides: dict[str, Any] = {}
        self._last_preview = 0.0
        self._pending_model: Any = None  # the latest snapshot (HDNModel) not yet previewed
        self._preview_target: tuple[str, tuple[int, ...]] | None = None

        # Noisy data only: not the ground truth, not the plugin's own results and previews.
        self.layers = LayerChecklist(self.viewer, accept=lambda layer: is_training_candidate(layer.metadata))
        self.start_from = StartFromModel()
        self.noise_source = QComboBox()
        for key, text in NOISE_SOURCES.items():
            self.noise_source.addItem(text, key)
        self.noise_source.setItemData(
            list(NOISE_SOURCES).index("auto"),
            "For data without a calibration stack: a Poisson-Gaussian camera model is estimated from the training "
            "images, and half-way through training replaced by a better one fitted to the model's own restorations.",
            Qt.ItemDataRole.ToolTipRole)
        self.noise_label = QLabel()
        self.noise_label.setWordWrap(True)
        self.noise_file = QLineEdit()
        self.noise_file.setPlaceholderText("noise_model.npz")
        self.noise_browse = QPushButton("...")
        self.noise_browse.clicked.connect(self._browse_noise_model)
        self.gaussian_sigma = QDoubleSpinBox()
        self.gaussian_sigma.setRange(1e-6, 1e9)
        self.gaussian_sigma.setDecimals(4)
        self.gaussian_sigma.setValue(10.0)

        self.preset = QComboBox()
        for name, preset in PRESETS.items():
            self.preset.addItem(preset_name(name), name)
            self.preset.setItemData(self.preset.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.preset.setCurrentIndex(list(PRESETS).index("fast"))
        self.patch_size = QSpinBox()
        self.patch_size.setRange(8, 1024)
        self.budget_kind = QComboBox()
        for key in BUDGETS:
            self.budget_kind.addItem(BUDGET_NAMES[key], key)
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.01, 1e7)
        self.budget.setDecimals(2)
        self.val_fraction = QDoubleSpinBox()
        self.val_fraction.setRange(0.0, 0.9)
        self.val_fraction.setSingleStep(0.05)
        self.layers_off_row = QHBoxLayout()
        self.layers_off: list[QCheckBox] = []
        self.device = QComboBox()
        for label, device in device_choices():
            self.device.addItem(label, device)
        self.output = QLineEdit()
        self.output.setPlaceholderText("default: ~/napari-hdn/models/<layer>-<date>")
        self.output_browse = QPushButton("...")
        self.output_browse.clicked.connect(self._browse_output)
        self.existing = QComboBox()
        for key, text in EXISTING.items():
            self.existing.addItem(text, key)
        self.live_preview = QCheckBox("Live preview of a crop every few seconds")
        self.live_preview.setChecked(True)
        explain_training_options(self)

        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.task = TaskPanel("Training", "Stop", graceful=True)
        self.task.finished.connect(self._training_finished)
        self.preview_task = TaskPanel("Training preview", "Cancel")
        self.preview_task.finished.connect(self._preview_finished)
        self.preview_task.setVisible(False)
        self.loss_plot = LossPlot()
        self.converged_label = QLabel()
        self.converged_label.setWordWrap(True)
        self.converged_label.setVisible(False)
        self._redraw_losses = qthrottled(self.loss_plot.redraw, timeout=1000, parent=self)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.save_button = QPushButton("Save model...")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button = QPushButton("Load model...")
        self.load_button.clicked.connect(self._load_dialog)

        self._lay_out()

        self.noise_source.currentIndexChanged.connect(self._noise_source_changed)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self._noise_source_changed()
        self._preset_changed()
        self.session.subscribe(self._session_changed)
        self._session_changed("noise_model")
        self._session_changed("model")

    def _lay_out(self) -> None:
        """Layers, noise model, size and length, folded advanced settings, Start, progress, losses, files."""
        layout = QVBoxLayout(self.body)
        layout.addWidget(QLabel("Noisy images to learn from (tick one or more):"))
        layout.addWidget(self.layers)
        form = QFormLayout()
        form.addRow("Noise model", self.noise_source)
        form.addRow(self.noise_label)  # a row of its own, so that a long source wraps
        form.addRow("Noise model file", hbox(self.noise_file, self.noise_browse))
        form.addRow("Noise sigma", self.gaussian_sigma)
        self._noise_form = form
        form.addRow("Network size", self.preset)
        form.addRow("Train for", hbox(self.budget, self.budget_kind))
        layout.addLayout(form)
        # Settings most runs leave as they are: folded away, so that the form fits a laptop screen.
        advanced = form_page(
            ("Tile size (px)", self.patch_size),
            ("Tiles held back to check progress", self.val_fraction),
            ("Detail layers to leave out", self.layers_off_row),
            ("Run on", self.device),
            ("Save model in", hbox(self.output, self.output_browse)),
            ("If that folder has a model", self.existing),
        )
        advanced.layout().setContentsMargins(0, 0, 0, 0)
        self.advanced = QCollapsible("Advanced settings")
        self.advanced.addWidget(advanced)
        layout.addWidget(self.advanced)
        layout.addWidget(self.start_from)
        layout.addWidget(self.live_preview)
        layout.addWidget(self.start_button)
        layout.addWidget(self.task)
        layout.addWidget(self.converged_label)
        layout.addWidget(self.preview_task)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.model_label)
        layout.addLayout(hbox(self.save_button, self.load_button))
        layout.addStretch(1)  # spare height below the controls, not between them

    def tasks(self) -> list[TaskPanel]:
        return [self.task, self.preview_task]

    # -- choices ----------------------------------------------------------------------------------------------
    def _noise_source_changed(self, *_: Any) -> None:
        key = self.noise_source.currentData()
        for field, show in ((self.noise_label, key == "session"), (self.gaussian_sigma, key == "gaussian")):
            field.setVisible(show)
        self.noise_file.setVisible(key == "file")
        self.noise_browse.setVisible(key == "file")
        self._noise_form.labelForField(self.gaussian_sigma).setVisible(key == "gaussian")
        file_label = self._noise_form.itemAt(2, QFormLayout.ItemRole.LabelRole)
        if file_label is not None and file_label.widget() is not None:
            file_label.widget().setVisible(key == "file")

    def _preset_changed(self, *_: Any) -> None:
        from ..training import PRESETS

        preset = PRESETS[self.preset.currentData()]
        self.patch_size.setValue(preset.train.patch_size)
        self.patch_size.setSingleStep(preset.model.stride)
        self.val_fraction.setValue(preset.train.val_fraction)
        if preset.train.minutes is not None:
            self.budget_kind.setCurrentIndex(BUDGETS.index("minutes"))
            self.budget.setValue(preset.train.minutes)
        elif preset.train.epochs is not None:
            self.budget_kind.setCurrentIndex(BUDGETS.index("epochs"))
            self.budget.setValue(preset.train.epochs)
        self._rebuild_layer_toggles()

    def _n_latent_layers(self) -> int:
        from ..training import PRESETS

        return int(self.overrides.get("n_latent_layers", PRESETS[self.preset.currentData()].model.n_latent_layers))

    def _rebuild_layer_toggles(self) -> None:
        for box in self.layers_off:
            discard_widget(box)
        self.layers_off = []
        for i in range(1, self._n_latent_layers() + 1):
            box = QCheckBox(f"z{i}")
            box.setToolTip(f"Leave out detail layer z{i} (latent layer {i} of the network: 1 is the finest) during "
                           "training. Only for noise with structure, e.g. z1, z2 for stripes along rows or columns.")
            self.layers_off.append(box)
            self.layers_off_row.addWidget(box)

    def set_overrides(self, **overrides: Any) -> None:
        """Extra network / training settings (names of ModelConfig and TrainConfig fields)."""
        self.overrides = dict(overrides)
        self._rebuild_layer_toggles()

    def _session_changed(self, what: str) -> None:
        if what == "noise_model":
            model = self.session.noise_model
            if model is None:
                self.noise_label.setText("none yet: fit one in the Noise model widget")
            else:
                self.noise_label.setText(f"{plain_noise_model(model)} ({self.session.noise_model_source})")
                self.noise_label.setToolTip(model.describe())
        elif what == "model":
            model = self.session.model
            self.model_label.setText(
                "No model yet." if model is None
                else f"Current model: {model_summary(model)}.\nFrom: {self.session.model_source}"
            )
            self.model_label.setToolTip("" if model is None else model.describe())

    def _browse_noise_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Noise model", "", "Noise model (*.npz)")
        if path:
            self.noise_file.setText(path)

    def _browse_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder for the model")
        if path:
            self.output.setText(path)

    # -- training ---------------------------------------------------------------------------------------------
    def training_arguments(self) -> dict[str, Any]:
        """The arguments of ``training_events`` from the widget's choices (clear errors for bad ones)."""
        layers = self.layers.layers()
        if not layers:
            raise InputError("No training layer chosen: tick one or more noisy image layers in the list.")
        images = [layer_array(layer, "training layer") for layer in layers]
        arguments: dict[str, Any] = {
            "images": images[0] if len(images) == 1 else images,
            "preset": self.preset.currentData(),
            "deactivate": tuple(i for i, box in enumerate(self.layers_off, start=1) if box.isChecked()),
            "device": self.device.currentData(),
            "patch_size": self.patch_size.value(),
            "val_fraction": self.val_fraction.value(),
            # Snapshots are cheap copies; they are previewed only while "Live preview" is ticked.
            "snapshot_every_s": PREVIEW_MIN_INTERVAL_S,
        }
        budget_kind, value = self.budget_kind.currentData(), self.budget.value()
        if budget_kind == "minutes":
            arguments["minutes"] = value
        else:
            if value != int(value):
                raise InputError(f"The number of {BUDGET_NAMES[budget_kind]} must be a whole number, not {value:g}.")
            arguments[budget_kind] = int(value)
        source = self.noise_source.currentData()
        if source == "session":
            if self.session.noise_model is None:
                raise InputError(
                    "No noise model: fit one in the Noise model widget (or enter the camera's known parameters "
                    "there), choose a noise-model file, or choose 'Gaussian noise, known sigma'."
                )
            arguments["noise_model"] = self.session.noise_model
        elif source == "file":
            if not self.noise_file.text().strip():
                raise InputError("No noise-model file chosen: choose a .npz file (...) or another noise-model source.")
            arguments["noise_model"] = self.noise_file.text().strip()
        elif source == "auto":
            arguments["noise_model"] = "auto"
        else:
            arguments["gaussian_sigma"] = self.gaussian_sigma.value()
        out = self.output.text().strip()
        arguments["out"] = Path(out).expanduser() if out else default_output_folder(layers[0].name)
        existing = self.existing.currentData()
        arguments["resume"] = existing == "resume"
        arguments["overwrite"] = existing == "replace"
        if arguments["resume"]:  # a resumed training keeps its own settings: pass only what may change
            for key in ("preset", "patch_size", "val_fraction"):
                arguments.pop(key)
        if self.threads is not None:
            arguments["threads"] = self.threads
        arguments.update(self.overrides)
        return arguments

    def start(self) -> bool:
        """Start training (or, with "Start from a trained model", an adaptation) in the background; False
        (with a message) if the choices are not usable."""
        from ..training import adapt_events, training_events

        def make_job(token):
            arguments = self.training_arguments()
            self._run = {"out": arguments["out"], "layer": self.layers.checked_names()[0]}
            self._preview_target = self._preview_crop(self.layers.layers()[0])
            if self.start_from.active():
                return adapt_events(stop=token, **self.start_from.adapt_arguments(arguments))
            return training_events(stop=token, **arguments)

        self.loss_plot.reset()
        self._show_convergence("")
        self._pending_model = None
        self._last_preview = 0.0
        started = self.task.start(make_job, self._trained, self._training_event)
        self.start_button.setEnabled(not started)
        return started

    def stop(self) -> None:
        """Ask training to stop after the current step; the model trained so far is kept."""
        self.task.stop()

    def _training_event(self, event: Any) -> None:
        kind = getattr(event, "kind", "")
        if kind == "step" and event.loss is not None:
            self.loss_plot.add_step(event.step, event.loss, event.reconstruction_loss, event.kl_loss,
                                    event.kl_per_layer)
            self._redraw_losses()
        elif kind == "validation" and event.val_loss is not None:
            self.loss_plot.add_validation(event.step, event.val_loss)
            self._redraw_losses()
            self._show_convergence(converged_hint(self.loss_plot.val))
        elif kind == "snapshot" and event.model is not None and self.live_preview.isChecked():
            self._pending_model = event.model
            self._maybe_preview()

    def _show_convergence(self, hint: str) -> None:
        self.converged_label.setText(hint)
        self.converged_label.setVisible(bool(hint))

    def _trained(self, model: Any) -> None:
        out = self._run["out"]
        # Training ends with the best weights (as in best/, else last/ when nothing was validated): a one-pass
        # denoiser trained for this model is saved there.
        folder = next((Path(out) / name for name in ("best", "last") if (Path(out) / name).is_dir()), "")
        self.session.set_model(model, f"trained on '{self._run['layer']}', saved in {out}", str(folder))
        self.loss_plot.redraw()
        self.task.set_status(f"Training ended after {model.step} batches of tiles; the model is saved in {out} "
                             "and ready in the Restore widget.")
        if self.live_preview.isChecked():
            self._pending_model = model.copy()  # the session's model may be in use by a restoration
            self._last_preview = 0.0
            self._maybe_preview()

    def _training_finished(self, outcome: str) -> None:
        self.start_button.setEnabled(True)
        name = self._preview_target[0] if self._preview_target else None
        if name is not None and result_name(name, "training preview") in self.viewer.layers:
            self.viewer.layers[result_name(name, "training preview")].visible = False  # the image shows again
        self._show_convergence("")  # training has ended: nothing left to stop

    # -- live preview -----------------------------------------------------------------------------------------
    def _preview_crop(self, layer: Any) -> tuple[str, tuple[int, ...]]:
        """The layer and the origin (plane, y, x) of the crop previewed during training."""
        image = layer_array(layer, "training layer")
        lead = tuple(n // 2 for n in image.shape[:-2])
        origin = tuple(max((n - PREVIEW_CROP) // 2, 0) for n in image.shape[-2:])
        return layer.name, (*lead, *origin)

    def _maybe_preview(self) -> None:
        """Preview the latest snapshot unless a preview is running or the last one is too recent."""
        if self._pending_model is None or self.preview_task.running:
            return
        if time.monotonic() - self._last_preview < PREVIEW_MIN_INTERVAL_S and self.task.running:
            return
        model, self._pending_model = self._pending_model, None
        name, origin = self._preview_target or (None, ())
        if name is None or name not in self.viewer.layers:
            return
        image = layer_array(self.viewer.layers[name], "training layer")
        region = (*origin[:-2], *(slice(o, o + PREVIEW_CROP) for o in origin[-2:]))
        crop = np.asarray(image[region], dtype=np.float32)
        self._last_preview = time.monotonic()
        self.preview_task.start(lambda token: _preview_job(model, crop, token), self._previewed)

    def _previewed(self, mmse: Any) -> None:
        if mmse is None or self._preview_target is None:
            return
        name, origin = self._preview_target
        if name not in self.viewer.layers:
            return
        like = self.viewer.layers[name]
        scale = tuple(like.scale)[-2:]
        translate = tuple(t + o * s for t, o, s in zip(tuple(like.translate)[-2:], origin[-2:], scale))
        preview_name = result_name(name, "training preview")
        if preview_name in self.viewer.layers:
            layer = self.viewer.layers[preview_name]
            layer.data = mmse
            layer.translate = translate
        else:
            layer = self.viewer.add_image(mmse, name=preview_name, scale=scale, translate=translate,
                                          contrast_limits=tuple(like.contrast_limits),
                                          metadata=with_role(like.metadata, PREVIEW, source_layer=name))
        layer.visible = self.task.running  # once training has ended it no longer hides the image

    def _preview_finished(self, outcome: str) -> None:
        self._maybe_preview()

    # -- model files ------------------------------------------------------------------------------------------
    def save_model(self, path: str | Path) -> bool:
        def action() -> str:
            if self.session.model is None:
                raise InputError("There is no model to save yet: train one or load one.")
            self.session.model.save(path)
            return f"Saved the model to {path}."

        return attempt(self.task, "Saving the model", action)

    def load_model(self, path: str | Path) -> bool:
        return load_model_into(self.session, path, self.task)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model (a folder)", "hdn-model")
        if path:
            self.save_model(path)

    def _load_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Load model folder")
        if path:
            self.load_model(path)


def _preview_job(model: Any, crop: np.ndarray, token: Any):
    """Restore a crop with a snapshot of the model in training (in the preview worker)."""
    from ..inference import restore_events

    # One thread: the preview runs beside training, which uses every core.
    result = yield from restore_events(model, crop, PREVIEW_SAMPLES, 0, threads=1, stop=token)
    return result.mmse

