"""No secret is ever shown or stored (issue 9, item 12): marker secrets set through the environment,
the CLI run as a user runs it (real processes; moto for S3; a local "RunPod" that answers 400 and
echoes the request's headers back, as a misbehaving proxy would), then every output and every file
of the library and the per-user folders is searched for the markers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from actor_trainer.core import redact as redaction
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.settings import Secrets, Settings, resolve_config
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.library_factory import make_library

RUNPOD_MARKER = "rpa_" + uuid.uuid4().hex.upper() + "MARKER"
S3_MARKER = "s3secretMARKER/" + uuid.uuid4().hex + "+x"
NGROK_MARKER = "ngrokMARKER_" + uuid.uuid4().hex
MARKERS = (RUNPOD_MARKER, S3_MARKER, NGROK_MARKER)


class EchoingRunPod(BaseHTTPRequestHandler):
    """Answers every request 400 with the request's headers in the error text (plain or JSON)."""

    received: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        EchoingRunPod.received.append(headers)
        if self.path.endswith("/health"):
            body, kind = f"bad gateway; you sent {headers}".encode(), "text/plain"
        else:
            body, kind = json.dumps({"error": f"invalid request; you sent {headers}"}).encode(), "application/json"
        self.send_response(400)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_runpod() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingRunPod)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v2"
    finally:
        server.shutdown()
        server.server_close()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", "-v", *args], capture_output=True, text=True, timeout=120, env=env
    )


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield path


def test_marker_secrets_appear_in_no_output_and_no_file(
    tmp_path: Path, s3_bucket: S3Bucket, echo_runpod: str, isolated_environment: Path
) -> None:
    lib = make_library(tmp_path / "lib", images={0: 4})
    env = dict(os.environ)
    env.update(s3_bucket.env())
    env.update(
        {
            "AWS_SECRET_ACCESS_KEY": S3_MARKER,
            "RUNPOD_API_KEY": RUNPOD_MARKER,
            "NGROK_AUTHTOKEN": NGROK_MARKER,
            "RUNPOD_ENDPOINT_ID": "ep-test",
            "ACTOR_TRAINER_RUNPOD_BASE_URL": echo_runpod,
            "ACTOR_TRAINER_WEBHOOK_MODE": "poll",
            "ACTOR_TRAINER_DATA_DIR": str(lib),
        }
    )
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = cli(env, *args)
        outputs.extend([result.stdout, result.stderr])
        return result

    assert run("sync", "0").returncode == 0
    assert run("train", "0", "--dry-run").returncode == 0
    failed = run("train", "0", "--steps", "30", "--dim", "4", "--alpha", "4")
    assert failed.returncode == 1
    # The server did get the key and echoed it: what was shown is the redacted echo.
    assert any(RUNPOD_MARKER in headers for headers in EchoingRunPod.received)
    assert "[redacted]" in failed.stderr and "you sent" in failed.stderr
    run("status", "0")
    run("status", "job-that-does-not-exist")
    run("reconcile")
    run("versions", "0", "--json")
    run("actors", "--json")

    # The sandbox alone prints where its bucket is: never the keys of the configured one.
    sandbox_env = {k: v for k, v in env.items() if k != "RUNPOD_ENDPOINT_ID"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "actor_trainer", "-v", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sandbox_env,
    )
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            if "Press Ctrl+C" in line:
                break
        # The process list (what any user of the machine sees) while the sandbox runs.
        outputs.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    sandbox_text = "".join(seen) + out + err
    assert "bucket:" in sandbox_text and s3_bucket.bucket in sandbox_text
    outputs.append(sandbox_text)

    everything = "\n".join(outputs)
    for marker in MARKERS:
        assert marker not in everything
    for path in files_under(lib, isolated_environment):
        data = path.read_bytes()
        for marker in MARKERS:
            assert marker.encode() not in data, f"{marker[:8]}… found in {path}"
    stored = json.loads(next((lib / "actor_training_versions").glob("0000.json")).read_text())
    assert "[redacted]" in json.dumps(stored)  # the echoed error was stored, redacted


def test_config_reprs_and_error_texts_hold_no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", RUNPOD_MARKER)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "ep-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_MARKER)
    monkeypatch.setenv("NGROK_AUTHTOKEN", NGROK_MARKER)
    monkeypatch.setenv("ACTOR_TRAINER_S3_BUCKET", "b")
    config = resolve_config(Settings(), Secrets(), data_dir=tmp_path)
    assert config.runpod_api_key == RUNPOD_MARKER and config.storage is not None
    shown = repr(config) + str(config) + repr(config.storage) + str(config.storage)
    for marker in MARKERS:
        assert marker not in shown
    # Any error text (the secrets were registered when read), in every spelling a server may use.
    from urllib.parse import quote

    error = ActorTrainerError(
        f"server said {S3_MARKER} / {quote(S3_MARKER, safe='')} / {json.dumps(NGROK_MARKER)}",
        f"Authorization: Bearer {RUNPOD_MARKER}",
    )
    assert all(m not in str(error) and quote(m, safe="") not in str(error) for m in MARKERS)
    # Credential-shaped text is masked even when it was never configured here.
    assert "abcdef123456" not in redaction.redact("aws_secret_access_key=abcdef123456 Bearer xyz789xyz")
    assert "xyz789xyz" not in redaction.redact("Authorization: Bearer xyz789xyz")


def test_a_short_secret_masks_no_ordinary_words() -> None:
    redaction.register("testing")  # moto's key in tests: shorter than any real credential
    assert redaction.redact("testing the bucket") == "testing the bucket"
