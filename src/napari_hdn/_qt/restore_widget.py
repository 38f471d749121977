"""The "Restore" dock widget: posterior samples, MMSE, variance, activations, and the latent-layer panel.

Restoration runs the core's ``restore_events`` (and ``layer_activations_events``)
in a thread worker and writes layers named after the input and the layers switched
off ("<name> denoised" (the MMSE), "<name> denoised (no z1)", ...; see ``result_names`` for
when a result is updated in place). The latent-layer panel switches layers off and
previews the effect on the region in view, in the background, optionally side by
side with the MMSE of every layer on. "Save results..." writes chosen result
layers to files (``napari_hdn.io.result_files``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced

from ..foundation.errors import InputError
from ..plugin.layer_roles import PREVIEW, with_role
from ._common import HDNWidget, LayerChoice, TaskPanel, hbox, layer_array, load_model_into, model_summary, show_image
from ._models import checkpoint_line
from .bioimageio_button import BioimageioExport
from .compare import SideBySide
from .latent_panel import NOISE_MARK, LatentLayerPanel  # noqa: F401 (NOISE_MARK: tests)
from .one_pass import OnePassControls, layers_text
from .restore_target import RestoreTarget
from .restore_view import (  # noqa: F401 (PLANES_KEY, text_overlay: tests)
    PLANES_KEY,
    _restore_and_explain,
    restored_line,
    uncertainty_record,
    region_in_view,
    show_plane_label,
    text_overlay,
)
from .result_axes import follow_sliders, show_stack
from .result_names import HALF_WIDTH, all_on_result, free_names, output_name, result_name, variant_tag
from .save_results import ask_and_save
from .tooltips import explain_restoration_options

# Posterior samples of a preview (see benchmarks/bench_latent_preview.py for its latency).
DEFAULT_PREVIEW_SAMPLES = 4
# Quiet time after the last toggle click before the preview starts (several quick clicks: one preview).
PREVIEW_DEBOUNCE_MS = 300
SIDE_BY_SIDE_TIP = ("Shows the preview (the layers you switched off) next to the denoised image with every layer on, "
                    "in napari's grid; the other layers are hidden meanwhile and come back when you untick this. "
                    "Restore the whole image first to have the all-layers-on image; until then the preview is "
                    "shown next to the input.")


class RestoreWidget(HDNWidget):
    """Restore an image layer with the current HDN model and explore its latent layers."""

    STALE_ERRORS_ON = ("model",)

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self._mean_kl: tuple[Any, list[float]] | None = None  # (model, KL per layer from its KL maps)
        self._preview_again = False

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.load_button = QPushButton("Load model...")
        self.load_button.clicked.connect(self._load_dialog)
        self.input_layer = LayerChoice(self.viewer)
        self.export = BioimageioExport(self._checked_model, lambda: layer_array(self.input_layer.layer(), "input layer"))
        self.n_samples = QSpinBox()
        self.n_samples.setRange(1, 10_000)
        self.n_samples.setValue(100)
        self.keep_samples = QSpinBox()
        self.keep_samples.setRange(0, self.n_samples.value())
        self.keep_samples.setValue(10)
        # More samples cannot be kept than are drawn (restore refuses it): the limit follows the count.
        self.n_samples.valueChanged.connect(self.keep_samples.setMaximum)
        self.tta = QCheckBox("Average over 8 flips and rotations (slower)")
        self.activations = QCheckBox("Show what each detail layer contributes")
        self.activations.setChecked(True)
        self.check_error = QCheckBox("Estimate how far it is from the truth (slower)")
        self.target = RestoreTarget()
        for signal in (self.input_layer.currentIndexChanged, self.target.choice.currentIndexChanged,
                       self.n_samples.valueChanged, self.tta.toggled):
            signal.connect(self._update_target)
        self.restore_button = QPushButton("Restore")
        self.restore_button.clicked.connect(self.restore)
        self.task = TaskPanel("Restoration", "Cancel")

        self.one_pass = OnePassControls()
        self.one_pass.distill_button.clicked.connect(self.distill)
        self.one_pass.task.idle_status = lambda: self.one_pass.status_line(self.session.model,
                                                                           self.latent.switched_off())
        self.one_pass.method.currentIndexChanged.connect(self._choice_changed)
        self.latent = LatentLayerPanel()
        self.preview_samples = QSpinBox()
        self.preview_samples.setRange(1, 1000)
        self.preview_samples.setValue(DEFAULT_PREVIEW_SAMPLES)
        self.preview_task = TaskPanel("Preview", "Cancel", hidden_until_used=True)
        self.preview_task.finished.connect(self._preview_finished)
        self.apply_button = QPushButton("Apply to whole image")
        self.apply_button.clicked.connect(self.restore)
        self.side_by_side = QCheckBox("Side by side with all layers on")
        self.side_by_side.setToolTip(SIDE_BY_SIDE_TIP)
        self.side_by_side.toggled.connect(self._compare_changed)
        self.compare = SideBySide(self.viewer)
        self.save_button = QPushButton("Save results...")
        self.save_button.clicked.connect(self.save_dialog)
        self.suggest_button = QPushButton("Which layers hold noise?")
        self.suggest_button.clicked.connect(self.suggest)
        self.use_suggestion_button = QPushButton("Apply suggestion")
        self.use_suggestion_button.setEnabled(False)
        self.use_suggestion_button.clicked.connect(self.use_suggestion)
        self.suggest_task = TaskPanel("Suggestion", "Cancel", hidden_until_used=True, idle_status=self._suggested_line)
        self.suggestion, self.opinion = None, None
        self.second_opinion = QCheckBox("Check it with the error estimate (slower)")
        panel = self.latent.layout()
        panel.addLayout(hbox(self.suggest_button, self.use_suggestion_button))
        panel.addWidget(self.second_opinion)
        panel.addWidget(self.suggest_task)
        row = QFormLayout()
        row.addRow("Samples per preview", self.preview_samples)
        panel.addLayout(row)
        panel.addWidget(self.side_by_side)
        panel.addWidget(self.preview_task)
        panel.addWidget(self.apply_button)

        layout = QVBoxLayout(self.body)
        layout.addLayout(hbox(self.model_label, self.load_button))
        layout.addWidget(self.export)
        form = QFormLayout()
        form.addRow("Input layer", self.input_layer)
        form.addRow("Restore", self.target)
        form.addRow("Samples to average", self.n_samples)
        form.addRow("Samples to show", self.keep_samples)
        self._form = form
        layout.addWidget(self.one_pass)
        layout.addLayout(form)
        layout.addWidget(self.tta)
        layout.addWidget(self.activations)
        layout.addWidget(self.check_error)
        layout.addWidget(self.restore_button)
        layout.addWidget(self.task)
        layout.addWidget(self.save_button)
        layout.addWidget(self.latent)
        layout.addStretch(1)  # spare height below the controls, not between them

        # Debounced: several quick clicks on the toggles give one preview, of the last state.
        self.request_preview = qdebounced(self.preview, timeout=PREVIEW_DEBOUNCE_MS, parent=self)
        self.session.subscribe(self._session_changed)
        self._session_changed("model")
        self.viewer.dims.events.current_step.connect(self._show_plane_label)
        self.viewer.dims.events.current_step.connect(self._follow_sliders)
        self.viewer.layers.selection.events.active.connect(self._show_plane_label)
        self._choice_changed()
        explain_restoration_options(self)

    def tasks(self) -> list[TaskPanel]:
        return [self.task, self.preview_task, self.suggest_task, self.one_pass.task, self.export.task]

    def shutdown(self) -> None:
        self.compare.stop()  # a closed widget leaves no layers hidden by its comparison
        super().shutdown()

    # -- model ------------------------------------------------------------------------------------------------
    def _session_changed(self, what: str) -> None:
        if what != "model":
            return
        model = self.session.model
        if model is None:
            self.model_label.setText("No model: train one in the Train widget or load a model folder.")
        else:
            checkpoint = checkpoint_line(self.session.model_folder)
            self.model_label.setText(f"Model: {model_summary(model)}.\nFrom: {self.session.model_source}"
                                     + (f"\n{checkpoint}" if checkpoint else ""))
            self.model_label.setToolTip(model.describe())  # the precise terms
        self.latent.set_model(model, model.training_kl_per_pixel() if model is not None else None, "training")
        for toggle in self.latent.toggles:
            toggle.toggled.connect(lambda _checked: self.request_preview())
            toggle.toggled.connect(self._choice_changed)
        self.suggestion, self.opinion = None, None
        self.use_suggestion_button.setEnabled(False)
        self.suggest_task.refresh()  # the verdict's line goes with the verdict
        self._choice_changed()

    def _choice_changed(self, *_: Any) -> None:
        """The method or the layers switched off changed: the one-pass line follows, a failure about them goes.

        In one-pass mode the settings of sampling (counts, flips, activations) do not apply and are hidden."""
        sampling = not self.one_pass.one_pass()
        for box in (self.n_samples, self.keep_samples):
            box.setVisible(sampling)
            self._form.labelForField(box).setVisible(sampling)
        self.tta.setVisible(sampling)
        self.activations.setVisible(sampling)
        self.check_error.setVisible(sampling)
        self._update_target()
        self.task.clear_error("one_pass")
        self.one_pass.task.clear_error("one_pass")
        self.one_pass.task.refresh()

    def _update_target(self, *_: Any) -> None:
        """"Plane in view / Whole stack" for stacks only, and the estimated time of the job chosen."""
        layer = self.input_layer.layer()
        shape = None if layer is None or layer.rgb else tuple(layer_array(layer, "input layer").shape)
        stack = shape is not None and len(shape) > 2
        self.target.setVisible(stack)
        self._form.labelForField(self.target).setVisible(stack)
        samples = self.n_samples.value() * (8 if self.tta.isChecked() else 1)
        self.target.show_estimate(self.session.model, shape, samples, self.one_pass.one_pass())

    def load_model(self, path: str | Path) -> bool:
        return load_model_into(self.session, path, self.task)

    def _load_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Load model folder")
        if path:
            self.load_model(path)

    def _checked_model(self) -> Any:
        model = self.session.model
        if model is None:
            raise InputError("No model: train one in the Train widget, or load a model folder (Load model...).")
        return model

    # -- full restoration -------------------------------------------------------------------------------------
    def restore(self) -> bool:
        """Restore the input layer with the panel's layers off; False (with a message) if it cannot start."""
        from ..inference import layer_activations_events, restore_events

        if self.one_pass.one_pass():
            return self._restore_one_pass()

        def make_job(token):
            model = self._checked_model()
            layer = self.input_layer.layer()
            image, plane = self.target.part(self.viewer, layer, layer_array(layer, "input layer"))
            off = self.latent.switched_off()
            threads = self.threads_for(self.task)
            samples = self.n_samples.value() * (8 if self.tta.isChecked() else 1)
            restoring = restore_events(
                model, image, self.n_samples.value(), self.keep_samples.value(), deactivate=off,
                tta=self.tta.isChecked(), threads=threads, calibrate=self.check_error.isChecked(), stop=token,
            )
            explaining = None
            if self.activations.isChecked():
                explaining = layer_activations_events(model, image, threads=threads, stop=token)
            self._job_input = (model, layer.name)
            self._job_plane = plane
            self._job_model = {"model": self.session.model_source, "model_step": int(model.step)}
            self.target.started("restore", model, np.prod(image.shape), samples)
            return _restore_and_explain(restoring, explaining)

        return self.task.start(make_job, self._restored)

    def _restore_one_pass(self) -> bool:
        from ..direct import denoise_events

        def make_job(token):
            model = self._checked_model()
            layer = self.input_layer.layer()
            off = self.latent.switched_off()
            if not self.one_pass.has_denoiser(model, off):
                err = InputError(f"The model has no one-pass denoiser for {layers_text(off)}: click 'Train the "
                                 "one-pass denoiser' (a few minutes), or choose Samples.")
                err.gui_cause = "one_pass"  # goes when the method, the layers or the denoisers change
                raise err
            self._job_input = (model, layer.name, off)
            image, self._job_plane = self.target.part(self.viewer, layer, layer_array(layer, "input layer"))
            self._job_model = {"model": self.session.model_source, "model_step": int(model.step)}
            return denoise_events(model, image, off, threads=self.threads_for(self.task), stop=token)

        return self.task.start(make_job, self._restored_one_pass)

    def _restored_one_pass(self, mmse: Any) -> None:
        model, name, off = self._job_input
        if mmse is None or name not in self.viewer.layers:
            return
        like = self.viewer.layers[name]
        switched_off = [i for i in off if i not in model.trained_deactivated]
        plane = self._job_plane
        identity = {"source_layer": name, "method": "direct denoiser (one pass)", "plane": list(plane),
                    "deactivated_layers": list(off), "switched_off": switched_off, **self._job_model}
        (mmse_name,) = free_names(self.viewer, [result_name(name, "MMSE", variant_tag(switched_off, True, plane))],
                                  identity)
        same_contrast = {} if like.rgb else {"contrast_limits": tuple(like.contrast_limits)}
        show_image(self.viewer, mmse_name, mmse, like, metadata={"napari_hdn": {**identity, "result": "MMSE"}},
                   offset=plane, **same_contrast)
        self.task.set_status(f"Restored '{name}' in one pass into '{mmse_name}'.")

    def distill(self) -> bool:
        """Train a one-pass denoiser for the layers switched off now, on the input layer."""
        try:
            model = self._checked_model()
            image = layer_array(self.input_layer.layer(), "input layer")
        except InputError as err:
            self.one_pass.task.fail(err, "Training the one-pass denoiser", cause="model")
            return False
        off = self.latent.switched_off()
        # Saved into the folder of the model it was trained for (not of a model loaded meanwhile).
        folder = self.session.model_folder
        return self.one_pass.start_distill(model, image, off, folder, self._choice_changed)

    def _restored(self, result: tuple[Any, Any]) -> None:
        restoration, activations = result
        model, name = self._job_input
        plane = self._job_plane
        self.target.finished("restore")
        self._update_target()
        if name not in self.viewer.layers:
            self.task.set_status(f"The input layer '{name}' was removed during the restoration; results dropped.")
            return
        like = self.viewer.layers[name]
        switched_off = [i for i in restoration.deactivate if i not in model.trained_deactivated]
        identity = {"source_layer": name, "method": "posterior samples", "deactivated_layers":
                    list(restoration.deactivate), "switched_off": switched_off, "plane": list(plane),
                    **self._job_model}
        about = {**identity, "n_samples": restoration.n_samples}
        about["uncertainty"] = uncertainty_record(restoration)
        if self.suggestion is not None and tuple(restoration.deactivate) == tuple(self.suggestion.layers):
            about["suggestion"] = self.suggestion.to_metadata()  # the choice came from it
        tag = variant_tag(switched_off, plane=plane)
        mmse_name, variance_name, spread_name, samples_name = free_names(
            self.viewer, [result_name(name, what, tag) for what in ("MMSE", "variance", HALF_WIDTH, "samples")],
            identity)
        planes = {PLANES_KEY: [f"detail layer z{i}" for i in range(1, model.n_layers + 1)]}
        same_contrast = {} if like.rgb else {"contrast_limits": tuple(like.contrast_limits)}
        show_image(self.viewer, mmse_name, restoration.mmse, like, metadata={"napari_hdn": {**about, "result": "MMSE"}},
                   offset=plane, **same_contrast)
        show_image(self.viewer, variance_name, restoration.variance, like, offset=plane,
                   metadata={"napari_hdn": {**about, "result": "variance"}}, colormap="magma", visible=False)
        show_image(self.viewer, spread_name, restoration.half_width_90, like, offset=plane,
                   metadata={"napari_hdn": {**about, "result": HALF_WIDTH, "units": "the input's intensity units"}},
                   colormap="magma", visible=False)
        if restoration.samples.shape[0]:
            sample_labels = {PLANES_KEY: [f"sample {k + 1}" for k in range(restoration.samples.shape[0])]}
            show_stack(self.viewer, samples_name, "samples", restoration.samples, like, plane,
                       {"napari_hdn": {**about, "result": "samples"}, **sample_labels}, **same_contrast)
        elif samples_name in self.viewer.layers:
            self.viewer.layers.remove(samples_name)  # none kept this time: drop the stale ones of this restoration
        if activations is not None:
            kl_maps = activations[1]
            # They do not depend on the layers switched off: one pair per input and model.
            shared = {k: identity[k] for k in ("source_layer", "model", "model_step")}
            names = free_names(self.viewer, [output_name(name, "activations"), output_name(name, "KL maps")], shared)
            for layer_name, what, data, colormap in zip(names, ("activations", "KL maps"), activations,
                                                        ("gray", "inferno")):
                layer = show_stack(self.viewer, layer_name, what, data, like, plane,
                                   {"napari_hdn": {**about, "result": what}, **planes}, colormap=colormap)
                layer.events.visible.connect(self._show_plane_label)
            mean_kl = [float(np.mean(plane)) for plane in kl_maps]
            self._mean_kl = (model, mean_kl)
            if model is self.session.model:
                self.latent.show_kl(model, mean_kl, f"'{name}'")
        self.viewer.layers.selection.active = like  # not the last result added (often a hidden one)
        self.task.set_status(restored_line(name, restoration, mmse_name, spread_name, bool(switched_off)))

    # -- which layers hold noise (napari_hdn.suggest_deactivation) --------------------------------------------
    def suggest(self) -> bool:
        """Judge the latent layers on the region in view (and, where ticked, estimate each choice's error);
        marks them, switches nothing off."""
        from ..inference.second_opinion import suggestion_with_opinion_events

        def make_job(token):
            model = self._checked_model()
            layer = self.input_layer.layer()
            image = layer_array(layer, "input layer")
            crop, _ = region_in_view(self.viewer, layer, image, model.config.stride)
            threads = self.threads if self.threads is not None else 1
            return suggestion_with_opinion_events(model, crop, second_opinion=self.second_opinion.isChecked(),
                                                  n_samples=self.n_samples.value(), threads=threads, stop=token)

        return self.suggest_task.start(make_job, self._suggested)

    def _suggested(self, outcome: Any) -> None:
        if outcome is None:  # cancelled
            return
        suggestion, opinion = outcome
        self.suggestion, self.opinion = suggestion, opinion
        self.latent.mark_suggestion(suggestion, opinion)
        model = self.session.model
        always_off = set(model.trained_deactivated) if model is not None else set()
        # Nothing to apply when the suggestion keeps every layer on.
        self.use_suggestion_button.setEnabled(bool(set(suggestion.layers) - always_off))

    def _suggested_line(self) -> str:
        """The suggestion panel's line once done (not its last progress line); none once the verdict is gone."""
        with_opinion = ", with the error estimate's opinion" if self.opinion is not None else ""
        return "" if self.suggestion is None else f"Done: the verdict is above the detail layers{with_opinion}."

    def use_suggestion(self) -> None:
        if self.suggestion is not None:
            self.latent.apply_suggestion(self.suggestion)

    # -- latent-layer preview ---------------------------------------------------------------------------------
    def preview(self) -> bool:
        """Restore the region in view (at most 256x256 of the current plane) with the panel's layers off."""
        if self.preview_task.running:
            self._preview_again = True  # after the running one: cancel it, then start with the new choice
            self.preview_task.stop()
            return False
        from ..inference import restore_events

        def make_job(token):
            model = self._checked_model()
            layer = self.input_layer.layer()
            image = layer_array(layer, "input layer")
            crop, origin = region_in_view(self.viewer, layer, image, model.config.stride)
            off = self.latent.switched_off()
            # One thread: a short interactive job, which on a small or busy machine is faster alone on one core
            # than spread over cores it shares (benchmarks/bench_latent_preview.py), and leaves napari a core.
            threads = self.threads if self.threads is not None else 1
            events = restore_events(model, crop, self.preview_samples.value(), 0, deactivate=off,
                                    threads=threads, stop=token)
            self._preview_input = (layer.name, origin, off)
            self.target.started("preview", model, crop.size, self.preview_samples.value())
            return events

        return self.preview_task.start(make_job, self._previewed)

    def _preview_finished(self, outcome: str) -> None:
        if self._preview_again:
            self._preview_again = False
            self.preview()

    def _previewed(self, restoration: Any) -> None:
        name, origin, off = self._preview_input
        self.target.finished("preview")  # the speed of this model: the estimate of a whole job follows
        self._update_target()
        if name not in self.viewer.layers:
            return
        like = self.viewer.layers[name]
        scale = tuple(like.scale)[-2:]
        translate = tuple(t + o * s for t, o, s in zip(tuple(like.translate)[-2:], origin[-2:], scale))
        preview_name = output_name(name, "preview")
        meta = with_role(like.metadata, PREVIEW, source_layer=name, origin=list(origin), deactivated_layers=list(off))
        if preview_name in self.viewer.layers and self.viewer.layers[preview_name].ndim == 2:
            layer = self.viewer.layers[preview_name]
            layer.data = restoration.mmse
            layer.translate = translate
            layer.scale = scale
            layer.metadata = meta
        else:
            if preview_name in self.viewer.layers:
                self.viewer.layers.remove(preview_name)
            layer = self.viewer.add_image(restoration.mmse, name=preview_name, scale=scale, translate=translate,
                                          metadata=meta)
        layer.contrast_limits = tuple(like.contrast_limits) if not like.rgb else layer.contrast_limits
        off_text = ", ".join(f"z{i}" for i in off) or "none"
        self.preview_task.set_status(f"Preview of {restoration.mmse.shape[1]}x{restoration.mmse.shape[0]} px "
                                     f"at {origin[-2:]}, layers off: {off_text}.")
        if self.side_by_side.isChecked():
            self._show_side_by_side()

    # -- comparing the preview with every layer on -----------------------------------------------------------
    def _compare_changed(self, checked: bool) -> None:
        if not checked:
            self.compare.stop()
            return
        layer = self.input_layer.layer()
        if layer is not None and output_name(layer.name, "preview") in self.viewer.layers:
            self._show_side_by_side()
        else:
            self.request_preview()  # side by side once the preview is there

    def _show_side_by_side(self) -> None:
        """The preview beside the all-layers-on MMSE of its input (or the input itself before a restoration)."""
        name = self._preview_input[0] if getattr(self, "_preview_input", None) else None
        if name is None or name not in self.viewer.layers or output_name(name, "preview") not in self.viewer.layers:
            return
        reference = all_on_result(self.viewer, name)
        self.compare.show(self.viewer.layers[output_name(name, "preview")], reference or self.viewer.layers[name])
        self.preview_task.set_status(
            self.preview_task.status.text() + " Side by side with "
            + (f"'{reference.name}' (every layer on)." if reference is not None else
               f"the input '{name}': restore the whole image with every layer on to compare with that.")
        )

    # -- saving results -----------------------------------------------------------------------------------------
    def save_dialog(self) -> bool:
        """Ask which results, the format and a folder; write them (asking before replacing files)."""
        layer = self.input_layer.layer()
        return ask_and_save(self, self.viewer, layer.name if layer is not None else None, self.task)

    def _show_plane_label(self, *_: Any) -> None:
        show_plane_label(self.viewer)

    def _follow_sliders(self, *_: Any) -> None:
        follow_sliders(self.viewer)
