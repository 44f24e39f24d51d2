"""The tunnel panel (the original web app's ngrok box): is the webhook reachable from RunPod, and at which URL?

It shows the tunnel's state (colour AND word), the public URL read back from the running agent,
where it forwards, the last webhook that arrived, and a Test delivery button that POSTs a probe
through the public URL to this app's webhook server. Start/Stop drive the tunnel; failures are
shown in place with what to do. One line when the tunnel runs and works; expanded otherwise.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import LogLevel, TunnelChanged, WebhookReceived
from actor_trainer.core.tunnel import NoAuthTokenError, TunnelState
from actor_trainer.core.webhook_server import test_delivery
from actor_trainer.gui.console.console_log_model import tint, tone_color
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.tunnel.webhook_mode_selector import WebhookModeSelector, mode_description
from actor_trainer.gui.widgets.eliding_label import ElidingLabel
from actor_trainer.gui.widgets.status_style import StatusBadge

_STATE_LOOK = {  # state → (word, tone)
    TunnelState.STOPPED: ("Stopped", "neutral"),
    TunnelState.STARTING: ("Starting…", "info"),
    TunnelState.RUNNING: ("Running", "success"),
    TunnelState.ERROR: ("Error", "error"),
}


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
        self._test_ok: bool | None = None
        self._expanded_by_user = False
        self._last_webhook_short = ""
        self._build()
        self._layout()
        ctx.bridge.tunnelChanged.connect(self._on_tunnel_changed)
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
        self._test = self._button(
            "tunnelTest",
            tr("Test delivery"),
            self.test_delivery,
            tr("POST a probe through the public URL to this app's webhook server"),
        )
        self._start = self._button("tunnelStart", tr("Start"), self.start, tr("Start the tunnel"))
        self._stop = self._button("tunnelStop", tr("Stop"), self.stop, tr("Stop the tunnel"))
        self._summary = ElidingLabel(self)
        # Only the room left over: the state, name and URL keep their width first.
        self._summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._summary.setObjectName("tunnelSummary")
        self._test_result = QLabel(self)
        self._test_result.setObjectName("tunnelTestResult")
        self._test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._toggle = QToolButton(self)
        self._toggle.setObjectName("tunnelDetailsToggle")
        self._toggle.setCheckable(True)
        self._toggle.setAutoRaise(True)
        self._toggle.toggled.connect(self._toggled)

        self._details = QWidget(self)
        self._forwarding = self._detail_label("tunnelForwarding")
        self._last_webhook = self._detail_label("tunnelLastWebhook")
        self._last_webhook.setText(tr("None received yet"))
        self._mode_text = self._detail_label("tunnelModeText")
        self._sandbox_note = self._detail_label("tunnelSandboxNote")
        self.mode_selector = WebhookModeSelector(self._ctx, self)

        self._error_box = QFrame(self)
        self._error_box.setObjectName("tunnelError")
        self._error_title = self._detail_label("tunnelErrorMessage")
        self._error_hint = self._detail_label("tunnelErrorHint")
        box = QVBoxLayout(self._error_box)
        box.setContentsMargins(10, 6, 10, 6)
        box.setSpacing(2)
        box.addWidget(self._error_title)
        box.addWidget(self._error_hint)

    def _button(self, name: str, text: str, slot: object, tip: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.setAutoDefault(False)
        button.clicked.connect(lambda: slot())  # type: ignore[operator]
        return button

    def _detail_label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        return label

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.badge)
        top.addWidget(self._name)
        top.addWidget(self.url_field, 2)
        top.addWidget(self._copy)
        top.addWidget(self._test)
        top.addWidget(self._test_result)
        top.addWidget(self._summary, 1)
        top.addWidget(self._start)
        top.addWidget(self._stop)
        top.addWidget(self._toggle)

        grid = QGridLayout(self._details)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        rows = ((tr("Tunnel"), self._forwarding), (tr("Last webhook"), self._last_webhook))
        for row, (caption, widget) in enumerate(rows):
            grid.addWidget(self._caption(caption), row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(widget, row, 1)
        grid.addWidget(self._caption(tr("Webhook mode")), 2, 0, Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.mode_selector, 2, 1)
        grid.addWidget(self._mode_text, 3, 1)
        grid.addWidget(self._sandbox_note, 4, 1)
        grid.addWidget(self._error_box, 5, 0, 1, 2)
        grid.setColumnStretch(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self._details)
        layout.addStretch(1)

    def _caption(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setStyleSheet("color: palette(placeholder-text);")
        return label

    # --- state ----------------------------------------------------------------------------------

    @property
    def state(self) -> TunnelState:
        tunnel = self._ctx.services.tunnel
        return tunnel.state if tunnel is not None else TunnelState.STOPPED

    def public_url(self) -> str | None:
        if self._mode == "public":
            return self._ctx.config.public_url
        tunnel = self._ctx.services.tunnel
        return tunnel.public_url if tunnel is not None and self.state is TunnelState.RUNNING else None

    def is_compact(self) -> bool:
        return not self._details.isVisibleTo(self)

    def state_text(self) -> str:
        return self.badge.text()

    def _healthy(self) -> bool:
        if self._mode == "ngrok":
            return self.state is TunnelState.RUNNING and self._test_ok is not False and self._error is None
        return self._mode == "public" and self._test_ok is not False

    def _on_tunnel_changed(self, event: TunnelChanged) -> None:
        if event.state == TunnelState.RUNNING:
            self._error = None
            self._test_ok = None
            self._test_result.clear()
        elif event.state == TunnelState.ERROR:
            tunnel = self._ctx.services.tunnel
            error = tunnel.last_error if tunnel is not None else None
            self._set_error(error if error is not None else ActorTrainerError(event.error or tr("Unknown error")))
        elif event.state == TunnelState.STOPPED:
            self._test_ok = None
            self._test_result.clear()
        self._refresh()

    def _set_error(self, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, ActorTrainerError) else f"{type(exc).__name__}: {exc}"
        hint = exc.hint if isinstance(exc, ActorTrainerError) else ""
        if isinstance(exc, NoAuthTokenError):
            hint = tr("Add your ngrok auth token in Settings.") + (f" {hint}" if hint else "")
        self._error = (message, hint)

    def _refresh(self) -> None:
        ctx, mode, state = self._ctx, self._mode, self.state
        tunnel = ctx.services.tunnel
        server = ctx.services.webhook_server
        starting = ctx.tasks.is_running("tunnel-start") or state is TunnelState.STARTING
        stopping = ctx.tasks.is_running("tunnel-stop")
        testing = ctx.tasks.is_running("tunnel-test-delivery")
        palette = self.palette()
        if mode == "poll":
            word, tone = tr("Webhooks off"), "neutral"
            self._name.setText(tr("Poll only"))
        elif mode == "public":
            word, tone = tr("Public URL"), "info"
            self._name.setText(tr("Your public URL"))
        else:
            look_word, tone = _STATE_LOOK[TunnelState.STARTING if starting else state]
            word = tr(look_word)
            self._name.setText(tunnel.label if tunnel is not None else "ngrok")
        self._name.setToolTip(self._name.text())
        self.badge.set_badge(word, tone_color(tone, palette))

        url = self.public_url()
        self.url_field.setText(url or "")
        self.url_field.setVisible(mode != "poll")
        self._copy.setVisible(mode != "poll")
        self._test.setVisible(mode != "poll")
        self._copy.setEnabled(bool(url))
        self._test.setEnabled(bool(url) and server is not None and not testing)
        self._test.setText(tr("Testing…") if testing else tr("Test delivery"))
        self._start.setVisible(mode == "ngrok" and state is not TunnelState.RUNNING)
        self._stop.setVisible(mode == "ngrok" and state is TunnelState.RUNNING)
        self._start.setEnabled(not starting and server is not None)
        self._start.setText(
            tr("Starting…") if starting else (tr("Restart") if state is TunnelState.ERROR else tr("Start"))
        )
        self._stop.setEnabled(not stopping)

        port = server.port if server is not None else None
        if port is None:
            self._forwarding.setText(tr("No webhook server is running (poll-only mode)."))
        else:
            self._forwarding.setText(tr("Forwarding to localhost:{port}").format(port=port))
        self._mode_text.setText(mode_description(mode, ctx.config.poll_seconds, ctx.config.public_url))
        simulated = mode == "ngrok" and tunnel is not None and tunnel.label != "ngrok"
        self._sandbox_note.setVisible(simulated)
        if simulated:
            self._sandbox_note.setText(
                tr(
                    "{label}: no ngrok token is configured, so a local forwarder stands in for ngrok; its URL "
                    "works on this computer only. Add an ngrok auth token in Settings for a real tunnel."
                ).format(label=tunnel.label if tunnel is not None else "")
            )
        self._refresh_error()
        self._refresh_summary(port)
        compact = self._healthy() and not self._expanded_by_user
        self._details.setVisible(not compact)
        self._summary.setVisible(compact)
        self._toggle.blockSignals(True)
        self._toggle.setChecked(not compact)
        self._toggle.blockSignals(False)
        self._toggle.setArrowType(Qt.ArrowType.UpArrow if not compact else Qt.ArrowType.DownArrow)
        self._toggle.setToolTip(tr("Fewer details") if not compact else tr("More details"))
        self._toggle.setVisible(self._healthy())
        # Compact means small: cap the height so the dock shrinks to one line with it.
        self.setMaximumHeight(self.sizeHint().height() if compact else 16_777_215)
        if compact != self._last_compact:
            self._last_compact = compact
            self.compactChanged.emit(compact)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._refresh()  # badge and error colours are computed from the palette

    def _refresh_error(self) -> None:
        if self._error is None:
            self._error_box.hide()
            return
        message, hint = self._error
        colour = tone_color("error", self.palette())
        self._error_title.setText(tr("Error: {message}").format(message=message))
        self._error_title.setStyleSheet(f"color: {colour.name()}; font-weight: 600;")
        self._error_hint.setText(hint)
        self._error_hint.setVisible(bool(hint))
        self._error_box.setStyleSheet(
            f"QFrame#tunnelError {{ background: {tint(colour, self.palette()).name()}; "
            f"border-left: 3px solid {colour.name()}; border-radius: 3px; }}"
        )
        self._error_box.show()

    def _refresh_summary(self, port: int | None) -> None:
        parts = [f"→ localhost:{port}"] if port is not None else []
        if self._last_webhook_short:
            parts.append(self._last_webhook_short)
        self._summary.setText(" · ".join(parts))
        self._summary.setToolTip(self._last_webhook.text())

    def _toggled(self, expanded: bool) -> None:
        self._expanded_by_user = expanded
        self._refresh()

    # --- webhooks -------------------------------------------------------------------------------

    def _show_initial_webhook(self) -> None:
        server = self._ctx.services.webhook_server
        if server is not None and server.last_delivery_at is not None:
            at = server.last_delivery_at.astimezone().strftime("%H:%M:%S")
            self._last_webhook.setText(tr("{at} · accepted").format(at=at))
            self._last_webhook_short = tr("last webhook {at} ✓").format(at=at)

    def _on_webhook(self, event: WebhookReceived) -> None:
        at = event.at.astimezone().strftime("%H:%M:%S")
        verdict = tr("accepted") if event.accepted else tr("rejected")
        job = tr("job {id}").format(id=event.job_id) if event.job_id else tr("no job id")
        detail = f" ({event.detail})" if event.detail else ""
        self._last_webhook.setText(f"{at} · {job} · {verdict}{detail}")
        mark = "✓" if event.accepted else "✗ " + tr("rejected")
        self._last_webhook_short = tr("last webhook {at} {mark}").format(at=at, mark=mark)
        self._refresh()

    def last_webhook_text(self) -> str:
        return self._last_webhook.text()

    # --- actions --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._mode != "ngrok" or self._ctx.tasks.is_running("tunnel-start"):
            return
        self._error = None
        server, tunnel = self._ctx.services.webhook_server, self._ctx.services.tunnel
        if server is not None and tunnel is not None:
            self._ctx.events.log(
                LogLevel.INFO,
                tr("{label}: starting a tunnel to localhost:{port}").format(label=tunnel.label, port=server.port),
            )
        self._ctx.tasks.start(
            "tunnel-start",
            self._ctx.services.start_tunnel(),
            on_done=self._started,
            on_error=self._start_failed,
            owner=self,
        )
        self._refresh()

    def _started(self, url: str) -> None:
        tunnel = self._ctx.services.tunnel
        if tunnel is not None:
            tunnel.start_watch()  # a tunnel that dies later turns ERROR here instead of silently
        self._refresh()

    def _start_failed(self, exc: BaseException) -> None:
        self._set_error(exc)
        self._refresh()

    def stop(self) -> None:
        tunnel = self._ctx.services.tunnel
        if tunnel is None:
            return
        self._ctx.tasks.start(
            "tunnel-stop", tunnel.stop(), on_done=lambda _none: self._refresh(), on_error=self._start_failed, owner=self
        )
        self._refresh()

    def copy_url(self) -> None:
        url = self.public_url()
        if url:
            QGuiApplication.clipboard().setText(url)
            self._ctx.statusMessage.emit(tr("Copied {url}").format(url=url))

    def test_delivery(self) -> None:
        url, server = self.public_url(), self._ctx.services.webhook_server
        if not url or server is None:
            return
        self._test_result.setText(tr("Testing…"))
        self._ctx.tasks.start(
            "tunnel-test-delivery",
            test_delivery(url, server),
            on_done=lambda seconds: self._tested(url, seconds),
            on_error=lambda exc: self._test_failed(url, exc),
            owner=self,
        )
        self._refresh()

    def test_result_text(self) -> str:
        return self._test_result.text()

    def _tested(self, url: str, seconds: float) -> None:
        self._test_ok = True
        text = tr("✓ delivered in {ms} ms").format(ms=max(1, round(seconds * 1000)))
        self._test_result.setText(text)
        self._test_result.setStyleSheet(f"color: {tone_color('success', self.palette()).name()};")
        self._ctx.events.log(LogLevel.SUCCESS, tr("Test delivery through {url}: {text}").format(url=url, text=text))
        if self._error is not None and self.state is TunnelState.RUNNING:
            self._error = None
        self._refresh()

    def _test_failed(self, url: str, exc: BaseException) -> None:
        self._test_ok = False
        self._set_error(exc)
        message = self._error[0] if self._error else str(exc)
        self._test_result.setText(tr("✗ not delivered"))
        self._test_result.setStyleSheet(f"color: {tone_color('error', self.palette()).name()};")
        self._ctx.events.log(
            LogLevel.ERROR, tr("Test delivery through {url} failed: {message}").format(url=url, message=message)
        )
        self._refresh()
