"""The latent-layer panel of the Restore widget: one toggle per layer, its scale and mean KL, and the
marks of a `suggest_deactivation` suggestion."""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from ..foundation.errors import InputError
from ..inference.suggest import DeactivationSuggestion
from ._common import discard_widget
from ._layout import WrappingCheckBox
from .gui_words import gui_message

NOISE_MARK = "   ← looks like noise: try switching off"


LAYER_TIP = (
    "Detail layer z{layer} (latent layer {layer} of the hierarchical network): it describes the image at 1/{d} of "
    "its resolution, i.e. structures of about {d} pixels and larger; z1 holds the finest details. Ticked: the "
    "layer takes what it sees in the input. Unticked: it takes its average instead, so nothing of the input "
    "passes through it (removes artefacts living at this scale, such as stripes of correlated camera noise)."
)
KL_TIP = (
    "\n\nShare of the information: this layer's part of the information all layers take from the input, "
    "measured as the mean KL divergence between what the layer sees in the input and its prior: {kl:.3g} nats "
    "per pixel ({source}). A layer that takes almost nothing contributes little; noise makes a layer take much."
)


def recorded_noise_layers(model: Any) -> DeactivationSuggestion | None:
    """The layers the model found holding the camera's correlated noise at the end of its training, if any."""
    record = getattr(model, "noise_layers", None)
    if not record or "suggestion" not in record:
        return None
    try:
        return DeactivationSuggestion.from_metadata(record["suggestion"])
    except InputError:
        return None


def noise_layers_line(layers: tuple[int, ...]) -> str:
    """Why the panel opens with ``layers`` unticked, in plain words."""
    names = ", ".join(f"z{k}" for k in layers)
    return (f"{names} {'is' if len(layers) == 1 else 'are'} switched off: this camera's noise is correlated between "
            f"neighbouring pixels, and training found that {names} learnt it. Tick {'it' if len(layers) == 1 else 'them'} "
            "to bring the finest details back.")


def latent_layer_label(layer: int, downscale: int) -> str:
    """'z1 · details of 2 px': the latent layer and the size of the structures it describes."""
    return f"z{layer} \u00b7 details of {downscale} px"


class LatentLayerPanel(QGroupBox):
    """One toggle per latent layer (on = the layer takes the posterior), with its scale and mean KL."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Detail layers (latent layers)", parent)
        self.setToolTip("The network describes an image in layers of detail, from the finest (z1) to the coarsest. "
                        "Untick a layer to see the image without what it adds.")
        self.toggles: list[WrappingCheckBox] = []
        self._rows = QVBoxLayout()
        self.hint = QLabel("Load or train a model to see its detail layers.")
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(self._rows)

    def set_model(self, model: Any, mean_kl: list[float] | None, kl_source: str) -> None:
        for toggle in self.toggles:
            discard_widget(toggle.row)
        self.toggles = []
        if model is None:
            self.hint.setText("Load or train a model to see its detail layers.")
            return
        always_off = set(model.trained_deactivated)
        for i in range(1, model.n_layers + 1):
            toggle = WrappingCheckBox()
            toggle.setChecked(i not in always_off)
            toggle.setEnabled(i not in always_off)
            if i in always_off:
                toggle.setToolTip(f"z{i} was left out during training and stays off.")
            self.toggles.append(toggle)
            self._rows.addWidget(toggle.row)
        self.show_kl(model, mean_kl, kl_source)
        self.hint.setText("Untick a layer to preview the region in view without it.")
        recorded = recorded_noise_layers(model)
        if recorded is not None:
            self.mark_suggestion(recorded)
            self.apply_suggestion(recorded)
            if recorded.layers:
                self.hint.setText(noise_layers_line(recorded.layers))


    def show_kl(self, model: Any, mean_kl: list[float] | None, kl_source: str) -> None:
        """Each toggle's label: its scale and its share of the information (the mean KL; the value in the tooltip)."""
        known = [v for v in (mean_kl or []) if np.isfinite(v)]
        total = sum(known)
        for i, toggle in enumerate(self.toggles, start=1):
            downscale = model.config.layer_downscale(i)
            text = latent_layer_label(i, downscale)
            tip = LAYER_TIP.format(layer=i, d=downscale) if toggle.isEnabled() else toggle.toolTip().split("\n")[0]
            if mean_kl is not None and i <= len(mean_kl) and np.isfinite(mean_kl[i - 1]) and total > 0:
                text += f"   {100 * mean_kl[i - 1] / total:.0f} % of the information"
                tip += KL_TIP.format(kl=mean_kl[i - 1], source=kl_source)
            toggle.setText(text)
            toggle.setToolTip(tip)

    def mark_suggestion(self, suggestion: Any, opinion: Any = None) -> None:
        """Mark the layers the suggestion calls noise; its reason per layer becomes the toggle's tooltip; the
        second opinion (``inference.second_opinion``), where there is one, follows the suggestion's summary."""
        for verdict in suggestion.verdicts:
            if verdict.layer > len(self.toggles):
                continue
            toggle = self.toggles[verdict.layer - 1]
            text = toggle.text().split(NOISE_MARK)[0]
            toggle.setText(text + (NOISE_MARK if verdict.layer in suggestion.layers else ""))
            toggle.setToolTip(verdict.reason)
        words = suggestion.summary if opinion is None else f"{suggestion.summary} {opinion.summary}"
        self.hint.setText(gui_message(words))  # in the panel's words ("detail layer")

    def apply_suggestion(self, suggestion: Any) -> None:
        """Set the toggles to exactly the suggestion (layers off in training stay off)."""
        for i, toggle in enumerate(self.toggles, start=1):
            if toggle.isEnabled():
                toggle.setChecked(i not in suggestion.layers)

    def switched_off(self) -> tuple[int, ...]:
        """The layers (1-based) whose toggle is off, including those off since training."""
        return tuple(i for i, toggle in enumerate(self.toggles, start=1) if not toggle.isChecked())
