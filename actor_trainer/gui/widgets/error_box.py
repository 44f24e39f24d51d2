"""A framed error: the real message in the failure colour, and its details (a traceback, the
worker's error object) in a collapsible monospace box."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

from actor_trainer.core.models import VersionStatus
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.widgets.status_style import status_colour


class ErrorBox(QFrame):
    """`set_error(message, details)`; details stay collapsed until the user opens them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBox")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.message = QLabel(self)
        self.message.setObjectName("errorMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("errorToggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._show_details)
        self.details = QPlainTextEdit(self)
        self.details.setObjectName("errorDetails")
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setMaximumHeight(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.message)
        layout.addWidget(self.toggle)
        layout.addWidget(self.details)
        self._show_details(False)
        self._paint()

    def set_error(self, message: str, details: str) -> None:
        self.message.setText(message)
        self.details.setPlainText(details)
        self.toggle.setVisible(bool(details))
        self.details.setVisible(bool(details) and self.toggle.isChecked())

    def collapse(self) -> None:
        self.toggle.setChecked(False)

    def _show_details(self, shown: bool) -> None:
        self.toggle.setText(tr("▾ Hide details") if shown else tr("▸ Show details"))
        self.details.setVisible(shown)

    def _paint(self) -> None:
        failed = status_colour(VersionStatus.FAILED, self.palette()).name()
        sheet = (
            f"QFrame#errorBox {{ border: 1px solid {failed}; border-radius: 4px; }}"
            f"QLabel#errorMessage {{ color: {failed}; }}"
        )
        if sheet != self.styleSheet():  # re-styling changes the palette: only when it differs
            self.setStyleSheet(sheet)

    def changeEvent(self, event: Any) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._paint()
