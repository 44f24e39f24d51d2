"""Benchmark: upload an actor's training data to a local S3 server, ours vs `aws s3 sync`.

    .venv/bin/python benchmarks/bench_sync.py [--files 500] [--size-kb 200] [--concurrency 8]

Generates N files of ~200 KB (random bytes, PNG-ish names) in a temp folder, starts a moto S3
server on 127.0.0.1 in a child process (so neither client shares a GIL with the server), then:
  1. syncs them with our S3Storage into prefix "ours/", and times it;
  2. syncs them with the AWS CLI (`aws s3 sync`) into prefix "aws/", and times it;
  3. times a no-op re-sync of each, and counts its HTTP requests (ours: a botocore `before-send`
     hook; aws: the "Sending http request" lines of `--debug`, in a separate, untimed run).
The AWS CLI is not a project dependency: if the venv lacks it, it is pip-installed here (pinned
to the venv's botocore, so boto3 is left untouched), and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from actor_trainer.core.storage import FileSyncState, LocalFile, S3Storage

BUCKET = "bench"
REGION = "us-east-1"
MB = 1_000_000


def isolate_aws_env() -> None:
    """Fake keys, no profile or config files: nothing of this machine's AWS setup is used."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )


def serve_moto(conn: Connection) -> None:
    """Child process: a moto S3 server on a free port; sends the port, serves until told to stop."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the terminal
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    conn.send(server.get_host_and_port()[1])
    conn.recv()
    server.stop()


def generate(folder: Path, count: int, size_kb: int) -> list[LocalFile]:
    folder.mkdir(parents=True)
    files = []
    for i in range(count):
        size = size_kb * 1000 + (i * 7919) % (size_kb * 200) - size_kb * 100  # ±10 %, deterministic
        path = folder / f"img_{i:04d}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8))
        files.append(LocalFile(path.name, path, size))
    return files


def aws_command() -> tuple[list[str], str]:
    """How to run the AWS CLI, installing it into this venv first if needed."""
    note = ""
    if importlib.util.find_spec("awscli") is None:
        botocore_version = importlib.metadata.version("botocore")
        print(
            f"awscli is not installed in {sys.prefix}: installing it with pip (botocore pinned to {botocore_version})",
            flush=True,
        )
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "awscli", f"botocore=={botocore_version}"],
            check=False,
        )
        note = "installed by this run" if done.returncode == 0 else ""
        importlib.invalidate_caches()
    if importlib.util.find_spec("awscli") is not None:
        version = importlib.metadata.version("awscli")
        return [sys.executable, "-m", "awscli"], f"awscli {version} in the venv{' (' + note + ')' if note else ''}"
    fallback = shutil.which("aws")
    if fallback is None:
        raise SystemExit("The AWS CLI could not be installed and there is no `aws` on PATH.")
    return [fallback], f"`aws` from PATH ({fallback}); pip install failed"


def run_aws(cmd: list[str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"aws {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, done


async def ours(endpoint: str, local: list[LocalFile], concurrency: int) -> dict[str, Any]:
    def make(prefix: str) -> S3Storage:
        return S3Storage(BUCKET, prefix, endpoint_url=endpoint, region=REGION)

    requests: list[str] = []

    def count(request: Any, **_: Any) -> None:
        requests.append(request.method)

    storage = make("ours")
    client = await asyncio.to_thread(storage.boto3_client)  # created before the clock starts
    client.meta.events.register("before-send.s3", count)
    start = time.perf_counter()
    result = await storage.sync(0, local, concurrency=concurrency)
    upload_s = time.perf_counter() - start
    assert result.ok and len(result.uploaded) == len(local), result.failed
    upload_requests = len(requests)

    requests.clear()
    start = time.perf_counter()
    again = await storage.sync(0, local, concurrency=concurrency)
    warm_s = time.perf_counter() - start
    assert again.uploaded == () and len(again.skipped) == len(local)
    warm_requests = len(requests)

    # As a new process would see it: a new client (timed) and an empty hash cache.
    requests.clear()
    start = time.perf_counter()
    cold = make("ours")
    (await asyncio.to_thread(cold.boto3_client)).meta.events.register("before-send.s3", count)
    cold_result = await cold.sync(0, local, concurrency=concurrency)
    cold_s = time.perf_counter() - start
    assert cold_result.uploaded == ()
    return {
        "upload_s": upload_s,
        "upload_requests": upload_requests,
        "warm_s": warm_s,
        "warm_requests": warm_requests,
        "cold_s": cold_s,
        "cold_requests": len(requests),
        "bytes": result.bytes_uploaded,
    }


async def in_sync_count(endpoint: str, prefix: str, local: list[LocalFile]) -> int:
    status = await S3Storage(BUCKET, prefix, endpoint_url=endpoint, region=REGION).compare(0, local)
    return status.count(FileSyncState.IN_SYNC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size-kb", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8, help="ours (the AWS CLI uses its default, 10)")
    args = parser.parse_args()
    isolate_aws_env()
    aws, aws_label = aws_command()

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve_moto, args=(child,), daemon=True)
    server.start()
    endpoint = f"http://127.0.0.1:{parent.recv()}"
    try:
        boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})).create_bucket(
            Bucket=BUCKET
        )
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            local = generate(Path(tmp) / "training_data", args.files, args.size_kb)
            total_mb = sum(f.size for f in local) / MB
            print(f"{len(local)} files, {total_mb:.1f} MB, moto S3 at {endpoint}; AWS CLI: {aws_label}\n")

            mine = asyncio.run(ours(endpoint, local, args.concurrency))

            target = f"s3://{BUCKET}/aws/actors/0000/training_data/"
            base = ["--endpoint-url", endpoint, "s3", "sync", str(Path(tmp) / "training_data"), target]
            startup_s, _ = run_aws(aws, "--version")
            aws_upload_s, _ = run_aws(aws, *base, "--only-show-errors")
            aws_noop_s, _ = run_aws(aws, *base, "--only-show-errors")
            _, debug = run_aws(aws, "--debug", *base)
            aws_noop_requests = debug.stderr.count("Sending http request")

            ours_ok = asyncio.run(in_sync_count(endpoint, "ours", local))
            aws_ok = asyncio.run(in_sync_count(endpoint, "aws", local))
    finally:
        parent.send("stop")
        server.join(10)

    n = len(local)
    rows = [
        ("upload", f"ours (S3Storage, concurrency {args.concurrency})", mine["upload_s"], mine["upload_requests"]),
        ("upload", "aws s3 sync (10 concurrent requests)", aws_upload_s, None),
        ("no-op re-sync", "ours, same storage object (warm)", mine["warm_s"], mine["warm_requests"]),
        ("no-op re-sync", "ours, new storage object (cold)", mine["cold_s"], mine["cold_requests"]),
        ("no-op re-sync", "aws s3 sync", aws_noop_s, aws_noop_requests),
    ]
    print(f"{'pass':<14} {'client':<42} {'seconds':>8} {'files/s':>9} {'MB/s':>7} {'HTTP requests':>14}")
    print("-" * 99)
    for phase, who, seconds, requests in rows:
        rate = f"{n / seconds:9.0f} {total_mb / seconds:7.1f}" if phase == "upload" else f"{'':>9} {'':>7}"
        counted = "-" if requests is None else str(requests)
        print(f"{phase:<14} {who:<42} {seconds:8.2f} {rate} {counted:>14}")
    print("-" * 99)
    print(f"aws timings include the CLI's start-up: `aws --version` alone takes {startup_s:.2f} s.")
    print("ours: the boto3 client is created before the upload clock starts; the cold no-op includes it.")
    print(f"check: our compare finds {ours_ok}/{n} of ours and {aws_ok}/{n} of aws's uploads in sync.")


if __name__ == "__main__":
    main()
