"""A sandbox run seen from two processes (docs/architecture.md, "The sandbox"): `train --wait` owns
the run (its simulated worker lives in that process); `status`, `reconcile` and `cancel` from another
process reach it through the owner's endpoint; a run whose owner was killed is interrupted at once.
Real processes, real HTTP, the sandbox's local bucket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.library_factory import make_library
from tests.waits import WAIT_S

pytestmark = pytest.mark.slow

POLL_S = 1.0


def _env(sandbox_seconds: float) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"ACTOR_TRAINER_SANDBOX_SECONDS": f"{sandbox_seconds:g}", "ACTOR_TRAINER_POLL_SECONDS": f"{POLL_S:g}"})
    return env


def cli(lib: Path, *args: str, sandbox_seconds: float = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(sandbox_seconds),
    )


def start_train(lib: Path, *extra: str, sandbox_seconds: float = 120) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "actor_trainer",
            "--data-dir",
            str(lib),
            "train",
            "0",
            "--steps",
            "30",
            "--dim",
            "4",
            "--alpha",
            "4",
            "--wait",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(sandbox_seconds),
    )


def versions(lib: Path) -> list[dict[str, Any]]:
    path = lib / "actor_training_versions" / "0000.json"
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["versions"])
    except ValueError:
        return []  # caught mid-replace on a platform without atomic rename semantics


def wait_for_training(lib: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The newest version once its simulated worker trains (a job id, in progress, an owner)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        found = versions(lib)
        if found and found[0]["status"] == "in_progress" and found[0].get("progress", {}).get("step"):
            return found[0]
        time.sleep(0.05)  # polling a file another process writes: the condition is the wait
    raise AssertionError("the run never started training")


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    root = make_library(tmp_path / "lib", images={0: 4, 1: 0})
    synced = cli(root, "sync", "0")
    assert synced.returncode == 0, synced.stderr
    return root


def test_cancel_from_another_process_ends_train_wait_within_one_poll(lib: Path) -> None:
    train = start_train(lib)
    try:
        running = wait_for_training(lib, train)
        owner = running["owner"]
        assert owner["pid"] == train.pid and owner["url"].startswith("http://127.0.0.1:")
        job_id = running["id"]

        # Another process looks at the run: it reaches the owner's endpoint and changes nothing.
        status = cli(lib, "status", job_id, "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)[0]["status"] == "in_progress"
        reconciled = cli(lib, "reconcile", "--json")
        assert reconciled.returncode == 0, reconciled.stderr
        assert [v["status"] for v in json.loads(reconciled.stdout)] == ["in_progress"]
        assert train.poll() is None

        cancelled = cli(lib, "cancel", job_id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "cancelled" in cancelled.stderr and "RunPod: CANCELLED" in cancelled.stderr
        cancelled_at = time.monotonic()
        out, err = train.communicate(timeout=WAIT_S)
        took = time.monotonic() - cancelled_at
    finally:
        if train.poll() is None:
            train.kill()
            train.communicate()
    assert train.returncode == 1, err
    assert "ended cancelled" in err
    assert json.loads(out)["status"] == "cancelled"
    # One poll interval, plus the time the process takes to stop its services.
    assert took < POLL_S + 6, f"train --wait took {took:.1f} s to notice"
    assert versions(lib)[0]["status"] == "cancelled"


def test_killed_train_wait_leaves_an_interrupted_run_that_blocks_nothing(lib: Path) -> None:
    train = start_train(lib)
    try:
        running = wait_for_training(lib, train)
    finally:
        train.send_signal(signal.SIGKILL)
        train.communicate()
    assert versions(lib)[0]["status"] == "in_progress"  # nobody has looked yet

    again = start_train(lib, sandbox_seconds=1)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert json.loads(out)["status"] == "completed"
    first = next(v for v in versions(lib) if v["id"] == running["id"])
    assert first["status"] == "failed"
    assert first["error"]["message"].startswith("Interrupted: the sandbox stopped with the app")
    assert first["error"]["details"]["kind"] == "SandboxInterrupted"
    assert "runpodStatus" not in first or first["runpodStatus"] is None


def test_cancel_of_a_run_whose_sandbox_was_killed_says_it_was_interrupted(lib: Path) -> None:
    train = start_train(lib)
    try:
        running = wait_for_training(lib, train)
    finally:
        train.send_signal(signal.SIGKILL)
        train.communicate()
    cancelled = cli(lib, "cancel", running["id"])
    assert cancelled.returncode == 1
    assert "V1: failed. — Interrupted: the sandbox stopped with the app" in cancelled.stderr
    assert versions(lib)[0]["status"] == "failed"
