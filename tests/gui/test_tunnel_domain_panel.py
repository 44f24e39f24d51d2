"""The tunnel panel shows the tunnel's domain and whether it is the remembered, stable one (issue 9,
item 9): a real AppContext in ngrok mode with the stand-in agent as the ngrok agent (a real process,
real HTTP), started twice as the app would be, with the settings file in between."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from actor_trainer.core.settings import Settings
from actor_trainer.core.tunnel_agent import domain_of
from actor_trainer.gui.tunnel.tunnel_panel import TunnelPanel
from tests.fixtures.ngrok import FakeNgrok, fake_ngrok_fixture  # noqa: F401
from tests.gui.contexts import close_context, open_context
from tests.waits import QT_WAIT_MS


def start_and_read(qloop: asyncio.AbstractEventLoop, qtbot: QtBot, root: Path, fake: FakeNgrok) -> tuple[str, str]:
    """Open the app's context on `root`, start the tunnel from the panel; (URL, domain row) shown."""
    ctx = open_context(
        qloop,
        qtbot,
        root,
        start=True,
        sync=False,
        webhook_mode="ngrok",
        ngrok_path=fake.path,
        ngrok_authtoken=fake.token,
    )
    try:
        panel = TunnelPanel(ctx)
        qtbot.addWidget(panel)
        panel.show()
        assert not panel.details.domain.isVisible()  # no tunnel, no domain
        qtbot.mouseClick(panel._start, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.state_text() == "Running", timeout=QT_WAIT_MS)
        # The domain row says more once the start (and its remembering) is over.
        qtbot.waitUntil(lambda: not ctx.is_tunnel_busy("start"), timeout=QT_WAIT_MS)
        url, shown = panel.url_field.text(), panel.details.domain.text()
        assert panel.url_field.toolTip() == shown
        # The settings the app holds (which the Settings dialog copies) know the domain too.
        assert ctx.settings.ngrok_remembered_domain == domain_of(url)
        return url, shown
    finally:
        close_context(qloop, qtbot, ctx)


def test_the_panel_shows_the_domain_is_remembered_and_then_stable(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path, fake_ngrok: FakeNgrok
) -> None:
    url, shown = start_and_read(qloop, qtbot, tmp_path / "first", fake_ngrok)
    domain = domain_of(url)
    assert shown.startswith(f"{domain} — remembered now")
    assert Settings.load().ngrok_remembered_domain == domain

    again, shown = start_and_read(qloop, qtbot, tmp_path / "second", fake_ngrok)
    assert again == url
    assert shown.startswith(f"{domain} — your stable dev domain (remembered)")
    assert "stays the same after a restart" in shown


def test_a_settings_dialog_open_during_a_tunnel_start_keeps_the_remembered_domain(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path, fake_ngrok: FakeNgrok
) -> None:
    from actor_trainer.gui.settings.settings_dialog import SettingsDialog

    ctx = open_context(
        qloop,
        qtbot,
        tmp_path / "lib",
        start=True,
        sync=False,
        webhook_mode="ngrok",
        ngrok_path=fake_ngrok.path,
        ngrok_authtoken=fake_ngrok.token,
    )
    try:
        dialog = SettingsDialog(ctx)  # opened (its copy of the settings taken) before the start
        qtbot.addWidget(dialog)
        assert dialog.ngrok_domain.text() == "" and dialog.ngrok_domain.isEnabled()
        ctx.start_tunnel()
        qtbot.waitUntil(lambda: ctx.tunnel_status().domain_kind == "new", timeout=QT_WAIT_MS)
        qtbot.waitUntil(lambda: not ctx.is_tunnel_busy("start"), timeout=QT_WAIT_MS)
        domain = ctx.tunnel_status().domain
        dialog.ngrok_domain.setText(" hooks.example.com ")
        typed = dialog.collect()
        assert (typed.ngrok_domain, typed.ngrok_remembered_domain) == ("hooks.example.com", domain)
    finally:
        close_context(qloop, qtbot, ctx)
