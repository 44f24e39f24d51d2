"""The main window's status bar: endpoint (or SANDBOX), tunnel/webhook mode, runs in flight
across all actors, and when the last webhook arrived. Transient messages (`ctx.statusMessage`)
show on the left.
"""

from __future__ import annotations

import asyncio

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from actor_trainer.core.events import TunnelChanged, WebhookReceived
from actor_trainer.core.library import Library
from actor_trainer.core.models import Actor, TrainingVersion
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr

MESSAGE_MS = 8000
_DOT = {"running": "#2e9d4f", "starting": "#d08b00", "error": "#d13b3b", "stopped": "#8a8f98"}


def _dot(color: str) -> str:
    return f'<span style="color:{color}">●</span>'


def run_state_text(version: TrainingVersion) -> str:
    """Words for a run in flight: "queued", "training 340/2000"…"""
    progress = version.progress
    if version.status.value == "in_progress":
        if progress is not None and progress.step is not None and progress.total:
            return tr("training {step}/{total}").format(step=progress.step, total=progress.total)
        return tr("training")
    if version.status.value == "pending":
        return tr("submitting")
    return tr(version.status.label)


class AppStatusBar(QStatusBar):
    """Permanent status widgets fed by the context's signals (never by polling)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("appStatusBar")
        self._ctx = ctx
        self._in_flight: dict[tuple[int, str], str] = {}  # (actor, version id) → "0001 name V2: training"

        self._endpoint = QLabel(self)
        self._endpoint.setObjectName("endpointLabel")
        if ctx.is_sandbox:
            self._endpoint.setText(tr("SANDBOX"))
            self._endpoint.setProperty("badge", "sandbox")
            self._endpoint.setToolTip(
                tr(
                    "Simulated endpoint, local bucket: no credentials needed, "
                    "no GPU is paid for, LoRAs are random weights."
                )
            )
        else:
            self._endpoint.setText(tr("Endpoint: {id}").format(id=ctx.config.endpoint_label))
            self._endpoint.setToolTip(ctx.config.describe())
        self._tunnel = QLabel(self)
        self._tunnel.setObjectName("tunnelLabel")
        self._runs = QLabel(self)
        self._runs.setObjectName("runsInFlightLabel")
        self._webhook = QLabel(tr("No webhook yet"), self)
        self._webhook.setObjectName("lastWebhookLabel")
        self._webhook.setToolTip(tr("When the last webhook from the endpoint arrived"))
        self._webhook.setVisible(ctx.config.webhook_mode != "poll")
        # The services start behind the window (issue 11, item 3): said until they run, or why not.
        self._services = QLabel(self)
        self._services.setObjectName("servicesLabel")
        self._services.setVisible(False)
        for label in (self._services, self._runs, self._webhook, self._tunnel, self._endpoint):
            label.setContentsMargins(6, 0, 6, 0)
            self.addPermanentWidget(label)

        # Progress reports rewrite a version many times a minute; the full recount (reading every
        # versions file off the loop) is coalesced to one per quiet half second.
        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(500)
        self._recount.timeout.connect(self.refresh_in_flight)

        if ctx.services.tunnel is None:  # not made before the services start (nor its module, nor pyngrok)
            self._show_tunnel("stopped", None, None)
        else:
            tunnel = ctx.tunnel_status()
            self._show_tunnel(tunnel.state.value, tunnel.public_url, None)
        self._update_runs()
        ctx.bridge.tunnelChanged.connect(self._on_tunnel)
        ctx.webhookModeChanged.connect(lambda _mode: self._on_mode())
        ctx.bridge.webhookReceived.connect(self._on_webhook)
        ctx.bridge.versionChanged.connect(self._on_version)
        ctx.statusMessage.connect(self.show_message)
        ctx.servicesReady.connect(self._on_services_ready)
        ctx.servicesFailed.connect(self._on_services_failed)
        if ctx.services_state == "starting":
            self._services.setText(f"{_dot(_DOT['starting'])} " + tr("Starting services…"))
            self._services.setToolTip(
                tr(
                    "The sandbox or RunPod client, the webhook server and the status poller "
                    "are starting; Start Training waits for them."
                )
            )
            self._services.setVisible(True)
        self.refresh_in_flight()

    # --- public API ------------------------------------------------------------------------------

    def endpoint_text(self) -> str:
        return self._endpoint.text()

    def tunnel_text(self) -> str:
        return self._tunnel.text()

    def runs_text(self) -> str:
        return self._runs.text()

    def in_flight_count(self) -> int:
        return len(self._in_flight)

    def last_webhook_text(self) -> str:
        return self._webhook.text()

    def services_text(self) -> str:
        """ "Starting services…" while they start, why they failed if they did; empty once they run."""
        return self._services.text() if self._services.isVisibleTo(self) else ""

    def show_message(self, text: str) -> None:
        self.showMessage(text, MESSAGE_MS)

    def refresh_in_flight(self) -> None:
        """Recount runs in flight from the library (off the loop)."""
        library: Library = self._ctx.library
        self._ctx.tasks.start(
            "statusbar-in-flight",
            asyncio.to_thread(library.in_flight_versions),
            on_done=self._apply_in_flight,
            on_error=lambda _exc: None,
            owner=self,
        )

    # --- updates ---------------------------------------------------------------------------------

    def _apply_in_flight(self, pairs: list[tuple[Actor, TrainingVersion]]) -> None:
        if not shiboken6.isValid(self):  # the window closed while the library was being read
            return
        self._in_flight = {(a.id, v.id): self._describe(a.id, v) for a, v in pairs}
        self._update_runs()

    def _on_version(self, actor_id: int, version: TrainingVersion) -> None:
        key = (actor_id, version.id)
        was_in_flight = key in self._in_flight
        if version.status.is_terminal:
            self._in_flight.pop(key, None)
        else:
            # A version's id changes once: from the request id to the job id returned by /run.
            if version.requestId and version.requestId != version.id:
                self._in_flight.pop((actor_id, version.requestId), None)
            self._in_flight[key] = self._describe(actor_id, version)
        self._update_runs()
        if was_in_flight == version.status.is_terminal:  # membership changed: confirm from disk
            self._recount.start()

    def _describe(self, actor_id: int, version: TrainingVersion) -> str:
        summary = self._ctx.summary(actor_id)
        who = summary.actor.name if summary is not None else f"{actor_id:04d}"
        return f"{who} {version.name}: {run_state_text(version)}"

    def _update_runs(self) -> None:
        count = len(self._in_flight)
        if count == 0:
            self._runs.setText(tr("No runs in flight"))
            self._runs.setToolTip(tr("No training run is queued or in progress"))
            return
        self._runs.setText(tr("Runs in flight: {n}").format(n=count))
        self._runs.setToolTip("\n".join(sorted(self._in_flight.values())))

    def _on_mode(self) -> None:
        """The webhook mode was switched while running."""
        self._webhook.setVisible(self._ctx.config.webhook_mode != "poll")
        tunnel = self._ctx.tunnel_status()
        self._show_tunnel(tunnel.state.value, tunnel.public_url, None)

    def _on_services_ready(self) -> None:
        self._services.clear()
        self._services.setVisible(False)
        self.show_message(tr("Services ready"))

    def _on_services_failed(self, message: str, hint: str) -> None:
        self._services.setText(f"{_dot(_DOT['error'])} " + tr("Services could not start"))
        self._services.setToolTip(f"{message}\n{hint}".strip())
        self._services.setVisible(True)

    def _on_tunnel(self, event: TunnelChanged) -> None:
        self._show_tunnel(event.state, event.public_url, event.error)

    def _show_tunnel(self, state: str, url: str | None, error: str | None) -> None:
        mode = self._ctx.config.webhook_mode
        if mode in (
            "poll",
            "public",
        ):  # the words of the tunnel panel (its module loads pyngrok: not before the window)
            from actor_trainer.gui.tunnel.tunnel_texts import mode_word
        if mode == "poll":
            self._tunnel.setText(tr("Webhooks: {mode}").format(mode=mode_word("poll")))
            self._tunnel.setToolTip(
                tr("Poll-only mode: status is checked every {s} s; no tunnel is needed.").format(
                    s=f"{self._ctx.config.poll_seconds:g}"
                )
            )
            return
        if mode == "public":
            self._tunnel.setText(tr("Webhooks: {mode}").format(mode=mode_word("public")))
            self._tunnel.setToolTip(self._ctx.config.public_url or "")
            return
        words = {
            "running": tr("Tunnel running"),
            "starting": tr("Tunnel starting…"),
            "error": tr("Tunnel error"),
            "stopped": tr("Tunnel stopped"),
        }
        self._tunnel.setText(f"{_dot(_DOT.get(state, _DOT['stopped']))} {words.get(state, state)}")
        if state == "running" and url:
            tip = tr("Webhooks arrive through {url}").format(url=url)
        elif state == "error" and error:
            tip = error
        elif self._ctx.is_sandbox:
            tip = tr("The sandbox delivers webhooks to this app directly; the tunnel is optional.")
        else:
            tip = tr("Start the tunnel so RunPod can deliver webhooks (status is polled meanwhile).")
        self._tunnel.setToolTip(tip)

    def _on_webhook(self, event: WebhookReceived) -> None:
        when = event.at.astimezone().strftime("%H:%M:%S")
        if event.accepted:
            self._webhook.setText(tr("Last webhook: {time}").format(time=when))
        else:
            self._webhook.setText(tr("Last webhook: {time} (rejected)").format(time=when))
        job = event.job_id or tr("unknown job")
        detail = f" — {event.detail}" if event.detail else ""
        self._webhook.setToolTip(f"{job}{detail}")
