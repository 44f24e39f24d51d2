"""The dialog for errors nobody expected: message, a "Details" expander with the traceback,
"Copy" and "Open log folder".

`ErrorDialog` is non-modal (it never blocks the event loop with a nested `exec()`), and the app
keeps at most one open: further errors while it is shown are appended to its details, so a
failure that repeats does not bury the window under dialogs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.gui.i18n import tr
from actor_trainer.gui.widgets import icons


class ErrorDialog(QDialog):
    """Shows one unexpected error (and any that follow while it is open)."""

    def __init__(
        self, title: str, message: str, details: str, log_folder: Path | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ErrorDialog")
        self.setWindowTitle(tr("Something went wrong"))
        self.setModal(False)
        self._log_folder = log_folder
        self._count = 1

        from PySide6.QtWidgets import QStyle  # its Python type takes ~50 ms to make: not before the window

        glyph = QLabel(self)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize, None, self)
        glyph.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(size, size))
        glyph.setAlignment(Qt.AlignmentFlag.AlignTop)

        self._title = QLabel(title, self)
        self._title.setObjectName("errorTitle")
        font = self._title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self._title.setFont(font)
        self._title.setWordWrap(True)
        self._message = QLabel(message, self)
        self._message.setObjectName("errorMessage")
        self._message.setWordWrap(True)
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where = str(log_folder) if log_folder else tr("(no log file)")
        self._note = QLabel(
            tr("The app keeps running. The log file in {folder} has the details.").format(folder=where), self
        )
        self._note.setWordWrap(True)
        muted = self._note.palette()
        muted.setColor(QPalette.ColorRole.WindowText, muted.color(QPalette.ColorRole.PlaceholderText))
        self._note.setPalette(muted)

        self._details = QPlainTextEdit(self)
        self._details.setObjectName("errorDetails")
        self._details.setReadOnly(True)
        self._details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QGuiApplication.font()
        mono.setFamily("monospace")
        mono.setStyleHint(mono.StyleHint.Monospace)
        self._details.setFont(mono)
        self._details.setPlainText(details)
        self._details.setVisible(False)
        self._details.setMinimumHeight(200)

        self._toggle = QPushButton(tr("Show details"), self)
        self._toggle.setObjectName("detailsToggle")
        self._toggle.setCheckable(True)
        self._toggle.toggled.connect(self._show_details)
        copy = QPushButton(icons.icon("copy"), tr("Copy"), self)
        copy.setObjectName("copyError")
        copy.setToolTip(tr("Copy the message and details to the clipboard"))
        copy.clicked.connect(self.copy_to_clipboard)
        open_log = QPushButton(icons.icon("folder"), tr("Open log folder"), self)
        open_log.setObjectName("openLogFolder")
        open_log.setEnabled(log_folder is not None)
        open_log.clicked.connect(self._open_log_folder)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)

        text = QVBoxLayout()
        text.setSpacing(6)
        text.addWidget(self._title)
        text.addWidget(self._message)
        text.addWidget(self._note)
        top = QHBoxLayout()
        top.setSpacing(14)
        top.addWidget(glyph)
        top.addLayout(text, 1)
        row = QHBoxLayout()
        row.addWidget(self._toggle)
        row.addWidget(copy)
        row.addWidget(open_log)
        row.addStretch(1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 18, 18, 14)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addWidget(self._details, 1)
        layout.addLayout(row)
        self.setMinimumWidth(520)
        self.resize(560, self.sizeHint().height())

    # --- public API ------------------------------------------------------------------------------

    def message_text(self) -> str:
        return self._message.text()

    def details_text(self) -> str:
        return self._details.toPlainText()

    def error_count(self) -> int:
        return self._count

    def add_error(self, title: str, message: str, details: str) -> None:
        """Another error while this one is shown: count it and append its details."""
        self._count += 1
        self._title.setText(tr("{n} errors — latest: {title}").format(n=self._count, title=title))
        self._message.setText(message)
        self._details.appendPlainText(f"\n{'-' * 60}\n{title}: {message}\n{details}")

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(f"{self._title.text()}\n{self._message.text()}\n\n{self.details_text()}")

    # --- internals -------------------------------------------------------------------------------

    def _show_details(self, shown: bool) -> None:
        self._details.setVisible(shown)
        self._toggle.setText(tr("Hide details") if shown else tr("Show details"))
        if shown:
            self.resize(max(self.width(), 720), max(self.height(), 460))
        else:
            self.adjustSize()

    def _open_log_folder(self) -> None:
        if self._log_folder is not None:
            self._log_folder.mkdir(parents=True, exist_ok=True)
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._log_folder)))


class ErrorReporter(QObject):
    """Shows unexpected errors in one `ErrorDialog` at a time (later ones are appended to it)."""

    def __init__(self, log_folder: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._log_folder = log_folder
        self._window: QWidget | None = None
        self._dialog: ErrorDialog | None = None

    def set_window(self, window: QWidget | None) -> None:
        """The window dialogs are shown over (None: top-level dialogs)."""
        self._window = window

    @property
    def dialog(self) -> ErrorDialog | None:
        """The dialog on screen, if any."""
        return self._dialog

    def report(self, title: str, message: str, details: str) -> ErrorDialog:
        if self._dialog is not None and self._dialog.isVisible():
            self._dialog.add_error(title, message, details)
            return self._dialog
        dialog = ErrorDialog(title, message, details, self._log_folder, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        key = id(dialog)
        dialog.destroyed.connect(lambda *_args: self._forget(key))
        self._dialog = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def _forget(self, key: int) -> None:
        # Only the dialog that went away: a newer one may already be showing.
        if self._dialog is not None and id(self._dialog) == key:
            self._dialog = None
