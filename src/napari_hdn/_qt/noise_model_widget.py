"""The "Noise model" dock widget: calibrate p(x|s) from layers, or from known camera parameters.

Sources: a calibration stack of repeated acquisitions, a noisy layer with a
pseudo-clean layer, or known parameters. The fit runs the core's
``calibrate_events`` / ``fit_noise_model_events`` in a thread worker; the
result goes into the viewer's session, where the Train widget picks it up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ..foundation.errors import InputError
from ..plugin.layer_roles import CALIBRATION, PREVIEW, layer_role
from . import noise_sources
from ._common import (
    HDNWidget,
    LayerChoice,
    TaskPanel,
    attempt,
    form_page,
    hbox,
    image_layers,
    layer_array,
)
from ._forms import FittingStack, _int_spin, _spin, _wrapping_label, is_unset, unset_spin
from ._plots import NoiseModelPlot
from .plain_words import plain_noise_model
from .tooltips import explain_fit_options

SOURCES = {
    "stack": "Calibration stack (repeated acquisitions)",
    "pair": "Noisy image + pseudo-clean image",
    "known": "Known parameters",
    **noise_sources.SOURCES,  # no calibration data: estimated, or bootstrapped from a trained model
}
KINDS = {
    "gmm": "Gaussian mixture (GMM)",
    "histogram": "Histogram",
    "poisson_gaussian": "Poisson-Gaussian",
    "gaussian": "Gaussian (signal-independent)",
}
KNOWN = {"poisson_gaussian": "Poisson-Gaussian camera", "gaussian": "Gaussian, known sigma"}
CHOOSE_STACK = "Choose the calibration stack"
# Why "Fit" is disabled, per source, while a layer it needs is not chosen.
FIT_NEEDS = {
    "stack": "Choose the calibration stack first: repeated images of one unchanging field of view "
             "(not a z-stack, not a time-lapse of a moving sample).",
    "pair": "Choose the noisy image and a denoised version of it (the pseudo-clean image) first.",
    "known": "Enter the camera's values first (gain, dark offset and read noise, from its data sheet or a "
             "calibration; or the noise sigma): they are not set.",
    **noise_sources.FIT_NEEDS,
}
STACK_WARNING = (
    "\u26a0 This calibration stack is not quite static: its frames differ by {percent:.0f} % more than their noise "
    "explains (drift, bleaching or movement?), so the noise model overestimates the noise by about that much. "
    "Register the frames or crop the part that changes, if you can."
)
WARNING_STYLE = "color: #e8a33d;"  # amber, readable on napari's dark and light themes


class NoiseModelWidget(HDNWidget):
    """Calibrate, inspect, save and load the pixel noise model p(x|s)."""

    STALE_ERRORS_ON = ("noise_model",)

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self._diagnostics: tuple[Any, Any] | None = None  # (noise model, its diagnostics against data)

        # -- source ----------------------------------------------------------------------------------------
        self.source = QComboBox()
        for key, text in SOURCES.items():
            self.source.addItem(text, key)
        self._make_layer_choices()
        self.known_kind = QComboBox()
        for key, text in KNOWN.items():
            self.known_kind.addItem(text, key)
        # Not set until the user enters the camera's values: no example values that look like a calibration.
        self.gain = unset_spin(0.0, 1e6, 4, 0.1)
        self.offset = unset_spin(-1e9, 1e9, 3)
        self.read_sigma = unset_spin(0.0, 1e9, 4, 0.1)
        self.sigma = unset_spin(0.0, 1e9, 4, 0.1)
        for box in (self.gain, self.offset, self.read_sigma, self.sigma):
            box.valueChanged.connect(self._update_fit_button)

        known_page = form_page(
            ("Model", self.known_kind),
            ("Gain (units/photon)", self.gain),
            ("Offset (dark level)", self.offset),
            ("Read noise sigma", self.read_sigma),
            ("Sigma", self.sigma),
        )
        self._known_form = known_page.layout()
        self.source_pages = FittingStack()
        for page in (
            form_page(("Calibration stack", self.stack_layer)),
            form_page(("Noisy layer", self.noisy_layer), ("Pseudo-clean layer", self.clean_layer)),
            known_page,
            form_page(("Noisy images", self.estimate_layer)),
            form_page(("Noisy images", self.bootstrap_layer)),
        ):
            self.source_pages.addWidget(page)
        for key, tip in noise_sources.TOOLTIPS.items():
            self.source.setItemData(list(SOURCES).index(key), tip, Qt.ItemDataRole.ToolTipRole)

        # -- kind and advanced options ---------------------------------------------------------------------
        self.kind = QComboBox()
        for key, text in KINDS.items():
            self.kind.addItem(text, key)
        self.clip_low = _spin(0.0, 100.0, 0.5, 2, 0.5)
        self.clip_high = _spin(0.0, 100.0, 99.5, 2, 0.5)
        self.max_pairs = _int_spin(100, 100_000_000, 5_000_000)
        self.seed = _int_spin(0, 2**31 - 1, 0)
        self.n_gaussians = _int_spin(1, 20, 3)
        self.degree = _int_spin(0, 6, 1)
        self.steps = _int_spin(0, 100_000, 400)
        self.min_sigma = _spin(0.0, 1e9, 0.0, 4, 0.1)
        self.min_sigma.setSpecialValueText("auto")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.bins = _int_spin(2, 4096, 128)
        self.signal_bins = _int_spin(1, 4096, 64)
        self.pg_offset_known = QCheckBox("known dark offset")
        self.pg_offset = _spin(-1e9, 1e9, 100.0, 3)
        self.pg_bins = _int_spin(2, 1000, 50)
        explain_fit_options(self)

        common = form_page(
            ("Signal percentiles", hbox(self.clip_low, self.clip_high)),
            ("Max pixel pairs", self.max_pairs),
            ("Seed", self.seed),
        )
        gmm_page = form_page(
            ("Gaussians", self.n_gaussians),
            ("Polynomial degree", self.degree),
            ("Fit steps", self.steps),
            ("Min sigma", self.min_sigma),
            ("Device", self.device),
        )
        hist_page = form_page(("Observation bins", self.bins), ("Signal bins", self.signal_bins))
        pg_page = form_page((self.pg_offset_known, self.pg_offset), ("Variance-fit bins", self.pg_bins))
        self.kind_pages = FittingStack()
        for page in (gmm_page, hist_page, pg_page, QWidget()):
            self.kind_pages.addWidget(page)
        advanced_content = QWidget()
        box = QVBoxLayout(advanced_content)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(common)
        box.addWidget(self.kind_pages)
        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(advanced_content)

        # -- actions, result -------------------------------------------------------------------------------
        self.fit_button = QPushButton("Fit noise model")
        self.fit_button.clicked.connect(self.fit)
        self.fit_hint = _wrapping_label()  # why Fit is disabled
        self.data_warning = _wrapping_label(WARNING_STYLE)  # the core's warnings about the data (a moving stack...)
        self.task = TaskPanel("Noise-model fit", "Cancel")
        self.description = QLabel("No noise model yet.")
        self.description.setWordWrap(True)
        self.plot = NoiseModelPlot()
        self.save_button = QPushButton("Save...")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button = QPushButton("Load...")
        self.load_button.clicked.connect(self._load_dialog)

        self._lay_out()

        self.source.currentIndexChanged.connect(self._source_changed)
        self.kind.currentIndexChanged.connect(lambda i: self.kind_pages.setCurrentIndex(i))
        self.known_kind.currentIndexChanged.connect(self._known_kind_changed)
        self._source_changed()
        self._known_kind_changed()
        self.session.subscribe(self._session_changed)
        self._session_changed("noise_model")

    def tasks(self) -> list[TaskPanel]:
        return [self.task]

    def _lay_out(self) -> None:
        """Source, its page, model type, advanced options, Fit, progress, result and files, top to bottom."""
        layout = QVBoxLayout(self.body)
        top = QFormLayout()
        top.addRow("Source", self.source)
        layout.addLayout(top)
        layout.addWidget(self.source_pages)
        kind_form = QFormLayout()
        self.kind_label = QLabel("Model type")
        kind_form.addRow(self.kind_label, self.kind)
        layout.addLayout(kind_form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.fit_button)
        layout.addWidget(self.fit_hint)
        layout.addWidget(self.task)
        layout.addWidget(self.data_warning)
        layout.addWidget(self.description)
        layout.addWidget(self.plot)
        layout.addLayout(hbox(self.save_button, self.load_button))
        layout.addStretch(1)  # spare height below the controls, not between them

    def _make_layer_choices(self) -> None:
        """No silent default: a layer must be chosen, except the one the sample data marks as calibration stack."""
        self.stack_layer = LayerChoice(self.viewer, CHOOSE_STACK, prefer=CALIBRATION)
        self.noisy_layer = LayerChoice(self.viewer, "Choose the noisy image")
        # A restoration or the ground truth may serve as the pseudo-clean image; previews may not.
        self.clean_layer = LayerChoice(self.viewer, "Choose the pseudo-clean image",
                                       accept=lambda layer: layer_role(layer.metadata) != PREVIEW)
        self.estimate_layer = LayerChoice(self.viewer, "Choose the noisy images")
        self.bootstrap_layer = LayerChoice(self.viewer, "Choose the noisy images")
        for choice in (self.stack_layer, self.noisy_layer, self.clean_layer, self.estimate_layer, self.bootstrap_layer):
            choice.currentIndexChanged.connect(self._update_fit_button)  # Fit only with the layers it needs

    # -- choices ------------------------------------------------------------------------------------------
    def set_source(self, key: str) -> None:
        self.source.setCurrentIndex(list(SOURCES).index(key))

    def set_kind(self, key: str) -> None:
        self.kind.setCurrentIndex(list(KINDS).index(key))

    def _source_changed(self, *_: Any) -> None:
        key = self.source.currentData()
        self.source_pages.setCurrentIndex(list(SOURCES).index(key))
        from_data = key != "known"
        if key == "bootstrap" and self.kind.currentData() not in ("gmm", "histogram"):
            self.set_kind("gmm")
        self.kind.setVisible(from_data and key != "noisy")  # an estimate is always Poisson-Gaussian
        self.kind_label.setVisible(from_data and key != "noisy")
        self.advanced.setVisible(from_data and key != "noisy")
        self.fit_button.setText("Fit noise model" if from_data else "Use these parameters")
        self._update_fit_button()

    def _update_fit_button(self, *_: Any) -> None:
        """Fit only once the layers it needs are chosen; the hint says what is missing.

        A failure shown is about the source and layers chosen: it goes when they change."""
        self.task.clear_error()
        source = self.source.currentData()
        needed = {"stack": (self.stack_layer,), "pair": (self.noisy_layer, self.clean_layer),
                  "noisy": (self.estimate_layer,), "bootstrap": (self.bootstrap_layer,)}.get(source, ())
        missing = any(choice.layer() is None for choice in needed) or (
            source == "bootstrap" and self.session.model is None) or (
            source == "known" and any(is_unset(box) for box in self._known_boxes()))
        self.fit_button.setEnabled(not missing)
        self.fit_hint.setText(FIT_NEEDS[source] if missing else "")
        self.fit_hint.setVisible(missing)

    def _known_boxes(self) -> tuple[Any, ...]:
        poisson = self.known_kind.currentData() == "poisson_gaussian"
        return (self.gain, self.offset, self.read_sigma) if poisson else (self.sigma,)

    def _known_kind_changed(self, *_: Any) -> None:
        poisson = self.known_kind.currentData() == "poisson_gaussian"
        shown = {self.gain: poisson, self.offset: poisson, self.read_sigma: poisson, self.sigma: not poisson}
        for box, show in shown.items():
            box.setVisible(show)
            self._known_form.labelForField(box).setVisible(show)
        self._update_fit_button()

    def fit_options(self) -> dict[str, Any]:
        """The options of the chosen kind, as the core's ``make_options`` takes them."""
        kind = self.kind.currentData()
        options: dict[str, Any] = {
            "clip_percentiles": (self.clip_low.value(), self.clip_high.value()),
            "max_pairs": self.max_pairs.value(),
            "seed": self.seed.value(),
        }
        if kind == "gmm":
            options.update(
                n_gaussians=self.n_gaussians.value(),
                degree=self.degree.value(),
                steps=self.steps.value(),
                min_sigma=self.min_sigma.value() or None,
                device=self.device.currentText(),
            )
        elif kind == "histogram":
            options.update(bins=self.bins.value(), signal_bins=self.signal_bins.value())
        elif kind == "poisson_gaussian":
            options.update(offset=self.pg_offset.value() if self.pg_offset_known.isChecked() else None,
                           n_bins=self.pg_bins.value())
        return options

    # -- fitting ------------------------------------------------------------------------------------------
    def fit(self) -> bool:
        """Start the fit (or build the known-parameter model); False with a message if the choices are bad."""
        source = self.source.currentData()
        try:
            if source == "known":
                self._use_known_parameters()
                return True
            job, source_text = self._fit_job(source)
        except InputError as err:
            self.task.fail(err, "Noise-model fit")
            return False
        self.data_warning.setVisible(False)
        return self.task.start(job, lambda result: self._fitted(result, source_text))

    def _show_data_checks(self, model: Any) -> None:
        """Show the core's static-stack check (``stack_check``) here, where the fit was asked for.

        From the result's provenance rather than the warning itself: warnings raised in a worker
        thread reach the widget only as long as no other job changes the warning filters meanwhile.
        """
        from ..noise_models.stack_check import WARN_EXCESS

        excess = (getattr(model, "provenance", None) or {}).get("frame_change_excess")
        if excess is not None and excess > WARN_EXCESS:
            self.data_warning.setText(STACK_WARNING.format(percent=100 * excess))
            self.data_warning.setVisible(True)

    def _use_known_parameters(self) -> None:
        from ..noise_models import GaussianNoiseModel, PoissonGaussianNoiseModel

        if self.known_kind.currentData() == "poisson_gaussian":
            model = PoissonGaussianNoiseModel(self.gain.value(), self.offset.value(), self.read_sigma.value())
        else:
            model = GaussianNoiseModel(self.sigma.value())
        self._diagnostics = None
        self.session.set_noise_model(model, "known parameters")
        self.task.set_status(f"Using the {plain_noise_model(model)}.")

    def _fit_job(self, source: str):
        from ..noise_models import (
            calibrate_events,
            fit_noise_model_events,
            noise_model_diagnostics,
        )

        kind = self.kind.currentData()
        options = self.fit_options()
        clip = options["clip_percentiles"]
        if source == "noisy":
            return noise_sources.estimate_job(self.estimate_layer.layer())
        if source == "bootstrap":
            return noise_sources.bootstrap_job(self.session.model, self.bootstrap_layer.layer(), kind, options)
        if source == "stack":
            layer = self.stack_layer.layer()
            stack = layer_array(layer, "calibration stack layer")
            description = f"calibrated on '{layer.name}'"

            def make_job(token):
                model = yield from calibrate_events(stack, kind, stop=token, **options)
                return model, noise_model_diagnostics(model, stack=stack, clip_percentiles=clip)

        else:
            noisy_layer, clean_layer = self.noisy_layer.layer(), self.clean_layer.layer()
            observation = layer_array(noisy_layer, "noisy layer")
            signal = layer_array(clean_layer, "pseudo-clean layer")
            if noisy_layer.name == clean_layer.name:  # (napari hands out a new proxy per look-up)
                raise InputError(
                    "The noisy and the pseudo-clean layer are the same layer: choose a denoised version of the "
                    "noisy image (e.g. another denoiser's output) as the pseudo-clean layer."
                )
            description = f"fitted on '{noisy_layer.name}' vs '{clean_layer.name}'"

            def make_job(token):
                model = yield from fit_noise_model_events(signal, observation, kind, stop=token, **options)
                diagnostics = noise_model_diagnostics(
                    model, signal=signal, observation=observation, clip_percentiles=clip
                )
                return model, diagnostics

        return make_job, description

    def _fitted(self, result: tuple[Any, Any] | None, source_text: str) -> None:
        if result is None:  # a bootstrap stopped before its restoration was complete
            return
        model, diagnostics = result
        self._show_data_checks(model)
        self._diagnostics = None if diagnostics is None else (model, diagnostics)
        self.session.set_noise_model(model, source_text)
        self.task.set_status(f"Fitted ({source_text}).")

    # -- showing the current model ----------------------------------------------------------------------------
    def _session_changed(self, what: str) -> None:
        if what == "model":  # bootstrapping needs a model
            self._update_fit_button()
        if what != "noise_model":
            return
        model = self.session.noise_model
        if model is None:
            self.description.setText("No noise model yet: fit one, enter known parameters or load a file.")
            self.plot.clear()
            return
        self.description.setText(f"Current noise model ({self.session.noise_model_source}):\n{plain_noise_model(model)}")
        self.description.setToolTip(model.describe())
        if self._diagnostics is not None and self._diagnostics[0] is model:
            self.plot.show_diagnostics(self._diagnostics[1])
        else:
            self._plot_model_only(model)

    def _plot_model_only(self, model: Any) -> None:
        """Curves of a model without data: over its calibrated range, else over a layer's intensities."""
        from ..noise_models.diagnostics import noise_model_curves

        low, high = model.signal_range
        if not (math.isfinite(low) and math.isfinite(high)):
            low, high = self._intensity_range()
            if low is None:
                self.plot.clear("No intensities to draw this model over: open an image layer to see its curves.")
                return
        c = noise_model_curves(model, (low, high))
        self.plot.show_model_only(c.signal, c.variance, c.signal_levels, c.observation_grid, c.density)

    def _intensity_range(self) -> tuple[float | None, float | None]:
        """Intensities to draw a model over: of the chosen layers, else of any image (only for the plot)."""
        chosen = [choice.layer() for choice in (self.stack_layer, self.noisy_layer)]
        for layer in [*chosen, *image_layers(self.viewer)]:
            if layer is not None and not layer.rgb:
                plane = np.asarray(layer_array(layer, "layer")[(0,) * (layer.ndim - 2)], dtype=np.float64)
                low, high = np.percentile(plane, (1, 99))
                if low < high:
                    return float(low), float(high)
        return None, None

    # -- files --------------------------------------------------------------------------------------------
    def save_noise_model(self, path: str | Path) -> bool:
        def action() -> str:
            if self.session.noise_model is None:
                raise InputError("There is no noise model to save yet: fit one, enter known parameters or load one.")
            self.session.noise_model.save(path)
            return f"Saved the noise model to {path}."

        return attempt(self.task, "Saving the noise model", action)

    def load_noise_model(self, path: str | Path) -> bool:
        def action() -> str:
            from ..noise_models import load_noise_model

            model = load_noise_model(path)
            self._diagnostics = None
            self.session.set_noise_model(model, str(path))
            return f"Loaded {path}."

        return attempt(self.task, "Loading the noise model", action)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save noise model", "noise_model.npz", "Noise model (*.npz)")
        if path:
            self.save_noise_model(path if path.endswith(".npz") else path + ".npz")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load noise model", "", "Noise model (*.npz)")
        if path:
            self.load_noise_model(path)

