"""The Settings dialog's own field widgets: a secret bound to one keyring entry, and a scroll area
that never squeezes its wrapped lines (settings_dialog.py)."""

from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QLineEdit, QScrollArea, QVBoxLayout, QWidget

from actor_trainer.core.settings import SECRET_ENV, Secrets
from actor_trainer.gui.i18n import tr


class SecretField(QWidget):
    """A password field bound to one keyring entry; read-only when an env var provides it."""

    def __init__(self, name: str, secrets: Secrets, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.edit = QLineEdit(self)
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.note = QLabel(self)
        self.note.setWordWrap(True)  # a long note wraps instead of widening (or being cut by) the dialog
        self.note.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.edit)
        layout.addWidget(self.note)
        env = SECRET_ENV[name]
        self.from_env = bool(os.environ.get(env))
        self.changed = False
        if self.from_env:
            self.edit.setPlaceholderText(tr("set by the environment"))
            self.edit.setEnabled(False)
            self.note.setText(tr("From ${env}; unset it to store a value in the keyring.").replace("${env}", env))
        else:
            stored = secrets.source(name) == "keyring"
            self.edit.setPlaceholderText(tr("•••••• (stored in the keyring)") if stored else tr("not set"))
            if not secrets.keyring_usable():
                text = tr("No OS keyring here: set ${env} in the environment instead.")
                self.note.setText(text.replace("${env}", env))
            else:
                self.note.setText(tr("Stored in the OS keyring, never in a file."))
        self.edit.textEdited.connect(self._edited)

    def _edited(self) -> None:
        self.changed = True

    def value(self) -> str | None:
        """The typed value (None when untouched: keep what is stored)."""
        return self.edit.text() if self.changed else None


class FittingScrollArea(QScrollArea):
    """A vertical scroll area whose content is never squeezed below the height its wrapped lines
    need at the current width (QScrollArea alone ignores height-for-width, which collapses fields
    and cuts wrapped notes and test results)."""

    def setWidget(self, widget: QWidget) -> None:
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit_height()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        widget = self.widget()
        layout = widget.layout() if widget is not None else None
        if widget is None or layout is None:
            return
        width = self.viewport().width()
        needed = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalMinimumSize().height()
        needed = max(needed, layout.totalMinimumSize().height())
        if widget.minimumHeight() != needed:
            widget.setMinimumHeight(needed)
