"""The tunnel panel's Test delivery button and its verdict: a probe POSTed through the public URL
to this app's webhook server (the same `Services.test_delivery` the settings dialog's test uses).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from actor_trainer.core.events import LogLevel
from actor_trainer.core.tunnel_status import DeliveryResult
from actor_trainer.gui.console.console_log_model import tone_color
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.tunnel.tunnel_texts import error_text


class DeliveryTest(QWidget):
    #: the probe arrived
    passed = Signal()
    #: the probe did not arrive (the exception says why)
    failed = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        #: the last test's verdict; None: not tested since the tunnel (re)started or stopped
        self.ok: bool | None = None
        self.button = QPushButton(tr("Test delivery"), self)
        self.button.setObjectName("tunnelTest")
        self.button.setToolTip(tr("POST a probe through the public URL to this app's webhook server"))
        self.button.setAutoDefault(False)
        self.button.clicked.connect(lambda: self.run())
        self.result = QLabel(self)
        self.result.setObjectName("tunnelTestResult")
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.button)
        row.addWidget(self.result)

    def run(self) -> None:
        status = self._ctx.tunnel_status()
        url = status.public_url
        if not url or not status.has_server:
            return
        self.result.setText(tr("Testing…"))
        self._ctx.test_delivery(on_done=self._tested, on_error=lambda exc: self._failed(url, exc), owner=self)

    def clear(self) -> None:
        self.ok = None
        self.result.clear()

    def refresh(self, *, shown: bool, can_test: bool) -> None:
        testing = self._ctx.is_tunnel_busy("test-delivery")
        self.button.setVisible(shown)
        self.button.setEnabled(can_test and not testing)
        self.button.setText(tr("Testing…") if testing else tr("Test delivery"))

    def _tested(self, result: DeliveryResult) -> None:
        self.ok = True
        text = tr("✓ delivered in {ms} ms").format(ms=max(1, round(result.seconds * 1000)))
        self.result.setText(text)
        self.result.setStyleSheet(f"color: {tone_color('success', self.palette()).name()};")
        self._ctx.events.log(
            LogLevel.SUCCESS, tr("Test delivery through {url}: {text}").format(url=result.url, text=text)
        )
        self.passed.emit()

    def _failed(self, url: str, exc: BaseException) -> None:
        self.ok = False
        message, _hint = error_text(exc)
        self.result.setText(tr("✗ not delivered"))
        self.result.setStyleSheet(f"color: {tone_color('error', self.palette()).name()};")
        self._ctx.events.log(
            LogLevel.ERROR, tr("Test delivery through {url} failed: {message}").format(url=url, message=message)
        )
        self.failed.emit(exc)
