"""The tunnel panel against a real AppContext: the sandbox's stand-in ngrok agent runs a real local
forwarder, so Start, Test delivery (a POST through the public URL) and Stop go the whole way."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from actor_trainer.core.events import LogEvent
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.settings import Settings
from actor_trainer.core.tunnel import TunnelState
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.tunnel.tunnel_panel import TunnelPanel
from tests.gui.contexts import close_context, open_context
from tests.waits import QT_WAIT_MS

FAST = TrainingParameters(max_train_steps=40, network_dim=4, network_alpha=4)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def panel(gui_ctx: AppContext, qtbot: QtBot) -> TunnelPanel:
    widget = TunnelPanel(gui_ctx)
    qtbot.addWidget(widget)
    widget.resize(1100, widget.sizeHint().height())
    widget.show()
    return widget


@pytest.fixture
def poll_ctx(qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path) -> Iterator[AppContext]:
    ctx = open_context(qloop, qtbot, tmp_path / "lib", start=True, sync=False, webhook_mode="poll")
    yield ctx
    close_context(qloop, qtbot, ctx)


@pytest.fixture
def public_ctx(qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path) -> Iterator[AppContext]:
    ctx = open_context(
        qloop,
        qtbot,
        tmp_path / "lib",
        start=True,
        sync=False,
        webhook_mode="public",
        public_url=f"http://127.0.0.1:{closed_port()}",
    )
    yield ctx
    close_context(qloop, qtbot, ctx)


def test_start_test_delivery_copy_and_stop(gui_ctx: AppContext, panel: TunnelPanel, qtbot: QtBot) -> None:
    assert panel.state_text() == "Stopped"
    assert not panel.is_compact()
    port = gui_ctx.services.webhook_server.port  # type: ignore[union-attr]
    assert panel.details.forwarding.text() == f"Forwarding to localhost:{port}"
    assert panel._name.text() == "sandbox tunnel (simulated)"
    assert panel.details.sandbox_note.isVisible() and "stands in for ngrok" in panel.details.sandbox_note.text()
    assert not panel.delivery.button.isEnabled() and not panel._copy.isEnabled()

    qtbot.mouseClick(panel._start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_text() == "Running", timeout=QT_WAIT_MS)
    url = panel.url_field.text()
    assert url.startswith("http://127.0.0.1:") and url == gui_ctx.services.tunnel.public_url  # type: ignore[union-attr]
    assert panel.is_compact()
    assert panel._stop.isVisible() and not panel._start.isVisible()

    qtbot.mouseClick(panel.delivery.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.test_result_text().startswith("✓ delivered in "), timeout=QT_WAIT_MS)
    assert panel.test_result_text().endswith(" ms")
    assert panel.is_compact()

    qtbot.mouseClick(panel._copy, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == url

    qtbot.mouseClick(panel._stop, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_text() == "Stopped", timeout=QT_WAIT_MS)
    assert panel.url_field.text() == ""
    assert not panel.is_compact() and panel._start.isVisible()
    assert gui_ctx.services.tunnel.state is TunnelState.STOPPED  # type: ignore[union-attr]


def test_a_failed_start_says_what_to_do(
    gui_ctx: AppContext, panel: TunnelPanel, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in agent then fails the way ngrok does without a usable token (ERR_NGROK_4018).
    monkeypatch.setenv("ACTOR_TRAINER_FAKE_NGROK_FAIL", "authtoken")
    panel.start()
    qtbot.waitUntil(lambda: panel.state_text() == "Error", timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: panel.details.error_box.isVisible(), timeout=QT_WAIT_MS)
    assert "ERR_NGROK_4018" in panel.details.error_title.text()
    assert panel.details.error_hint.text().startswith("Add your ngrok auth token in Settings.")
    assert panel._start.text() == "Restart" and not panel.is_compact()

    monkeypatch.delenv("ACTOR_TRAINER_FAKE_NGROK_FAIL")
    panel.start()
    qtbot.waitUntil(lambda: panel.state_text() == "Running", timeout=QT_WAIT_MS)
    assert not panel.details.error_box.isVisible() and panel.is_compact()


def test_last_webhook_received(gui_ctx: AppContext, panel: TunnelPanel, qtbot: QtBot) -> None:
    assert panel.last_webhook_text() == "None received yet"
    gui_ctx.select_actor(0)
    task = gui_ctx.tasks.start("t", gui_ctx.orchestrator.submit(0, FAST))
    qtbot.waitUntil(task.done, timeout=QT_WAIT_MS)
    job_id = task.result().id
    qtbot.waitUntil(lambda: "accepted" in panel.last_webhook_text(), timeout=QT_WAIT_MS)
    assert f"job {job_id}" in panel.last_webhook_text()


def test_poll_only_mode_says_webhooks_are_off(poll_ctx: AppContext, qtbot: QtBot) -> None:
    panel = TunnelPanel(poll_ctx)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.state_text() == "Webhooks off"
    assert panel.details.mode_text.text() == (
        "Webhooks are off (poll only): the status of each run is checked every 0.3 s."
    )
    assert not panel._start.isVisible() and not panel.delivery.button.isVisible() and not panel.url_field.isVisible()
    assert "No webhook server" in panel.details.forwarding.text()
    assert not panel.is_compact()


def test_public_url_mode_test_delivery_failure_is_shown(public_ctx: AppContext, qtbot: QtBot) -> None:
    panel = TunnelPanel(public_ctx)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.state_text() == "Public URL"
    assert panel.url_field.text() == public_ctx.config.public_url
    assert not panel._start.isVisible()
    qtbot.mouseClick(panel.delivery.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.test_result_text() == "✗ not delivered", timeout=QT_WAIT_MS)
    assert panel.details.error_box.isVisible()
    assert "could not be reached" in panel.details.error_title.text()
    assert panel.details.error_hint.text()
    assert not panel.is_compact()


def test_choosing_a_webhook_mode_applies_it_at_once(gui_ctx: AppContext, panel: TunnelPanel, qtbot: QtBot) -> None:
    """Issue 10, item 9: the mode is saved AND applied now: server and tunnel follow it."""
    from actor_trainer.gui.settings.settings_dialog import SettingsDialog
    from actor_trainer.gui.shell.status_bar import AppStatusBar
    from actor_trainer.gui.tunnel.tunnel_texts import MODE_WORDS

    status_bar = AppStatusBar(gui_ctx)
    qtbot.addWidget(status_bar)
    services = gui_ctx.services
    logged: list[str] = []
    gui_ctx.events.subscribe(lambda e: logged.append(e.message) if isinstance(e, LogEvent) else None)
    panel.mode_selector.choose("public")  # no public URL is set: refused, nothing saved
    assert "Set the public URL in Settings first" in panel.mode_selector.note()
    assert panel.mode_selector.combo.currentData() == "ngrok"
    assert not Settings.path().exists()

    # ngrok → poll only, with the tunnel running: the tunnel and the webhook server stop now.
    qtbot.mouseClick(panel._start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state is TunnelState.RUNNING, timeout=QT_WAIT_MS)
    panel.mode_selector.choose("poll")
    qtbot.waitUntil(lambda: panel.mode_selector.note() == "Switched to poll only.", timeout=QT_WAIT_MS)
    assert Settings.load().webhook_mode == "poll" and gui_ctx.config.webhook_mode == "poll"
    assert services.webhook_server is None and services.tunnel.state is TunnelState.STOPPED  # type: ignore[union-attr]
    assert panel.state_text() == "Webhooks off" and not panel._start.isVisible()
    assert status_bar.tunnel_text() == "Webhooks: poll only"
    assert not status_bar._webhook.isVisibleTo(status_bar)
    assert any("Webhook mode: ngrok → poll, applied now" in line for line in logged)
    # A run sent now needs no webhook: the poller follows it to the end.
    task = gui_ctx.tasks.start("mode-run", gui_ctx.orchestrator.submit(0, FAST, description="poll-only run"))
    qtbot.waitUntil(task.done, timeout=QT_WAIT_MS)
    submitted = task.result()
    qtbot.waitUntil(
        lambda: gui_ctx.library.get_version(0, submitted.key).status.value == "completed", timeout=QT_WAIT_MS * 2
    )

    # poll only → ngrok tunnel: the webhook server listens again; the tunnel can be started.
    panel.mode_selector.choose("ngrok")
    qtbot.waitUntil(lambda: panel.mode_selector.note() == "Switched to ngrok tunnel.", timeout=QT_WAIT_MS)
    assert services.webhook_server is not None and services.webhook_server.port
    assert panel._start.isVisible() and panel._start.isEnabled()
    assert status_bar.tunnel_text().endswith("Tunnel stopped") and status_bar._webhook.isVisibleTo(status_bar)

    # Settings → public URL: applied when saved, not at the next start.
    gui_ctx.settings.public_url = f"http://127.0.0.1:{closed_port()}"
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    assert [dialog.mode.itemText(i) for i in range(dialog.mode.count())] == list(MODE_WORDS.values())
    assert [panel.mode_selector.combo.itemText(i) for i in range(3)] == list(MODE_WORDS.values())
    dialog.mode.setCurrentIndex(dialog.mode.findData("public"))
    dialog._save_clicked()
    qtbot.waitUntil(lambda: gui_ctx.config.webhook_mode == "public", timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: panel.state_text() == "Public URL", timeout=QT_WAIT_MS)
    assert panel.url_field.text() == gui_ctx.settings.public_url
    assert status_bar.tunnel_text() == "Webhooks: public URL"
    assert services.webhook_server is not None
    assert any("Webhook mode: ngrok → public, applied now" in line for line in logged)
