"""`sandbox`: the simulated endpoint on its own (`sync` is in commands/sync_cmd.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from actor_trainer.commands.common import open_context
from actor_trainer.commands.output import say
from actor_trainer.core.settings import StorageConfig
from actor_trainer.core.storage.configured import storage_for as make_storage


def cmd_sandbox(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    return asyncio.run(_serve_sandbox(ctx, args.port, args.host))


def _bucket_text(storage: StorageConfig | None) -> str | None:
    """Where the bucket is, never how to log in to it (no keys)."""
    if storage is None:
        return None
    where = f" at {storage.endpoint_url}" if storage.endpoint_url else ""
    return f"s3://{storage.bucket}/{storage.prefix}".rstrip("/") + where


async def _serve_sandbox(ctx, port: int, host: str) -> int:  # type: ignore[no-untyped-def]
    from actor_trainer.sandbox.server import SandboxEndpoint
    from actor_trainer.sandbox.worker import make_worker

    storage = make_storage(ctx.config)
    cfg = ctx.config
    endpoint = SandboxEndpoint(make_worker(storage, duration_s=cfg.sandbox_duration_s, timing=cfg.sandbox_timing))
    base = await endpoint.start(host=host, port=port)
    say("SANDBOX — a simulated RunPod Serverless endpoint (LoRAs are random weights, not trained models).")
    say(f"  base URL: {base}")
    say(f"  bucket:   {_bucket_text(ctx.config.storage) or getattr(storage, 'root', None)}")
    say(
        "  Use it with: ACTOR_TRAINER_RUNPOD_BASE_URL="
        + base.rsplit("/", 1)[0]
        + " RUNPOD_ENDPOINT_ID="
        + base.rsplit("/", 1)[1]
        + " RUNPOD_API_KEY=any …"
    )
    say("Press Ctrl+C to stop.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await endpoint.stop()
    say("sandbox stopped")
    return 0
