"""Layer pickers, reading a layer's array, and writing results back as image layers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from napari.layers import Image
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QListWidget, QListWidgetItem, QSizePolicy, QWidget

from ..foundation.errors import InputError
from ..plugin.layer_roles import RESULT, is_training_candidate, layer_role, with_role

LIST_ROWS = 4  # rows a layer checklist shows without scrolling


def image_layers(viewer: Any) -> list[Any]:
    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def layer_array(layer: Any, what: str) -> Any:
    """The pixels of an image layer for the core, or a clear error for no layer or an RGB one."""
    if layer is None:
        raise InputError(f"No {what} selected: open an image (File > Open, or File > Open Sample > napari-hdn) "
                         "and choose it in the list.")
    if getattr(layer, "rgb", False):
        raise InputError(
            f"The {what} '{layer.name}' is an RGB colour image; HDN works on single-channel intensity images: "
            "split the channels (right-click the layer > Split RGB) and choose one."
        )
    data = layer.data
    if getattr(layer, "multiscale", False):
        data = data[0]  # full resolution
    return data


class LayerChoice(QComboBox):
    """A drop-down of the viewer's image layers, kept in step with the layer list.

    With ``none_text`` the list starts with that placeholder, which stays chosen
    (no silent default) unless a layer of the role ``prefer`` appears: that one is
    chosen, as the sample data's calibration stack is for the noise-model fit.
    ``accept(layer)`` filters the layers offered: by default noisy data only (no ground
    truth, none of the plugin's results and previews).
    """

    def __init__(self, viewer: Any, none_text: str | None = None, parent: QWidget | None = None,
                 prefer: str | None = None, accept: Callable[[Any], bool] | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self.none_text = none_text
        self.prefer = prefer
        self.accept = accept or (lambda layer: is_training_candidate(layer.metadata))
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        _follow_layer_list(viewer, self.refresh)
        self.refresh()

    def refresh(self, *_: Any) -> None:
        current = self.currentText()
        offered = [layer for layer in image_layers(self.viewer) if self.accept(layer)]
        names = [layer.name for layer in offered]
        self.blockSignals(True)
        self.clear()
        if self.none_text is not None:
            self.addItem(self.none_text)
        self.addItems(names)
        self.blockSignals(False)
        preferred = [layer.name for layer in offered if self.prefer and layer_role(layer.metadata) == self.prefer]
        if current and current != self.none_text and self.findText(current) >= 0:
            self.setCurrentIndex(self.findText(current))
        elif preferred:
            self.setCurrentIndex(self.findText(preferred[0]))
            self.currentIndexChanged.emit(self.currentIndex())
        elif self.count():
            self.setCurrentIndex(0)
            self.currentIndexChanged.emit(0)

    def layer(self) -> Any:
        name = self.currentText()
        if not name or name == self.none_text or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

    def set_layer(self, name: str) -> None:
        index = self.findText(name)
        if index < 0:
            raise ValueError(f"no image layer named {name!r}")
        self.setCurrentIndex(index)


class LayerChecklist(QListWidget):
    """The viewer's image layers with a check box each (several may be chosen).

    ``accept(layer)`` filters the layers offered (e.g. no ground truth, no results).
    """

    def __init__(self, viewer: Any, parent: QWidget | None = None, accept: Callable[[Any], bool] | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self.accept = accept or (lambda layer: True)
        row = max(self.sizeHintForRow(0), self.fontMetrics().height() + 6)
        self.setMinimumHeight(LIST_ROWS * row + 2 * self.frameWidth())
        self.setMaximumHeight(2 * LIST_ROWS * row + 2 * self.frameWidth())
        _follow_layer_list(viewer, self.refresh)
        self.refresh()

    def refresh(self, *_: Any) -> None:
        checked = set(self.checked_names())
        self.clear()
        for layer in image_layers(self.viewer):
            if not self.accept(layer):
                continue
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if layer.name in checked else Qt.CheckState.Unchecked)
            self.addItem(item)

    def checked_names(self) -> list[str]:
        return [
            self.item(i).text() for i in range(self.count()) if self.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_checked(self, names: Iterable[str]) -> None:
        wanted = set(names)
        for i in range(self.count()):
            item = self.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in wanted else Qt.CheckState.Unchecked)

    def layers(self) -> list[Any]:
        return [self.viewer.layers[name] for name in self.checked_names() if name in self.viewer.layers]


def _follow_layer_list(viewer: Any, refresh: Callable[..., None]) -> None:
    """Call ``refresh`` whenever image layers are added, removed, moved or renamed."""

    def guarded_refresh(*args: Any) -> None:
        try:
            refresh()
        except RuntimeError:  # the widget was deleted (its C++ object is gone); nothing to refresh
            pass

    def on_inserted(event: Any) -> None:
        event.value.events.name.connect(guarded_refresh)
        guarded_refresh()

    viewer.layers.events.inserted.connect(on_inserted)
    viewer.layers.events.removed.connect(guarded_refresh)
    viewer.layers.events.moved.connect(guarded_refresh)
    for layer in viewer.layers:
        layer.events.name.connect(guarded_refresh)


def show_image(
    viewer: Any,
    name: str,
    data: Any,
    like: Any,
    leading_axes: int = 0,
    metadata: dict[str, Any] | None = None,
    offset: Sequence[int] = (),
    **kwargs: Any,
) -> Any:
    """Add the image layer ``name``, or update it in place if it exists, placed like the layer ``like``.

    The new layer inherits ``like``'s scale, units, translate and metadata (plus
    ``metadata``), and is marked as a result (``layer_roles``) unless ``metadata``
    gives another role; ``leading_axes`` extra axes in front of ``like``'s
    (samples, latent layers) get unit scale and zero offset. ``offset``: where ``data`` starts in ``like``,
    in pixels along its first axes (a plane restored alone sits at that plane).
    """
    scale = (1.0,) * leading_axes + tuple(like.scale)
    shift = tuple(offset) + (0,) * (like.ndim - len(offset))
    translate = (0.0,) * leading_axes + tuple(t + o * s for t, o, s in zip(like.translate, shift, like.scale))
    units = ("pixel",) * leading_axes + tuple(str(unit) for unit in like.units)
    meta = dict(like.metadata)
    meta.update(metadata or {})
    about = dict((metadata or {}).get("napari_hdn") or {})  # never the input's own marks (a calibration stack)
    meta = with_role(meta, about.pop("role", RESULT), **about)
    kwargs.setdefault("units", units)
    if name in viewer.layers:
        layer = viewer.layers[name]
        if isinstance(layer, Image) and layer.ndim == np.ndim(data) and not layer.rgb:
            layer.data = data
            layer.scale = scale
            layer.translate = translate
            layer.metadata = meta
            for key, value in kwargs.items():
                setattr(layer, key, value)
            if "contrast_limits" not in kwargs:
                layer.reset_contrast_limits()
            return layer
        viewer.layers.remove(name)  # another kind of layer or other dimensions: replace it
    return viewer.add_image(data, name=name, scale=scale, translate=translate, metadata=meta, **kwargs)
