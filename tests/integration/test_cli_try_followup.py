"""A CLI-only user tries a version without waiting and collects the images later (issue 12).

The endpoint is the sandbox as its own process, treated as a real RunPod endpoint (its bucket an S3
bucket on a moto server), so the `try` command that submits ends while the job goes on elsewhere, and
`status` / `reconcile` in later processes pick the trial up over real HTTP: its images recorded with
the version and fetched into the app's image cache; a failed trial reported with its error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.integration.test_recovery_and_tunnel import free_port, read_until
from tests.library_factory import make_library
from tests.waits import WAIT_S

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="stops its sandbox endpoint process with SIGTERM (POSIX)"),
]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _trials(lib: Path) -> list[dict[str, Any]]:
    versions = json.loads((lib / "actor_training_versions" / "0000.json").read_text(encoding="utf-8"))["versions"]
    return list(versions[0].get("trials") or [])


@pytest.fixture
def endpoint(tmp_path: Path, s3_bucket: S3Bucket) -> Iterator[tuple[Path, Cli]]:
    """A library with a trained V1 of actor 0, and a `cli` that talks to the endpoint process."""
    lib = make_library(tmp_path / "lib", images={0: 4})
    base_env = {**os.environ, **s3_bucket.env(prefix="studio/")}
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), "sandbox", "--port", str(port)],
        env={**base_env, "ACTOR_TRAINER_SANDBOX_SECONDS": "2"},
        stderr=subprocess.PIPE,
        text=True,
    )
    env = {
        **base_env,
        "RUNPOD_ENDPOINT_ID": "sandbox",
        "RUNPOD_API_KEY": "rp-test-key",
        "ACTOR_TRAINER_RUNPOD_BASE_URL": f"http://127.0.0.1:{port}/v2",
        "ACTOR_TRAINER_WEBHOOK_MODE": "poll",
        "ACTOR_TRAINER_POLL_SECONDS": "1",
        "ACTOR_TRAINER_WORKER_CONTRACT": "2",  # a real endpoint is taken for v1 until it says otherwise
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        read_until(proc, r"base URL: (http://\S+)")
        assert cli("sync", "0").returncode == 0
        trained = cli("train", "0", "--steps", "30", "--dim", "4", "--alpha", "4", "--wait")
        assert trained.returncode == 0, trained.stderr
        yield lib, cli
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _until_settled(cli: Cli, trial_id: str, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the follow-up command until it reports the trial ended (another process runs the job): that
    run's result, and what every run said on stderr."""
    deadline = time.monotonic() + WAIT_S * 2
    said = ""
    while True:
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        said += result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith(f"try {trial_id} of ")]
        assert lines, said  # an unfinished trial is reported each time
        if not any(state in lines[0] for state in (": queued", ": in progress", ": pending")):
            return result, said
        assert time.monotonic() < deadline, said


def test_a_try_sent_without_waiting_is_collected_by_status(endpoint: tuple[Path, Cli], s3_bucket: S3Bucket) -> None:
    lib, cli = endpoint
    sent = cli("try", "0", "V1", "--prompt", "{trigger} on a beach", "--seed", "42", "--count", "2", "--json")
    assert sent.returncode == 0, sent.stderr
    trial = json.loads(sent.stdout)
    assert trial["status"] in ("queued", "in_progress") and trial["id"] != trial["requestId"]
    assert "actor-trainer status 0" in sent.stderr
    [stored] = _trials(lib)
    assert stored["status"] == trial["status"] and not stored.get("images")  # nobody followed it

    # `status ACTOR` checks the actor's unfinished tries: /status, the images recorded and fetched.
    result, said = _until_settled(cli, trial["id"], "status", "0", "--json")
    [version] = json.loads(result.stdout)
    [recorded] = version["trials"]
    assert recorded["id"] == trial["id"] and recorded["status"] == "completed", result.stderr
    assert [(i["seed"], i["index"]) for i in recorded["images"]] == [(42, 0), (43, 1)]
    assert _trials(lib)[0]["images"] == recorded["images"]  # in the library, not only printed
    assert f"try {trial['id']} of V1 (0000_european_16_male): completed" in said
    cached = [Path(line.strip()) for line in said.splitlines() if line.strip().endswith(".png")]
    assert len(cached) == 2
    for path in cached:  # in the app's image cache, where the gallery and the Try panel read them
        assert Image.open(path).format == "PNG"
    keys = {o["Key"] for o in s3_bucket.client().list_objects_v2(Bucket=s3_bucket.bucket)["Contents"]}
    assert {f"studio/actors/0000/trials/actor_0000_V1/{trial['requestId']}_0{i}.png" for i in (0, 1)} <= keys

    # `status TRY_ID` names one try, whatever its state, with where its images are.
    again = cli("status", trial["id"], "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["version"] == "V1" and doc["try"]["status"] == "completed"
    assert [Path(i["file"]) for i in doc["try"]["images"]] == cached


def test_a_failed_try_is_reported_with_its_error_by_reconcile(endpoint: tuple[Path, Cli], s3_bucket: S3Bucket) -> None:
    lib, cli = endpoint
    # The LoRA is gone from the bucket: the worker fails the generate job with a sentence.
    s3_bucket.client().delete_object(Bucket=s3_bucket.bucket, Key="studio/actors/0000/models/actor_0000_V1.safetensors")
    sent = cli("try", "0", "V1", "--prompt", "{trigger} reading", "--seed", "7", "--json")
    assert sent.returncode == 0, sent.stderr
    trial = json.loads(sent.stdout)

    result, said = _until_settled(cli, trial["id"], "reconcile", "--json")
    [version] = json.loads(result.stdout)  # no run in flight: the version is listed for its try
    [recorded] = version["trials"]
    assert recorded["id"] == trial["id"] and recorded["status"] == "failed"
    assert "LoRA was not found" in recorded["error"]["message"]
    assert f"try {trial['id']} of V1 (0000_european_16_male): failed" in said
    assert "LoRA was not found" in said
    assert _trials(lib)[0]["status"] == "failed"

    # Nothing left to follow: a second reconcile says so and changes nothing.
    quiet = cli("reconcile")
    assert quiet.returncode == 0 and "nothing to reconcile" in quiet.stderr
    assert _trials(lib)[0] == recorded
