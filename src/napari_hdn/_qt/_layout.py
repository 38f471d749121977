"""Layout helpers: form pages, rows, and discarding a widget."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QFormLayout, QHBoxLayout, QWidget


def discard_widget(widget: QWidget) -> None:
    """Take a widget out of its layout and window now (deleteLater alone waits for the event loop)."""
    widget.hide()
    widget.setParent(None)
    widget.deleteLater()


# -- layout -----------------------------------------------------------------------------------------------
def form_page(*rows: tuple[Any, Any]) -> QWidget:
    """A widget holding a form of (label, field) rows; a field may be a widget or a layout."""
    page = QWidget()
    form = QFormLayout(page)
    for label, field in rows:
        form.addRow(label, field)
    return page


def hbox(*items: Any) -> QHBoxLayout:
    """Widgets side by side, the first one stretching."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for i, item in enumerate(items):
        row.addWidget(item, 1 if i == 0 else 0)
    return row
