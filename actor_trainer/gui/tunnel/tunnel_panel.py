"""The tunnel panel (the original web app's ngrok box): is the webhook reachable from RunPod, and at which URL?

It shows the tunnel's state (colour AND word), the public URL read back from the running agent,
its domain and whether that is the remembered one that survives a restart, where it forwards,
the last webhook that arrived, and a Test delivery button that POSTs a probe through the public
URL to this app's webhook server. Start/Stop drive the tunnel; failures are shown in place with
what to do. One line when the tunnel runs and works; expanded otherwise.

Every action goes through the AppContext's "tunnel and checks" methods (the same
`runtime.Services` methods the CLI calls); the words live in `tunnel_texts`, the expanded part in
`tunnel_details`, the Test delivery button in `delivery_test`.
"""

from __future__ import annotations

from typing import cast, get_args

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import TunnelChanged, WebhookReceived
from actor_trainer.core.settings import WebhookMode
from actor_trainer.core.tunnel import TunnelState
from actor_trainer.core.tunnel_status import TunnelStatus
from actor_trainer.gui.console.console_log_model import tone_color
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.tunnel import tunnel_texts as texts
from actor_trainer.gui.tunnel.delivery_test import DeliveryTest
from actor_trainer.gui.tunnel.tunnel_details import TunnelDetails
from actor_trainer.gui.tunnel.webhook_mode_selector import mode_description
from actor_trainer.gui.widgets.eliding_label import ElidingLabel
from actor_trainer.gui.widgets.status_style import StatusBadge


