"""Benchmark: `actor-trainer sync` vs `aws s3 sync` through the same latency, as processes.

    .venv/bin/python benchmarks/bench_sync_latency.py [--files 300] [--size-kb 200] [--latency-ms 25]

Between a studio and S3 the round trip decides, not the local disk or a loopback server. This run
starts a moto S3 server (a child process) and, in front of it, a TCP proxy that adds
`--latency-ms` in each direction (benchmarks/latency_proxy.py, loopback only). Then, in one run,
both tools are started as a user would start them, each in a fresh process with its own empty
cache folders:
  1. first sync of N files into an empty prefix;
  2. no-op re-sync of the same folder (nothing changed);
and the wall-clock time of each process is printed side by side, with the ratio ours/aws.
The AWS CLI is pip-installed into the venv if missing (pinned to the venv's botocore).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from bench_sync import BUCKET, REGION, aws_command, isolate_aws_env, serve_moto
from botocore.config import Config
from latency_proxy import LatencyProxy

MB = 1_000_000


def make_library(root: Path, count: int, size_kb: int) -> Path:
    folder = root / "actors" / "0000" / "training_data"
    folder.mkdir(parents=True)
    (root / "actors.json").write_text(json.dumps([{"id": 0, "name": "0000_bench", "validated_lora_model": None}]))
    for i in range(count):
        size = size_kb * 1000 + (i * 7919) % (size_kb * 200) - size_kb * 100  # ±10 %, deterministic
        (folder / f"img_{i:04d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8))
    return folder


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}… failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--size-kb", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=25.0, help="added in each direction")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="no-op re-syncs to time, ours and aws taking turns (the median is printed, and the fastest)",
    )
    args = parser.parse_args()
    isolate_aws_env()
    aws, aws_label = aws_command()
    # Both tools as installed: pip byte-compiles the AWS CLI when it installs it, and an installed
    # Actor Trainer (wheel, .deb, frozen build) carries its bytecode too. This checkout is an
    # editable install, so compile it once here (this machine sets PYTHONDONTWRITEBYTECODE, and
    # each run would otherwise compile every module from source).
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "actor_trainer"), quiet=1)

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve_moto, args=(child,), daemon=True)
    server.start()
    moto_port = parent.recv()
    proxy = LatencyProxy(("127.0.0.1", moto_port), args.latency_ms / 1000)
    endpoint = f"http://127.0.0.1:{proxy.start()}"
    try:
        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{moto_port}",
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        ).create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory(prefix="bench-sync-latency-") as tmp:
            root = Path(tmp)
            folder = make_library(root / "library", args.files, args.size_kb)
            total_mb = sum(p.stat().st_size for p in folder.iterdir()) / MB
            env = dict(os.environ)
            for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
                env[name] = str(root / name.lower())
            env.update(
                ACTOR_TRAINER_S3_BUCKET=BUCKET,
                ACTOR_TRAINER_S3_PREFIX="ours",
                AWS_ENDPOINT_URL_S3=endpoint,
                PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
            )
            ours = [sys.executable, "-m", "actor_trainer", "--data-dir", str(root / "library"), "sync", "0"]
            theirs = [
                *aws,
                "--endpoint-url",
                endpoint,
                "s3",
                "sync",
                str(folder),
                f"s3://{BUCKET}/aws/actors/0000/training_data/",
                "--only-show-errors",
            ]
            print(
                f"{args.files} files, {total_mb:.1f} MB; {args.latency_ms:g} ms added each way "
                f"(a {2 * args.latency_ms:g} ms round trip) in front of moto; AWS CLI: {aws_label}\n"
            )
            startup = timed([*aws, "--version"], env)
            first_ours, first_aws = timed(ours, env), timed(theirs, env)
            # Taking turns: on a shared machine the load drifts, and it should drift on both tools.
            pairs = [(timed(ours, env), timed(theirs, env)) for _ in range(args.repeat)]
            noop_ours = sorted(p[0] for p in pairs)[args.repeat // 2]
            noop_aws = sorted(p[1] for p in pairs)[args.repeat // 2]
            fastest_ours, fastest_aws = min(p[0] for p in pairs), min(p[1] for p in pairs)
    finally:
        proxy.stop()
        parent.send("stop")
        server.join(10)

    print(f"{'pass':<16} {'actor-trainer sync':>19} {'aws s3 sync':>12} {'ours/aws':>9} {'goal':>8}")
    print("-" * 68)
    print(f"{'first sync':<16} {first_ours:17.2f} s {first_aws:10.2f} s {first_ours / first_aws:9.2f} {'≤ 0.80':>8}")
    print(f"{'no-op re-sync':<16} {noop_ours:17.2f} s {noop_aws:10.2f} s {noop_ours / noop_aws:9.2f} {'≤ 1.00':>8}")
    if args.repeat > 1:
        ratio = fastest_ours / fastest_aws
        print(f"{'  fastest':<16} {fastest_ours:17.2f} s {fastest_aws:10.2f} s {ratio:9.2f}")
    print("-" * 68)
    print(f"Both timed as whole processes (start-up included); `aws --version` alone takes {startup:.2f} s.")
    print(f"First sync rate: ours {total_mb / first_ours:.1f} MB/s, aws {total_mb / first_aws:.1f} MB/s.")


if __name__ == "__main__":
    main()
