"""`train --wait` against webhooks shaped as RunPod may send them (issue 9, item 6): a body with
another Content-Type (or none) echoing a multi-megabyte input, and a burst of duplicate deliveries
arriving at once. Real processes; the faults reach the CLI's in-process sandbox through
ACTOR_TRAINER_SANDBOX_FAULTS. Polling is made too slow to matter, so the webhook decides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.sandbox.faults import FAULTS_ENV
from tests.library_factory import make_library


def train_wait(lib: Path, faults: dict[str, object]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        {"ACTOR_TRAINER_SANDBOX_SECONDS": "0.5", "ACTOR_TRAINER_POLL_SECONDS": "60", FAULTS_ENV: json.dumps(faults)}
    )
    data = ["--data-dir", str(lib)]
    synced = subprocess.run(
        [sys.executable, "-m", "actor_trainer", *data, "sync", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert synced.returncode == 0, synced.stderr
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "actor_trainer",
            *data,
            "train",
            "0",
            "--steps",
            "20",
            "--dim",
            "4",
            "--alpha",
            "4",
            "--wait",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", ""])
def test_multi_megabyte_webhooks_with_other_content_types(tmp_path: Path, content_type: str) -> None:
    lib = make_library(tmp_path / "lib", images={0: 3})
    run = train_wait(lib, {"webhook_content_type": content_type, "echo_padding_bytes": 6_000_000})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "completed"
    assert "completed (webhook)" in run.stderr and "Webhook rejected" not in run.stderr


def test_a_burst_of_duplicate_webhooks(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 3})
    run = train_wait(lib, {"duplicate_webhooks": 200, "webhook_burst": True})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "completed"
    assert "completed (webhook)" in run.stderr
    assert 1 <= run.stderr.count("confirming with RunPod") <= 2, run.stderr
    assert run.stderr.count("Webhook received for job") == 1
