"""Layout helpers: form pages, rows, a page that scrolls inside its dock, and discarding a widget."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QEvent, QObject, QSize, Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStyle,
    QWidget,
)

# The smallest height a widget's page asks of its dock: a few rows, the rest scrolls.
PAGE_MIN_HEIGHT = 160
# The height it would like when there is room (the window's layout starts from it).
PAGE_PREFERRED_MAX_HEIGHT = 600


def choice_box(items: list[str], tooltip: str) -> QComboBox:
    """A drop-down of ``items`` (the first chosen) explained by ``tooltip``."""
    box = QComboBox()
    box.addItems(items)
    box.setToolTip(tooltip)
    return box


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


class ScrollPage(QScrollArea):
    """A page that scrolls vertically inside its dock instead of making the window as tall as its content.

    It is as wide as its content needs (so that nothing is cut off sideways and
    there is no horizontal scroll bar), and asks for only ``PAGE_MIN_HEIGHT``
    of height: a long form scrolls in a small window.
    """

    def __init__(self, content: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setWidget(content)
        content.installEventFilter(self)  # its minimum width changes with what it shows

    def _width_for(self, content_width: int) -> int:
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        return content_width + bar + 2 * self.frameWidth()

    def minimumSizeHint(self) -> QSize:
        content = self.widget()
        width = content.minimumSizeHint().width() if content is not None else 0
        return QSize(self._width_for(width), PAGE_MIN_HEIGHT)

    def sizeHint(self) -> QSize:
        content = self.widget()
        if content is None:
            return super().sizeHint()
        hint = content.sizeHint()
        height = min(max(hint.height(), PAGE_MIN_HEIGHT), PAGE_PREFERRED_MAX_HEIGHT)
        return QSize(self._width_for(max(hint.width(), content.minimumSizeHint().width())), height)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(watched, event)


class WrappingCheckBox(QCheckBox):
    """A check box whose text wraps onto several lines in a narrow dock (a QCheckBox's own text never wraps,
    so a long one is cut off or widens the whole dock).

    The text lives in a label beside the box; clicking the label clicks the box. Put :attr:`row` (the box
    and its label) in a layout, not the box itself.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__()
        self.label = _ClickLabel(self)
        self.row = QWidget(parent)
        row = QHBoxLayout(self.row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        self.setText(text)

    def setText(self, text: str) -> None:
        self.label.setText(text)

    def text(self) -> str:
        return self.label.text()

    def setToolTip(self, text: str) -> None:
        super().setToolTip(text)
        self.label.setToolTip(text)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.EnabledChange:
            self.label.setEnabled(self.isEnabled())
        super().changeEvent(event)


class _ClickLabel(QLabel):
    """The word-wrapped text of a :class:`WrappingCheckBox`; a click on it clicks the box."""

    def __init__(self, box: QCheckBox):
        super().__init__()
        self.box = box
        self.setWordWrap(True)

    def mouseReleaseEvent(self, event: Any) -> None:
        if self.box.isEnabled():
            self.box.click()
        super().mouseReleaseEvent(event)
