"""`sync` and `sandbox`: training data to the bucket, and the simulated endpoint on its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from actor_trainer.commands.common import open_context
from actor_trainer.commands.output import ProgressBar, print_json, say
from actor_trainer.core.events import EventBus
from actor_trainer.core.models import Actor
from actor_trainer.core.preflight import DataOutsideLibraryError
from actor_trainer.core.settings import StorageConfig
from actor_trainer.core.storage.base import SyncProgress
from actor_trainer.core.storage.configured import storage_for as make_storage
from actor_trainer.core.sync_service import SyncService


def cmd_sync(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    if args.all:
        actors = ctx.library.load_actors()
    elif args.actor is not None:
        actors = [ctx.library.get_actor(args.actor)]
    else:
        say("error: name an ACTOR or use --all")
        return 2
    storage = make_storage(ctx.config)
    where = "the sandbox bucket (a local folder)" if ctx.config.storage is None else f"s3://{ctx.config.storage.bucket}"
    say(f"{'Checking' if args.dry_run else 'Syncing'} {len(actors)} actor(s) with {where}")
    service = SyncService(ctx.library, storage, EventBus())
    return asyncio.run(_sync_all(service, actors, dry_run=args.dry_run, as_json=args.json))


async def _sync_all(service: SyncService, actors: list[Actor], *, dry_run: bool, as_json: bool) -> int:
    failures = 0
    report: list[dict[str, object]] = []
    for actor in actors:
        scan = await service.scan(actor.id)
        if scan.outside:  # links out of the library: refused, nothing of this actor is uploaded
            refused = DataOutsideLibraryError(scan)
            say(f"error: {actor.name}: {refused.message}")
            say(f"  → {refused.hint}")
            failures += 1
            report.append(
                {
                    "id": actor.id,
                    "name": actor.name,
                    "uploaded": [],
                    "skipped": [],
                    "failed": [],
                    "refused": refused.message,
                }
            )
            continue
        if scan.unsupported:
            say(
                f"{actor.name}: {len(scan.unsupported)} unsupported file(s) not synced: "
                + ", ".join(p.name for p in scan.unsupported[:5])
            )
        if not scan.files:
            say(f"{actor.name}: no training images, nothing to sync")
            report.append({"id": actor.id, "name": actor.name, "uploaded": [], "skipped": [], "failed": []})
            continue
        bar = ProgressBar(f"{actor.folder_name} {actor.name[:28]}", scan.total_bytes, unit="")

        def on_progress(p: SyncProgress, bar: ProgressBar = bar) -> None:
            bar.update(p.bytes_done, p.bytes_total, f"{p.files_done}/{p.files_total} files")

        result = await service.sync(actor.id, scan=scan, dry_run=dry_run, progress=on_progress)
        bar.close()
        verb = "would upload" if dry_run else "uploaded"
        say(
            f"{actor.name}: {verb} {len(result.uploaded)}, already in sync {len(result.skipped)}"
            + (f", FAILED {len(result.failed)}" if result.failed else "")
        )
        for name, message in result.failed:
            say(f"  ✗ {name}: {message}")
        failures += len(result.failed)
        report.append(
            {
                "id": actor.id,
                "name": actor.name,
                "uploaded": list(result.uploaded),
                "skipped": list(result.skipped),
                "failed": [list(f) for f in result.failed],
                "bytes_uploaded": result.bytes_uploaded,
                "dry_run": dry_run,
            }
        )
    if as_json:
        print_json(report)
    if failures:
        say(
            f"{failures} file(s) or folder(s) failed; fix what is named above and run the same command again "
            "(finished files are skipped)."
        )
        return 1
    return 0


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
