"""Tell the user when a run ends (completed, failed, cancelled, timed out, expired).

`RunNotifier` listens to `ctx.bridge.versionChanged` and notifies once per run end: a desktop
notification through the system tray when the window is not in front and a tray exists, else an
in-app note in the status bar. The note takes its own room there and never lies over the console
log or any other text (issue 10, item 7). Re-written records (progress, "mark as good") never
notify again.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.models import TrainingVersion, VersionStatus, utc_now
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.widgets import icons
from actor_trainer.gui.widgets.eliding_label import ElidingLabel

TOAST_MS = 7000


def describe_run_end(actor_name: str, version: TrainingVersion) -> tuple[str, str]:
    """(title, message) for a run that reached a terminal state."""
    status = version.status
    title = tr("{version} of {actor} {state}").format(version=version.name, actor=actor_name, state=tr(status.label))
    if status is VersionStatus.COMPLETED:
        message = tr("The LoRA is ready. Try it, then mark it as good in Versions.")
    elif version.error is not None and version.error.message:
        message = version.error.message
    elif status is VersionStatus.CANCELLED:
        message = tr("The run was cancelled.")
    elif status is VersionStatus.TIMED_OUT:
        message = tr("The endpoint stopped the run: it ran past its time limit.")
    elif status is VersionStatus.EXPIRED:
        message = tr("RunPod no longer knows this job and no LoRA was found.")
    else:
        message = tr("The run ended without a LoRA.")
    return title, message


class Toast(QFrame):
    """A short non-modal note; hides itself after a while, or on click.

    In a main window it lives in the status bar (a permanent widget on the left of the status
    words, one line: the title in bold, the message elided with the whole text as tooltip), so it
    covers nothing. Elsewhere it stands in the host's top-right corner.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._in_status_bar = isinstance(parent, QMainWindow)
        self._title = QLabel(self)
        self._title.setObjectName("toastTitle")
        self._message: QLabel = ElidingLabel(self) if self._in_status_bar else QLabel(self)
        self._message.setObjectName("toastMessage")
        layout: QBoxLayout
        if self._in_status_bar:
            layout = QHBoxLayout(self)
            layout.setContentsMargins(8, 1, 8, 1)
            layout.setSpacing(8)
            self.setMaximumWidth(620)
        else:
            self._title.setWordWrap(True)
            self._message.setWordWrap(True)
            layout = QVBoxLayout(self)
            layout.setContentsMargins(14, 10, 14, 12)
            layout.setSpacing(4)
            self.setFixedWidth(340)
        layout.addWidget(self._title)
        layout.addWidget(self._message, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        if isinstance(parent, QMainWindow):
            parent.statusBar().insertPermanentWidget(0, self, 1)
        else:
            parent.installEventFilter(self)
        self.hide()

    @property
    def in_status_bar(self) -> bool:
        return self._in_status_bar

    def title_text(self) -> str:
        return self._title.text()

    def message_text(self) -> str:
        return self._message.text()

    def show_note(self, title: str, message: str, timeout_ms: int = TOAST_MS) -> None:
        self._title.setText(title)
        self._message.setText(message)
        self.setToolTip(f"{title}\n{message}\n\n" + tr("Click to dismiss"))
        if not self._in_status_bar:
            self.adjustSize()
            self._place()
            self.raise_()
        self.show()
        self._timer.start(timeout_ms)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hide()
        event.accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is None or self._in_status_bar:
            return
        self.setFixedHeight(self.sizeHint().height())
        self.move(QPoint(parent.width() - self.width() - 16, 16))


class RunNotifier(QObject):
    """Notifies once per run end. `window` hosts the toast and decides tray vs in-app."""

    #: a run ended and the user was told: (title, message)
    notified = Signal(str, str)

    def __init__(self, ctx: AppContext, window: QWidget, *, use_tray: bool = True) -> None:
        super().__init__(window)
        self._ctx = ctx
        self._window = window
        self._started_at: datetime = utc_now()
        self._last_status: dict[tuple[int, str], VersionStatus] = {}
        self._notified: set[tuple[int, str, datetime | None]] = set()
        self.toast = Toast(window)
        self._tray: QSystemTrayIcon | None = None
        if use_tray and QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(icons.app_icon(), self)
            self._tray.setToolTip(tr("Actor Trainer"))
            self._tray.activated.connect(lambda _reason: self._bring_window_forward())
            self._tray.messageClicked.connect(self._bring_window_forward)
            self._tray.show()
        ctx.bridge.versionChanged.connect(self._on_version)

    @property
    def tray(self) -> QSystemTrayIcon | None:
        return self._tray

    def shutdown(self) -> None:
        if self._tray is not None:
            self._tray.hide()

    def _on_version(self, actor_id: int, version: TrainingVersion) -> None:
        key = (actor_id, version.id)
        previous = self._last_status.get(key)
        self._last_status[key] = version.status
        if not version.status.is_terminal:
            return
        ended_at = version.completedAt or version.failedAt
        if ended_at is not None:
            # Ended in this session (including runs found finished by the start-up reconcile);
            # an old record re-written later (mark as good) keeps its old end time.
            fresh = ended_at >= self._started_at
        else:
            fresh = previous is not None and not previous.is_terminal
        run_end = (actor_id, version.id, ended_at)
        if not fresh or run_end in self._notified:
            return
        self._notified.add(run_end)
        summary = self._ctx.summary(actor_id)
        name = summary.actor.name if summary is not None else f"{actor_id:04d}"
        title, message = describe_run_end(name, version)
        self._show(title, message, version.status)
        self.notified.emit(title, message)

    def notify(self, title: str, message: str, ok: bool = True) -> None:
        """One note that is not about a single run (e.g. the queue's summary), shown like a run's end."""
        self._show(title, message, VersionStatus.COMPLETED if ok else VersionStatus.FAILED)
        self.notified.emit(title, message)

    def _show(self, title: str, message: str, status: VersionStatus) -> None:
        in_front = self._window.isVisible() and self._window.isActiveWindow()
        if self._tray is not None and self._tray.supportsMessages() and not in_front:
            kind = (
                QSystemTrayIcon.MessageIcon.Information
                if status is VersionStatus.COMPLETED
                else QSystemTrayIcon.MessageIcon.Warning
            )
            self._tray.showMessage(title, message, kind, TOAST_MS)
            self._ctx.statusMessage.emit(title)
        else:
            self.toast.show_note(title, message)  # in the status bar: it is the status message

    def _bring_window_forward(self) -> None:
        window = self._window
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()