class TunnelPanel(QWidget):
    #: the panel switched between one line (True) and its full details (False)
    compactChanged = Signal(bool)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TunnelPanel")
        self._ctx = ctx
        self._last_compact: bool | None = None
        self._mode = ctx.config.webhook_mode
        self._error: tuple[str, str] | None = None  # (message, hint) of the last failure
        self._expanded_by_user = False
        self._last_webhook_short = ""
        self._build()
        ctx.bridge.tunnelChanged.connect(self._on_tunnel_changed)
        ctx.webhookModeChanged.connect(self._on_mode_changed)
        ctx.bridge.webhookReceived.connect(self._on_webhook)
        ctx.tasks.busyChanged.connect(self._refresh)
        self._show_initial_webhook()
        self._refresh()

    # --- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.badge = StatusBadge(parent=self)
        self.badge.setObjectName("tunnelState")
        self._name = ElidingLabel(self)
        self._name.setObjectName("tunnelName")
        font = self._name.font()
        font.setBold(True)
        self._name.setFont(font)
        self.url_field = QLineEdit(self)
        self.url_field.setObjectName("tunnelUrl")
        self.url_field.setReadOnly(True)
        self.url_field.setPlaceholderText(tr("No public URL"))
        self.url_field.setAccessibleName(tr("Public URL"))
        self.url_field.setMinimumWidth(160)
        self.url_field.setMaximumWidth(380)  # room for an ngrok URL; the rest goes to the summary
        self._copy = QToolButton(self)
        self._copy.setObjectName("tunnelCopy")
        self._copy.setText(tr("Copy"))
        self._copy.setToolTip(tr("Copy the public URL"))
        self._copy.clicked.connect(lambda: self.copy_url())
        self.delivery = DeliveryTest(self._ctx, self)
        self.delivery.passed.connect(self._tested)
        self.delivery.failed.connect(self._test_failed)
        self._start = self._button("tunnelStart", tr("Start"), self.start, tr("Start the tunnel"))
        self._stop = self._button("tunnelStop", tr("Stop"), self.stop, tr("Stop the tunnel"))
        self._summary = ElidingLabel(self)
        # Only the room left over: the state, name and URL keep their width first.
        self._summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._summary.setObjectName("tunnelSummary")
        self._toggle = QToolButton(self)
        self._toggle.setObjectName("tunnelDetailsToggle")
        self._toggle.setCheckable(True)
        self._toggle.setAutoRaise(True)
        self._toggle.toggled.connect(self._toggled)
        self.details = TunnelDetails(self._ctx, self)
        self.mode_selector = self.details.mode_selector

        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.badge)
        top.addWidget(self._name)
        top.addWidget(self.url_field, 2)
        top.addWidget(self._copy)
        top.addWidget(self.delivery)
        top.addWidget(self._summary, 1)
        top.addWidget(self._start)
        top.addWidget(self._stop)
        top.addWidget(self._toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.details)
        layout.addStretch(1)

    def _button(self, name: str, text: str, slot: object, tip: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.setAutoDefault(False)
        button.clicked.connect(lambda: slot())  # type: ignore[operator]
        return button

    # --- state ----------------------------------------------------------------------------------

    @property
    def state(self) -> TunnelState:
        return self._ctx.tunnel_status().state

    def public_url(self) -> str | None:
        return self._ctx.tunnel_status().public_url

    def is_compact(self) -> bool:
        return not self.details.isVisibleTo(self)

    def state_text(self) -> str:
        return self.badge.text()

    def _healthy(self, state: TunnelState) -> bool:
        if self._mode == "ngrok":
            return state is TunnelState.RUNNING and self.delivery.ok is not False and self._error is None
        return self._mode == "public" and self.delivery.ok is not False

    def _on_tunnel_changed(self, event: TunnelChanged) -> None:
        if event.state == TunnelState.RUNNING:
            self._error = None
            self.delivery.clear()
        elif event.state == TunnelState.ERROR:
            error = self._ctx.tunnel_status().last_error
            self._set_error(error if error is not None else ActorTrainerError(event.error or tr("Unknown error")))
        elif event.state == TunnelState.STOPPED:
            self.delivery.clear()
        self._refresh()

    def _on_mode_changed(self, mode: str) -> None:
        if mode in get_args(WebhookMode):
            self._mode = cast(WebhookMode, mode)
        self._error = None
        self.delivery.clear()
        self._refresh()

    def _set_error(self, exc: BaseException) -> None:
        self._error = texts.error_text(exc)

    def _refresh(self) -> None:
        ctx, mode = self._ctx, self._mode
        status = ctx.tunnel_status()
        state = status.state
        starting = ctx.is_tunnel_busy("start") or state is TunnelState.STARTING
        word, tone = texts.badge_look(status, starting=starting)
        self._name.setText(texts.name_text(status))
        self._name.setToolTip(self._name.text())
        self.badge.set_badge(word, tone_color(tone, self.palette()))

        url = status.public_url
        domain = texts.domain_text(status)
        self.url_field.setText(url or "")
        self.url_field.setToolTip(domain or "")
        self.url_field.setVisible(mode != "poll")
        self._copy.setVisible(mode != "poll")
        self._copy.setEnabled(bool(url))
        self.delivery.refresh(shown=mode != "poll", can_test=bool(url) and status.has_server)
        self._start.setVisible(mode == "ngrok" and state is not TunnelState.RUNNING)
        self._stop.setVisible(mode == "ngrok" and state is TunnelState.RUNNING)
        self._start.setEnabled(not starting and status.has_server)
        self._start.setText(texts.start_text(state, starting=starting))
        self._stop.setEnabled(not ctx.is_tunnel_busy("stop"))

        details = self.details
        details.forwarding.setText(texts.forwarding_text(status.server_port))
        details.show_domain(domain)
        details.mode_text.setText(mode_description(mode, ctx.config.poll_seconds, ctx.config.public_url))
        details.show_sandbox_note(texts.sandbox_note(status.label) if status.simulated else None)
        details.show_error(self._error)
        self._summary.setText(texts.summary_text(status.server_port, self._last_webhook_short))
        self._summary.setToolTip(details.last_webhook.text())
        self._apply_compact(status)

    def _apply_compact(self, status: TunnelStatus) -> None:
        healthy = self._healthy(status.state)
        compact = healthy and not self._expanded_by_user
        self.details.setVisible(not compact)
        self._summary.setVisible(compact)
        self._toggle.blockSignals(True)
        self._toggle.setChecked(not compact)
        self._toggle.blockSignals(False)
        self._toggle.setArrowType(Qt.ArrowType.UpArrow if not compact else Qt.ArrowType.DownArrow)
        self._toggle.setToolTip(tr("Fewer details") if not compact else tr("More details"))
        self._toggle.setVisible(healthy)
        # Compact means small: cap the height so the dock shrinks to one line with it.
        self.setMaximumHeight(self.sizeHint().height() if compact else 16_777_215)
        if compact != self._last_compact:
            self._last_compact = compact
            self.compactChanged.emit(compact)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._refresh()  # badge and error colours are computed from the palette

    def _toggled(self, expanded: bool) -> None:
        self._expanded_by_user = expanded
        self._refresh()

    # --- webhooks -------------------------------------------------------------------------------

    def _show_initial_webhook(self) -> None:
        at = self._ctx.tunnel_status().last_delivery_at
        if at is not None:
            line, self._last_webhook_short = texts.accepted_webhook_lines(at)
            self.details.last_webhook.setText(line)

    def _on_webhook(self, event: WebhookReceived) -> None:
        line, self._last_webhook_short = texts.webhook_lines(event)
        self.details.last_webhook.setText(line)
        self._refresh()

    def last_webhook_text(self) -> str:
        return self.details.last_webhook.text()

    # --- actions --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._mode != "ngrok" or self._ctx.is_tunnel_busy("start"):
            return
        self._error = None
        self._ctx.start_tunnel(on_error=self._start_failed, owner=self)
        self._refresh()

    def _start_failed(self, exc: BaseException) -> None:
        self._set_error(exc)
        self._refresh()

    def stop(self) -> None:
        self._ctx.stop_tunnel(on_error=self._start_failed, owner=self)
        self._refresh()

    def copy_url(self) -> None:
        url = self.public_url()
        if url:
            QGuiApplication.clipboard().setText(url)
            self._ctx.statusMessage.emit(tr("Copied {url}").format(url=url))

    def test_delivery(self) -> None:
        self.delivery.run()

    def test_result_text(self) -> str:
        return self.delivery.result.text()

    def _tested(self) -> None:
        if self._error is not None and self.state is TunnelState.RUNNING:
            self._error = None
        self._refresh()

    def _test_failed(self, exc: BaseException) -> None:
        self._set_error(exc)
        self._refresh()
