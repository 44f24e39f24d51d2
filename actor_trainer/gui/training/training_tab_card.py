"""The card look shared by the sections of the ActorTrainingTab (header, data, parameters, start)."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QVBoxLayout, QWidget

from actor_trainer.gui.i18n import tr
from actor_trainer.gui.widgets.status_style import is_dark

CARD_MARGINS = (16, 14, 16, 14)


class Card(QFrame):
    """A rounded panel on the palette's base colour, with a vertical layout (`self.body`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(*CARD_MARGINS)
        self.body.setSpacing(10)
        self._apply_style()

    def _apply_style(self) -> None:
        # The application's palette, not this frame's: the style sheet below rewrites the frame's own.
        palette = QApplication.palette()
        if is_dark(palette):
            # Input fields are drawn in the base colour: on a dark theme the card must be lighter
            # than base, or the fields vanish into it.
            fill = palette.color(QPalette.ColorRole.Window).lighter(118).name()
        else:
            fill = palette.color(QPalette.ColorRole.Base).name()
        if fill == getattr(self, "_fill", None):
            return  # setting a style sheet itself sends a palette change: do not loop
        self._fill = fill
        # An id selector, so the style reaches this frame only and not the widgets inside it.
        self.setStyleSheet(f"QFrame#card {{ background: {fill}; border: 1px solid palette(mid); border-radius: 8px; }}")

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_style()


def heading(text: str, parent: QWidget | None = None, *, scale: float = 1.15) -> QLabel:
    """A bold section title."""
    label = QLabel(text, parent)
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    return label


def secondary(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A wrapped label in the palette's secondary text colour (hints, meta lines, reasons)."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    palette = label.palette()
    palette.setColor(label.foregroundRole(), palette.color(palette.ColorRole.PlaceholderText))
    label.setPalette(palette)
    return label


def counted(n: int, one: str, many: str, **values: object) -> str:
    """`one` or `many` (untranslated, with a {n} placeholder) by count, translated and filled in."""
    return tr(one if n == 1 else many).format(n=n, **values)
