"""The latent-layer panel of the Restore widget: one toggle per layer, its scale and mean KL, and the
marks of a `suggest_deactivation` suggestion."""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from ._common import discard_widget
from ._layout import WrappingCheckBox


NOISE_MARK = "   ← looks like noise: try switching off"


def latent_layer_label(layer: int, downscale: int) -> str:
    """'z1 · 1/2 px': the latent layer and the size of its pixels relative to the image's."""
    return f"z{layer} \u00b7 1/{downscale} px"


class LatentLayerPanel(QGroupBox):
    """One toggle per latent layer (on = the layer takes the posterior), with its scale and mean KL."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Latent layers", parent)
        self.toggles: list[WrappingCheckBox] = []
        self._rows = QVBoxLayout()
        self.hint = QLabel("Load or train a model to see its latent layers.")
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(self._rows)

    def set_model(self, model: Any, mean_kl: list[float] | None, kl_source: str) -> None:
        for toggle in self.toggles:
            discard_widget(toggle.row)
        self.toggles = []
        if model is None:
            self.hint.setText("Load or train a model to see its latent layers.")
            return
        always_off = set(model.trained_deactivated)
        for i in range(1, model.n_layers + 1):
            toggle = WrappingCheckBox()
            toggle.setChecked(i not in always_off)
            toggle.setEnabled(i not in always_off)
            if i in always_off:
                toggle.setToolTip(f"z{i} was switched off during training and stays off.")
            else:
                toggle.setToolTip(
                    f"Untick to switch z{i} off: it then takes its prior's mean, so nothing of the input passes "
                    "through it (removes artefacts living at this scale)."
                )
            self.toggles.append(toggle)
            self._rows.addWidget(toggle.row)
        self.show_kl(model, mean_kl, kl_source)
        self.hint.setText("Untick a layer to preview the region in view without it.")

    def show_kl(self, model: Any, mean_kl: list[float] | None, kl_source: str) -> None:
        for i, toggle in enumerate(self.toggles, start=1):
            text = latent_layer_label(i, model.config.layer_downscale(i))
            if mean_kl is not None and i <= len(mean_kl) and np.isfinite(mean_kl[i - 1]):
                text += f"   KL {mean_kl[i - 1]:.3g} nats/px ({kl_source})"
            toggle.setText(text)

    def mark_suggestion(self, suggestion: Any) -> None:
        """Mark the layers the suggestion calls noise; its reason per layer becomes the toggle's tooltip."""
        for verdict in suggestion.verdicts:
            if verdict.layer > len(self.toggles):
                continue
            toggle = self.toggles[verdict.layer - 1]
            text = toggle.text().split(NOISE_MARK)[0]
            toggle.setText(text + (NOISE_MARK if verdict.layer in suggestion.layers else ""))
            toggle.setToolTip(verdict.reason)
        self.hint.setText(suggestion.summary)

    def apply_suggestion(self, suggestion: Any) -> None:
        """Set the toggles to exactly the suggestion (layers off in training stay off)."""
        for i, toggle in enumerate(self.toggles, start=1):
            if toggle.isEnabled():
                toggle.setChecked(i not in suggestion.layers)

    def switched_off(self) -> tuple[int, ...]:
        """The layers (1-based) whose toggle is off, including those off since training."""
        return tuple(i for i, toggle in enumerate(self.toggles, start=1) if not toggle.isChecked())


def _training_kl_per_pixel(model: Any) -> list[float] | None:
    """Mean KL per layer from the last training record, per image pixel (the records hold nats per patch)."""
    for record in reversed(model.history or []):
        per_layer = record.get("kl_per_layer")
        if per_layer and model.train_config is not None:
            area = float(model.train_config.patch_size) ** 2
            return [float(v) / area if v is not None else float("nan") for v in per_layer]
    return None
