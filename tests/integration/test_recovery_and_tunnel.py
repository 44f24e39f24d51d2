"""Runs that outlive the app, and the happy path through a tunnel.

- The app process is killed (SIGKILL) mid-run; a separately running endpoint (the sandbox as its
  own process, treated as a real RunPod endpoint with an S3 bucket) finishes the job; the app is
  started again and reconciles the version to completed.
- The same happy path in ngrok mode, through the stand-in ngrok agent: the webhook travels
  sandbox → public URL → forwarder → the app's webhook server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from actor_trainer.core.models import VersionStatus
from actor_trainer.runtime import Services
from tests.fixtures.ngrok import FakeNgrok, fake_ngrok_fixture  # noqa: F401
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.integration.e2e_support import FAST_PARAMS, Recorder, sandbox_config, wait_terminal
from tests.library_factory import make_library
from tests.waits import WAIT_S


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_until(proc: subprocess.Popen[str], pattern: str, limit_s: float = 30.0) -> re.Match[str]:
    assert proc.stderr is not None
    deadline = time.monotonic() + limit_s
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"{pattern!r} never appeared; output was:\n{''.join(seen)}")


def wait_for_job(base_url: str, job_id: str, state: str, limit_s: float = WAIT_S) -> None:
    """Poll the endpoint's `/status` until the job is in `state` (the endpoint is the authority)."""
    deadline = time.monotonic() + limit_s
    seen = None
    with httpx.Client(base_url=base_url, timeout=5) as http:
        while time.monotonic() < deadline:
            answer = http.get(f"/status/{job_id}")
            seen = answer.json().get("status") if answer.status_code == 200 else answer.status_code
            if seen == state:
                return
            time.sleep(0.1)  # the poll's interval
    raise AssertionError(f"job {job_id} is {seen}, not {state}, after {limit_s:g} s")


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_app_killed_mid_run_then_restarted_reconciles_to_completed(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    lib = make_library(tmp_path / "lib", images={0: 6})
    base_env = {**os.environ, **s3_bucket.env(prefix="studio/")}
    endpoint_port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), "sandbox", "--port", str(endpoint_port)],
        env={**base_env, "ACTOR_TRAINER_SANDBOX_SECONDS": "6"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        read_until(sandbox, r"base URL: (http://\S+)")
        webhook_port = free_port()
        app_env = {
            **base_env,
            "RUNPOD_ENDPOINT_ID": "sandbox",
            "RUNPOD_API_KEY": "rp-test-key",
            "ACTOR_TRAINER_RUNPOD_BASE_URL": f"http://127.0.0.1:{endpoint_port}/v2",
            "ACTOR_TRAINER_WEBHOOK_MODE": "public",
            "ACTOR_TRAINER_PUBLIC_URL": f"http://127.0.0.1:{webhook_port}",
            "ACTOR_TRAINER_WEBHOOK_PORT": str(webhook_port),
            "ACTOR_TRAINER_POLL_SECONDS": "1",
        }
        sync = subprocess.run(
            [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), "sync", "0"],
            env=app_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sync.returncode == 0, sync.stderr

        app = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "actor_trainer",
                "--data-dir",
                str(lib),
                "train",
                "0",
                "--steps",
                "200",
                "--dim",
                "4",
                "--alpha",
                "4",
                "--wait",
            ],
            env=app_env,
            stderr=subprocess.PIPE,
            text=True,
        )
        job_id = read_until(app, r"submitted as job (\S+)").group(1)
        read_until(app, r"training", limit_s=20)  # progress is flowing: the run is mid-way
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=10)

        versions = json.loads((lib / "actor_training_versions" / "0000.json").read_text())["versions"]
        assert versions[0]["id"] == job_id and versions[0]["status"] in ("queued", "in_progress")

        # The endpoint finishes the job while the app is gone (its webhook finds no one).
        wait_for_job(f"http://127.0.0.1:{endpoint_port}/v2/sandbox", job_id, "COMPLETED")
        restarted = subprocess.run(
            [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), "reconcile", "--json"],
            env=app_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert restarted.returncode == 0, restarted.stderr
        [version] = json.loads(restarted.stdout)
        assert version["id"] == job_id and version["status"] == "completed", restarted.stderr
        assert version["loraUrl"] == f"s3://{s3_bucket.bucket}/studio/actors/0000/models/actor_0000_V1.safetensors"
        head = s3_bucket.client().head_object(
            Bucket=s3_bucket.bucket, Key="studio/actors/0000/models/actor_0000_V1.safetensors"
        )
        assert head["ContentLength"] > 0
    finally:
        sandbox.send_signal(signal.SIGINT)
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()


@pytest.mark.asyncio
async def test_happy_path_in_ngrok_mode_through_the_stand_in_agent(tmp_path: Path, fake_ngrok: FakeNgrok) -> None:
    root = make_library(tmp_path / "lib")
    config = dataclasses.replace(
        sandbox_config(root, poll_seconds=30.0),
        webhook_mode="ngrok",
        ngrok_path=fake_ngrok.path,
        ngrok_authtoken=fake_ngrok.token,
    )
    services = Services(config)
    recorder = Recorder()
    services.events.subscribe(recorder)
    await services.start()
    try:
        for actor in services.library.load_actors():
            await services.storage.sync(actor.id, services.library.scan_training_data(actor.id).files)
        public_url = await services.start_tunnel()
        assert public_url.startswith("http") and str(services.webhook_server.port) not in public_url  # type: ignore[union-attr]
        assert services.webhook_base_url() == public_url
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        assert services.sandbox is not None
        assert (services.sandbox.jobs[version.id].webhook or "").startswith(public_url + "/api/training-webhook/")
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.COMPLETED
        assert services.webhook_server is not None and services.webhook_server.deliveries >= 1
        assert any("completed (webhook)" in line for line in recorder.logs())
    finally:
        await services.stop()
