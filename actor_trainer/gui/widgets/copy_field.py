"""A read-only, selectable value with a Copy button (ids and URLs in the details panes)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QHBoxLayout, QLineEdit, QToolButton, QWidget

from actor_trainer.gui.i18n import tr


class CopyField(QWidget):
    """A read-only, selectable value with a Copy button (and optional extra buttons)."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(self)
        self.edit.setReadOnly(True)
        self.edit.setObjectName(object_name)
        self.edit.setFrame(False)
        self.copy_button = QToolButton(self)
        self.copy_button.setText(tr("Copy"))
        self.copy_button.setObjectName(f"{object_name}Copy")
        self.copy_button.clicked.connect(self.copy)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(4)
        self.layout_.addWidget(self.edit, 1)
        self.layout_.addWidget(self.copy_button)

    def set_text(self, text: str) -> None:
        self.edit.setText(text)
        self.edit.setCursorPosition(0)
        self.edit.setToolTip(text)
        self.copy_button.setEnabled(bool(text))

    def copy(self) -> None:
        QApplication.clipboard().setText(self.edit.text())
