"""Settings, secrets and the environment: what overrides what, and secrets never in files."""

from __future__ import annotations

from pathlib import Path

import pytest

from actor_trainer.core.errors import ConfigError, CorruptFileError, SecretStoreError
from actor_trainer.core.settings import Secrets, Settings, resolve_config


def test_no_credentials_means_the_sandbox(tmp_path: Path) -> None:
    config = resolve_config(Settings(), data_dir=tmp_path)
    assert config.sandbox and config.endpoint_label == "SANDBOX" and config.storage is None
    assert config.runpod_api_key is None and config.warnings == ()


def test_environment_overrides_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "ep-from-env")
    monkeypatch.setenv("RUNPOD_API_KEY", "rp_env_key")
    monkeypatch.setenv("ACTOR_TRAINER_RUNPOD_BASE_URL", "http://127.0.0.1:9/v2")
    monkeypatch.setenv("ACTOR_TRAINER_S3_BUCKET", "env-bucket")
    monkeypatch.setenv("ACTOR_TRAINER_POLL_SECONDS", "7")
    monkeypatch.setenv("ACTOR_TRAINER_WEBHOOK_MODE", "poll")
    settings = Settings(runpod_endpoint_id="ep-from-file", s3_bucket="file-bucket", poll_seconds=30)
    config = resolve_config(settings, data_dir=tmp_path)
    assert not config.sandbox and config.endpoint_label == "ep-from-env"
    assert config.runpod_base_url == "http://127.0.0.1:9/v2/ep-from-env"
    assert config.storage is not None and config.storage.bucket == "env-bucket"
    assert config.poll_seconds == 7 and config.webhook_mode == "poll"
    assert "rp_env_key" not in config.describe()


def test_an_endpoint_without_a_key_falls_back_to_the_sandbox_and_says_so(tmp_path: Path) -> None:
    config = resolve_config(Settings(runpod_endpoint_id="ep-1"), data_dir=tmp_path)
    assert config.sandbox and "no API key" in config.warnings[0] and "RUNPOD_API_KEY" in config.warnings[0]


def test_bad_mode_and_public_without_url_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTOR_TRAINER_WEBHOOK_MODE", "carrier-pigeon")
    with pytest.raises(ConfigError, match="not a webhook mode"):
        resolve_config(Settings(), data_dir=tmp_path)
    monkeypatch.setenv("ACTOR_TRAINER_WEBHOOK_MODE", "public")
    with pytest.raises(ConfigError, match="no public URL"):
        resolve_config(Settings(), data_dir=tmp_path)


def test_settings_round_trip_and_a_corrupt_file_is_an_error_left_alone() -> None:
    Settings(s3_bucket="b", poll_seconds=12).save()
    assert Settings.load().s3_bucket == "b"
    path = Settings.path()
    path.write_text('{"s3_bucket": "b", "poll_seconds": ')
    before = path.read_bytes()
    with pytest.raises(CorruptFileError):
        Settings.load()
    assert path.read_bytes() == before


def test_without_a_keyring_secrets_come_from_env_and_are_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = Secrets()
    assert not secrets.keyring_usable()  # the test environment's "fail" backend
    with pytest.raises(SecretStoreError) as info:
        secrets.set("runpod_api_key", "rp_secret")
    assert "RUNPOD_API_KEY" in info.value.hint
    monkeypatch.setenv("RUNPOD_API_KEY", "rp_env")
    assert secrets.get("runpod_api_key") == "rp_env" and secrets.source("runpod_api_key") == "environment"
    assert "rp_secret" not in Settings.path().read_text() if Settings.path().exists() else True
