"""Result names stay short: the input's name, then what it is, whole in napari's layer list at 1366 x 768."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import dock
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QStyle, QStyleOptionViewItem

from napari_hdn._qt.launch import WIDGETS
from napari_hdn._qt.result_names import result_name, variant_tag

pytestmark = pytest.mark.qt

SCREEN = (1366, 768)
# The sample data's inputs, and what a user gets from the walk-through of issue 27 (restore, switch z1 off, fast).
# Not all fit: "… (no z1; fast)" and "… (no z1; plane 29)" are too wide even after "nuclei…" (napari cuts them).
INPUTS = ("nuclei noisy", "nuclei noisy stack", "nuclei-struct noisy stack", "nuclei calibration")
ENDINGS = [("MMSE", ""), ("variance", ""), ("samples", ""), ("activations", ""), ("KL maps", ""),
           ("MMSE", variant_tag([1])), ("MMSE", variant_tag([1, 2])), ("MMSE", variant_tag([], True)),
           ("samples", variant_tag([], plane=(29,))),
           ("MMSE", variant_tag([], plane=(29,))), ("preview", ""), ("training preview", "")]


@pytest.fixture
def napari_font(make_napari_viewer):
    """Names are measured in the font of napari's layer list: napari's application font, bold."""
    make_napari_viewer()


def test_a_short_input_keeps_its_name_then_says_what_the_layer_is(napari_font):
    assert result_name("nuclei noisy", "MMSE") == "nuclei noisy denoised"
    assert result_name("nuclei noisy", "KL maps") == "nuclei noisy info maps"
    assert result_name("nuclei noisy", "MMSE", variant_tag([1])) == "nuclei noisy denoised (no z1)"
    assert result_name("nuclei noisy", "MMSE", variant_tag([], True)) == "nuclei noisy denoised (fast)"
    assert result_name("noisy", "samples", variant_tag([], plane=(2,))) == "noisy samples (plane 2)"
    assert result_name("noisy", "MMSE", variant_tag([1, 2])) == "noisy denoised (no z1, z2)"


def test_a_long_input_name_is_shortened_at_its_end_never_what_follows(napari_font):
    assert result_name("nuclei noisy stack", "samples", variant_tag([], plane=(29,))) == "nuclei… samples (plane 29)"
    assert result_name("nuclei noisy stack", "MMSE") == "nuclei noisy stack denoised"  # fits: whole
    long = result_name("2024-03-01 embryo 488 nm, stack 3 of 12.tif", "MMSE", variant_tag([1, 2], True))
    assert long.startswith("20") and long.endswith("… denoised (no z1, z2; fast)")
    assert len(result_name("x" * 300, "MMSE")) < 40


def _elided_rows(viewer) -> dict[str, str]:
    """The layer list's names that napari draws cut (name -> what it draws)."""
    view = viewer.window._qt_viewer.layers
    model, delegate = view.model(), view.itemDelegate()
    cut = {}
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        option = QStyleOptionViewItem()
        view.initViewItemOption(option)
        option.rect = view.visualRect(index)
        delegate.initStyleOption(option, index)
        delegate.get_layer_icon(option, index)  # the layer-type icon takes room on the right
        text_rect = view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, view)
        margin = view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1  # as Qt draws
        name = index.data(Qt.ItemDataRole.DisplayRole)
        drawn = option.fontMetrics.elidedText(name, Qt.TextElideMode.ElideMiddle, text_rect.width() - 2 * margin)
        if drawn != name:
            cut[name] = drawn
    return cut


def test_result_names_are_not_cut_in_the_layer_list_on_a_laptop(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    for name in WIDGETS:
        dock(viewer, name)
    window = viewer.window._qt_window
    window.resize(*SCREEN)
    qtbot.wait(100)
    assert window.width() <= SCREEN[0]
    names = sorted({result_name(source, what, tag) for source in INPUTS for what, tag in ENDINGS})
    for name in names:
        viewer.add_image(np.zeros((4, 4), np.float32), name=name)
    viewer.add_image(np.zeros((4, 4), np.float32), name="x" * 60)  # the check sees a name that is cut
    qtbot.wait(100)
    assert _elided_rows(viewer) == {"x" * 60: _elided_rows(viewer)["x" * 60]}
