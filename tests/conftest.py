"""Test-wide set-up: every test runs in its own sandbox of folders and environment.

Qt runs offscreen; no test reads or writes the real user's config, keyring, library or AWS files.
"""

from __future__ import annotations

import os

# Before any Qt import (pytest-qt imports it early): no display here, and qasync must pick PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_API"] = "pyside6"

from pathlib import Path

import pytest

_ENV_CLEARED = (
    "ACTOR_TRAINER_DATA_DIR",
    "RUNPOD_API_KEY",
    "RUNPOD_ENDPOINT_ID",
    "ACTOR_TRAINER_RUNPOD_BASE_URL",
    "ACTOR_TRAINER_S3_BUCKET",
    "ACTOR_TRAINER_S3_PREFIX",
    "ACTOR_TRAINER_WEBHOOK_MODE",
    "ACTOR_TRAINER_PUBLIC_URL",
    "ACTOR_TRAINER_WEBHOOK_HOST",
    "ACTOR_TRAINER_WEBHOOK_PORT",
    "ACTOR_TRAINER_POLL_SECONDS",
    "ACTOR_TRAINER_SANDBOX_SECONDS",
    "NGROK_AUTHTOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Per-test HOME/XDG folders, no inherited configuration, no real keyring; the sandbox's
    fixed timing (a simulated run takes ACTOR_TRAINER_SANDBOX_SECONDS whatever its parameters)."""
    home = tmp_path_factory.mktemp("home")
    for var in (*_ENV_CLEARED, *(name for name in os.environ if name.startswith("ACTOR_TRAINER_"))):
        monkeypatch.delenv(var, raising=False)
    # The app's default is "scaled" (sandbox/timing.py): runs take time in proportion to their steps,
    # resolution and batch. Tests want short, predictable runs; the tests of the scaling set "scaled"
    # themselves. CLI processes the tests start inherit this through the environment.
    monkeypatch.setenv("ACTOR_TRAINER_SANDBOX_TIMING", "fixed")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # The "fail" backend: a test that needs a keyring installs tests.keyring_backend.MemoryKeyring.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return home
