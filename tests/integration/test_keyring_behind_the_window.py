"""The app reads no keyring before its first paint unless the configuration needs it then (issue 11,
item 3): without an endpoint or a bucket the RunPod key and the S3 secret are never asked for, and
the ngrok token is read when the services start (`resolve_config(..., ngrok_token_later=True)`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.core.settings import Settings, resolve_config
from tests.integration.e2e_support import running

PROBE = """
import sys
from pathlib import Path
from actor_trainer.core.settings import Settings, resolve_config
config = resolve_config(Settings(**{settings}), data_dir=Path({lib!r}), ngrok_token_later=True)
print(config.sandbox, config.ngrok_token_pending, "keyring" in sys.modules)
"""


def probe(tmp_path: Path, settings: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("NGROK_AUTHTOKEN", "RUNPOD_API_KEY", "RUNPOD_ENDPOINT_ID")}
    code = PROBE.format(settings="{" + settings + "}", lib=str(tmp_path / "lib"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


def test_the_sandbox_start_asks_no_keyring_before_the_paint(tmp_path: Path) -> None:
    assert probe(tmp_path) == "True True False"


def test_an_endpoint_still_needs_its_key_before_the_paint(tmp_path: Path) -> None:
    # The key decides sandbox or endpoint, so the keyring is asked (and, empty here, says sandbox).
    assert probe(tmp_path, '"runpod_endpoint_id": "abc123"') == "True True True"


def test_a_token_in_the_environment_is_taken_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NGROK_AUTHTOKEN", "2abcdefghijklmnopqrstuvwxyz_0123456789")
    config = resolve_config(Settings(), ngrok_token_later=True)
    assert not config.ngrok_token_pending and config.ngrok_authtoken == "2abcdefghijklmnopqrstuvwxyz_0123456789"
    assert config.with_ngrok_token() is config


@pytest.mark.asyncio
async def test_the_services_read_the_token_when_they_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    later = resolve_config(Settings(), data_dir=tmp_path / "unused", ngrok_token_later=True)
    assert later.ngrok_token_pending and later.ngrok_authtoken is None
    # Set after the configuration was resolved: only a read at start can see it.
    monkeypatch.setenv("NGROK_AUTHTOKEN", "2zyxwvutsrqponmlkjihgfedcba_9876543210")
    async with running(tmp_path, ngrok_token_pending=True) as (services, _rec):
        assert not services.config.ngrok_token_pending
        assert services.config.ngrok_authtoken == "2zyxwvutsrqponmlkjihgfedcba_9876543210"
        assert services.tunnel is not None and "simulated" not in services.tunnel.label  # a real agent's road
