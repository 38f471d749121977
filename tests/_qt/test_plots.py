"""The widgets' plots: a "no data yet" line before anything has run (not bare 0-1 axes), legends beside the
curves, never over them."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import dock

from napari_hdn._qt._plots import LossPlot, NoiseModelPlot

pytestmark = pytest.mark.qt


def _texts(plot) -> list[str]:
    return [text.get_text() for ax in plot.axes for text in ax.texts]


def test_empty_plots_say_no_data_yet_in_the_widgets(viewer):
    noise = dock(viewer, "Noise model")
    train = dock(viewer, "Train")
    for plot in (noise.plot, train.loss_plot):
        assert plot.empty
        assert any("no data yet" in text.lower() for text in _texts(plot))
        assert not any(ax.axison for ax in plot.axes)  # no bare 0-1 axes that look like a result


def _legend_beside_axes(plot, ax) -> bool:
    plot.draw()
    renderer = plot.figure.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    return legend.x0 >= ax.get_window_extent(renderer).x1


def test_loss_curves_replace_the_empty_line_and_their_legends_are_beside_them(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    for step in range(1, 6):
        plot.add_step(step, 1.0 / step, 0.8 / step, 0.2 / step, (0.5, 0.1))
    plot.add_validation(5, 0.3)
    plot.redraw()
    assert not plot.empty and all(ax.axison for ax in plot.axes)
    assert all(_legend_beside_axes(plot, ax) for ax in plot.axes)
    plot.reset()  # a new training run starts empty again
    assert plot.empty


def test_noise_model_legends_are_beside_the_curves(qtbot):
    plot = NoiseModelPlot()
    qtbot.addWidget(plot)
    signal = np.linspace(100, 130, 16)
    levels = np.array([105.0, 115.0, 125.0])
    grid = np.stack([np.linspace(level - 10, level + 10, 50) for level in levels])
    density = np.exp(-0.5 * ((grid - levels[:, None]) / 3.0) ** 2)
    plot.show_model_only(signal, 9.0 + 0.1 * (signal - 100), levels, grid, density)
    assert not plot.empty
    assert all(_legend_beside_axes(plot, ax) for ax in plot.axes)
