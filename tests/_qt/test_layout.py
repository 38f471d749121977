"""The widgets on a laptop screen (1366 x 768, pytest-xvfb's display): one tabbed dock, pages that scroll.

However the widgets are opened (all at once by the launch helper, or one by one
from the Plugins menu through the manifest), they must end up as tabs of one
dock area, each scrolling inside its tab, so that the main window fits the
screen with napari's own panels.
"""

from __future__ import annotations

import pytest
from qt_helpers import dock
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication, QCheckBox

from napari_hdn._qt._layout import PAGE_MIN_HEIGHT, WrappingCheckBox
from napari_hdn._qt.launch import PLUGIN, WIDGETS, open_viewer

pytestmark = pytest.mark.qt

SCREEN = (1366, 768)
# A widget's page may ask this much height of its dock at most; the rest scrolls.
MAX_WIDGET_MIN_HEIGHT = 300


def _docks(viewer):
    """The napari-hdn dock widgets (napari returns the docks already open)."""
    return [viewer.window.add_plugin_dock_widget(PLUGIN, name)[0] for name in WIDGETS]


def _in_front(dock) -> bool:
    """Whether the dock is drawn (Qt moves the docks of the tabs behind out of the window, not hiding them)."""
    return dock.widget().isVisible() and not dock.visibleRegion().isEmpty()


def _assert_fits_as_tabs(viewer, qtbot) -> None:
    window = viewer.window._qt_window
    qtbot.wait(50)  # the docks join their tabs once back in the event loop, as after a click in the menu
    docks = _docks(viewer)
    for each in docks:
        assert set(window.tabifiedDockWidgets(each)) == set(docks) - {each}, each.name
    assert QApplication.primaryScreen().size().width() == SCREEN[0]  # the test runs on the laptop screen
    minimum = window.minimumSizeHint().expandedTo(window.minimumSize())
    assert minimum.width() <= SCREEN[0] and minimum.height() <= SCREEN[1], (minimum.width(), minimum.height())
    for each in docks:
        assert each.minimumSizeHint().height() < MAX_WIDGET_MIN_HEIGHT, each.name
        assert each.widget().page.widget() is each.widget().body  # the controls scroll inside the tab
    window.resize(*SCREEN)
    qtbot.wait(50)
    shown = [each.name for each in docks if _in_front(each)]
    assert len(shown) == 1, shown  # one tab in front
    assert window.height() <= SCREEN[1]


def test_widgets_opened_one_by_one_from_the_plugins_menu_become_tabs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    for name in WIDGETS:
        dock(viewer, name)
        qtbot.wait(20)  # a user clicks one menu entry after the other
    _assert_fits_as_tabs(viewer, qtbot)
    restore_dock = _docks(viewer)[-1]
    assert _in_front(restore_dock)  # the widget opened last is in front


def test_widgets_opened_in_one_go_become_tabs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    for name in WIDGETS:
        dock(viewer, name)  # a script docking them without giving napari's event loop a turn
    _assert_fits_as_tabs(viewer, qtbot)


def test_the_launch_helper_shows_the_noise_model_first_and_fits(make_napari_viewer, qtbot, monkeypatch):
    import napari

    # The test suite's viewer factory (a second napari.Viewer of its own would register napari's plugins twice).
    monkeypatch.setattr(napari, "Viewer", lambda **kwargs: make_napari_viewer(**kwargs))
    viewer = open_viewer(sample="nuclei", calibration=True, show=True)
    _assert_fits_as_tabs(viewer, qtbot)
    assert _in_front(_docks(viewer)[0])


def test_a_tall_page_scrolls_instead_of_growing(viewer, qtbot):
    widget = dock(viewer, "Train")
    widget.advanced.expand(animate=False)
    qtbot.wait(20)
    assert widget.body.minimumSizeHint().height() > 2 * PAGE_MIN_HEIGHT  # the content is tall...
    assert widget.page.minimumSizeHint().height() == PAGE_MIN_HEIGHT  # ...its page is not
    assert widget.page.minimumSizeHint().width() >= widget.body.minimumSizeHint().width()  # nothing cut sideways


def test_a_long_check_box_text_wraps_and_its_label_toggles_it(qtbot):
    text = "z1 · 1/2 px   KL 0.0574 nats/px (training)   ← looks like noise: try switching off"
    box = WrappingCheckBox(text)
    qtbot.addWidget(box.row)
    assert box.text() == text and box.isChecked() is False
    assert box.row.minimumSizeHint().width() < QCheckBox(text).minimumSizeHint().width() / 2
    box.row.show()
    qtbot.mouseClick(box.label, Qt.MouseButton.LeftButton)
    assert box.isChecked()
    box.setEnabled(False)
    assert not box.label.isEnabled()



def test_every_button_can_be_scrolled_into_view_on_a_laptop(make_napari_viewer, qtbot, trained_model_path):
    from qtpy.QtWidgets import QAbstractButton

    viewer = make_napari_viewer(show=True)
    widgets = [dock(viewer, name) for name in WIDGETS]
    widgets[-1].load_model(trained_model_path)  # the Restore widget with its latent-layer panel filled in
    widgets[1].advanced.expand(animate=False)
    viewer.window._qt_window.resize(*SCREEN)
    qtbot.wait(50)
    for widget, each in zip(widgets, _docks(viewer)):
        each.raise_()
        qtbot.wait(20)
        buttons = [b for b in widget.body.findChildren(QAbstractButton) if b.isVisibleTo(widget.body)]
        assert len(buttons) >= 4
        for button in buttons:
            widget.page.ensureWidgetVisible(button)
            qtbot.wait(5)
            assert not button.visibleRegion().isEmpty(), (each.name, button.text())


def test_idle_side_jobs_take_no_room_until_used(viewer):
    widget = dock(viewer, "Restore")
    side_jobs = (widget.preview_task, widget.suggest_task, widget.one_pass.task)
    assert not any(task.isVisibleTo(widget.body) for task in side_jobs)
    assert widget.task.isVisibleTo(widget.body)  # the restoration's own bar is always there
    assert not widget.suggest()  # no model: the message needs the panel
    assert widget.suggest_task.isVisibleTo(widget.body)
    assert "No model" in widget.suggest_task.status.text()
