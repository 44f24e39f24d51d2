"""The settings dialog: what is typed is saved (secrets to the keyring only) and tests really test."""

from __future__ import annotations

import json

import keyring
import pytest
from keyring.backend import KeyringBackend

from actor_trainer.core.settings import Secrets, Settings
from actor_trainer.gui.settings.settings_dialog import SettingsDialog
from tests.waits import QT_WAIT_MS


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps entries in memory (no OS keyring on a CI box)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def memory_keyring():  # type: ignore[no-untyped-def]
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_save_writes_settings_file_and_secret_to_keyring_only(light_ctx, qtbot, memory_keyring, tmp_path):  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(light_ctx)
    qtbot.addWidget(dialog)
    dialog.endpoint_id.setText("abc123xyz")
    dialog.bucket.setText("studio-bucket")
    dialog.prefix.setText("lora/")
    qtbot.keyClicks(dialog.api_key.edit, "rp_SECRET_value_42")
    dialog.mode.setCurrentIndex(dialog.mode.findData("poll"))
    with qtbot.waitSignal(dialog.saved, timeout=QT_WAIT_MS):
        dialog._save_clicked()
    saved = Settings.load()
    assert saved.runpod_endpoint_id == "abc123xyz" and saved.s3_bucket == "studio-bucket"
    assert saved.webhook_mode == "poll"
    text = Settings.path().read_text()
    assert "rp_SECRET_value_42" not in text and "api_key" not in json.loads(text)
    assert memory_keyring.entries[("actor-trainer", "runpod_api_key")] == "rp_SECRET_value_42"
    assert Secrets().get("runpod_api_key") == "rp_SECRET_value_42"


def test_without_a_keyring_the_secret_is_refused_with_a_hint(light_ctx, qtbot):  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(light_ctx)
    qtbot.addWidget(dialog)
    assert "environment" in dialog.api_key.note.text()
    qtbot.keyClicks(dialog.api_key.edit, "rp_SECRET")
    errors: list[tuple[str, str, str]] = []
    light_ctx.errorRaised.connect(lambda *a: errors.append(a))
    dialog._save_clicked()
    qtbot.waitUntil(lambda: bool(errors), timeout=QT_WAIT_MS)
    assert "no OS keyring" in errors[0][1] and "RUNPOD_API_KEY" in errors[0][2]
    assert not Settings.path().exists() or "rp_SECRET" not in Settings.path().read_text()


def test_test_connection_reaches_the_sandbox_and_the_bucket(gui_ctx, qtbot):  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    dialog._run_test(dialog._test_runpod, dialog.restart_button, dialog.runpod_result)
    qtbot.waitUntil(lambda: dialog.runpod_result.text().startswith(("✓", "✗")), timeout=QT_WAIT_MS)
    assert dialog.runpod_result.text().startswith("✓ sandbox endpoint answers")
    dialog._run_test(dialog._test_storage, dialog.restart_button, dialog.storage_result)
    qtbot.waitUntil(lambda: dialog.storage_result.text().startswith(("✓", "✗")), timeout=QT_WAIT_MS)
    assert dialog.storage_result.text().startswith("✓")


def test_runpod_test_with_a_wrong_endpoint_says_what_failed(gui_ctx, qtbot):  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    dialog.endpoint_id.setText("nope")
    dialog.api_root.setText("http://127.0.0.1:9/v2")  # nothing listens on the discard port
    dialog._run_test(dialog._test_runpod, dialog.restart_button, dialog.runpod_result)
    qtbot.waitUntil(lambda: dialog.runpod_result.text().startswith(("✓", "✗")), timeout=QT_WAIT_MS)
    assert dialog.runpod_result.text().startswith("✗")


def test_test_delivery_starts_the_tunnel_and_delivers_through_it(gui_ctx, qtbot):  # type: ignore[no-untyped-def]
    from actor_trainer.core.tunnel import TunnelState

    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    assert gui_ctx.tunnel_status().state is TunnelState.STOPPED
    dialog._run_test(dialog._test_tunnel, dialog.restart_button, dialog.tunnel_result)
    qtbot.waitUntil(lambda: dialog.tunnel_result.text().startswith(("✓", "✗")), timeout=QT_WAIT_MS)
    status = gui_ctx.tunnel_status()
    assert status.state is TunnelState.RUNNING and status.public_url
    assert dialog.tunnel_result.text().startswith(f"✓ delivered through {status.public_url} in ")
    assert dialog.tunnel_result.text().endswith(
        " ms — the tunnel was started for this test and keeps running (stop it in the Tunnel panel)"
    )
    assert "starts the tunnel" in dialog.tunnel_test_button.text()
