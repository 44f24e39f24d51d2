"""The queue against an endpoint that outlives the runner (the sandbox as its own process, treated as
a real RunPod endpoint with an S3 bucket on a moto server): `queue run` without --wait submits and
returns; the runs go on at the endpoint; `queue run --wait` picks each one up where it is (the same
job, never a second /run), is killed (SIGKILL) mid-queue and started again, and ends with every
actor trained exactly once."""

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

from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.integration.test_recovery_and_tunnel import free_port, read_until
from tests.library_factory import make_library
from tests.waits import WAIT_S

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")]


def _versions(lib: Path, actor_id: int) -> list[dict[str, Any]]:
    path = lib / "actor_training_versions" / f"{actor_id:04d}.json"
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["versions"]) if path.exists() else []
    except ValueError:
        return []


def test_runs_at_a_real_endpoint_are_picked_up_not_resubmitted(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    lib = make_library(
        tmp_path / "lib", images={0: 4, 1: 4, 2: 4}, actors=[{"id": i, "name": f"000{i}_actor"} for i in range(3)]
    )
    base_env = {**os.environ, **s3_bucket.env(prefix="studio/")}
    endpoint_port = free_port()
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), "sandbox", "--port", str(endpoint_port)],
        env={**base_env, "ACTOR_TRAINER_SANDBOX_SECONDS": "3"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        read_until(endpoint, r"base URL: (http://\S+)")
        env = {
            **base_env,
            "RUNPOD_ENDPOINT_ID": "sandbox",
            "RUNPOD_API_KEY": "rp-test-key",
            "ACTOR_TRAINER_RUNPOD_BASE_URL": f"http://127.0.0.1:{endpoint_port}/v2",
            "ACTOR_TRAINER_WEBHOOK_MODE": "poll",
            "ACTOR_TRAINER_POLL_SECONDS": "1",
        }

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        added = cli("queue", "add", "0", "1", "2", "--steps", "30", "--dim", "4", "--alpha", "4")
        assert added.returncode == 0, added.stderr

        # Without --wait: the first entry is synced and submitted, and the command returns.
        first = cli("queue", "run")
        assert first.returncode == 0, first.stderr
        [v0] = _versions(lib, 0)
        assert v0["status"] in ("queued", "in_progress") and v0["owner"] is None
        assert _versions(lib, 1) == []  # one at a time

        # --wait picks V1 of actor 0 up where it is, then submits actor 1; killed while that one trains.
        runner = subprocess.Popen(
            [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), "queue", "run", "--wait"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + WAIT_S * 3
            while not (_versions(lib, 1) and _versions(lib, 1)[0]["status"] in ("queued", "in_progress")):
                assert runner.poll() is None, runner.communicate()
                assert time.monotonic() < deadline, "actor 1 was never submitted"
                time.sleep(0.02)  # another process writes the file: the condition is the wait
        finally:
            runner.send_signal(signal.SIGKILL)
            runner.communicate()
        job_1 = _versions(lib, 1)[0]["id"]

        last = cli("queue", "run", "--wait")
        assert last.returncode == 0, last.stderr
        assert "Queue finished: 3 completed, 0 failed" in last.stderr
        for actor_id in range(3):
            [version] = _versions(lib, actor_id)  # one version each: nothing was submitted twice
            assert version["status"] == "completed", version
        assert _versions(lib, 0)[0]["id"] == v0["id"] and _versions(lib, 1)[0]["id"] == job_1
        entries = json.loads(cli("queue", "list", "--json").stdout)["entries"]
        assert [(e["state"], e["attempts"]) for e in entries] == [("done", 1)] * 3
    finally:
        endpoint.send_signal(signal.SIGTERM)
        endpoint.wait(timeout=10)
