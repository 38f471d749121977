"""Form pieces of the Noise model widget: number boxes (with an unset state), wrapping labels, and a stack of
pages as tall as the page shown."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QDoubleSpinBox, QLabel, QSizePolicy, QSpinBox, QStackedWidget, QWidget

NOT_SET = "not set"


def _spin(minimum: float, maximum: float, value: float, decimals: int = 3, step: float = 1.0) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def _int_spin(minimum: int, maximum: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setValue(value)
    return box


def _wrapping_label(style: str = "") -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setVisible(False)
    return label


class FittingStack(QStackedWidget):
    """A stack of pages as tall as the page shown (QStackedWidget is as tall as its tallest page)."""

    def __init__(self) -> None:
        super().__init__()
        self.currentChanged.connect(self._fit_current)

    def addWidget(self, page: QWidget) -> int:
        index = super().addWidget(page)
        self._fit_current()
        return index

    def _fit_current(self, *_: Any) -> None:
        for i in range(self.count()):
            policy = QSizePolicy.Policy.Preferred if i == self.currentIndex() else QSizePolicy.Policy.Ignored
            self.widget(i).setSizePolicy(policy, policy)
        self.adjustSize()


def unset_spin(minimum: float, maximum: float, decimals: int = 3, step: float = 1.0) -> QDoubleSpinBox:
    """A number box that starts "not set" (at its minimum, which is no valid value): no silent default."""
    box = _spin(minimum, maximum, minimum, decimals, step)
    box.setSpecialValueText(NOT_SET)
    return box


def is_unset(box: QDoubleSpinBox) -> bool:
    return box.value() == box.minimum()
