"""Two layers side by side in napari's grid mode, the other layers hidden meanwhile and shown again after.

The Restore widget compares its latent-layer preview (some layers off) with the
MMSE of every layer on this way: both views share one camera, so panning or
zooming one moves the other, and no visibility needs toggling by hand.
"""

from __future__ import annotations

from typing import Any


def grid_of(viewer: Any) -> Any:
    """The viewer's grid settings (napari 0.9 moved them from ``viewer.grid`` to ``viewer.canvas.grid``)."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None else viewer.grid


class SideBySide:
    """Shows chosen layers in one row of napari's grid; :meth:`stop` gives the viewer back as it was."""

    def __init__(self, viewer: Any):
        self.viewer = viewer
        self.active = False
        self._hidden: list[str] = []  # names of the layers this hid, shown again by stop()
        self._grid_before: tuple[bool, tuple[int, int]] | None = None

    def show(self, *layers: Any) -> None:
        """Only ``layers`` visible, each in its own box of a one-row grid (the top layer on the left)."""
        grid = grid_of(self.viewer)
        if not self.active:
            self._grid_before = (grid.enabled, tuple(grid.shape))
            self.active = True
        shown = {layer.name for layer in layers}  # by name: a plugin's viewer hands out proxies of the layers
        for layer in self.viewer.layers:
            if layer.name not in shown and layer.visible:
                layer.visible = False
                self._hidden.append(layer.name)
        for layer in layers:
            layer.visible = True
        grid.shape = (1, -1)
        grid.enabled = True

    def stop(self) -> None:
        if not self.active:
            return
        grid = grid_of(self.viewer)
        enabled, shape = self._grid_before or (False, (-1, -1))
        grid.enabled = enabled
        grid.shape = shape
        for name in self._hidden:
            if name in self.viewer.layers:
                self.viewer.layers[name].visible = True
        self._hidden = []
        self.active = False
