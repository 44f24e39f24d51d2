"""`sync`: the actors' training data to the bucket, only what is missing or changed.

A re-sync with nothing to upload is mostly waiting: for the bucket's listing, and for Python to
import the library code. So when a bucket is configured and ACTOR is an id, the listing (and the
clean-up of interrupted uploads) is sent first, and the library is imported and loaded while the
answers travel (benchmarks/bench_sync_latency.py). Everything else happens as it always did, in
the same order: the same checks, messages and errors.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from actor_trainer.commands.common import CommandContext, open_config, open_library
from actor_trainer.commands.output import ProgressBar, print_json, say

if TYPE_CHECKING:
    from actor_trainer.core.models import Actor
    from actor_trainer.core.settings import Config
    from actor_trainer.core.storage.base import Storage, SyncProgress
    from actor_trainer.core.sync_service import SyncService


def cmd_sync(args: argparse.Namespace) -> int:
    settings, config = open_config(args)
    early = _storage_listing_early(config, args)
    ctx = CommandContext(settings=settings, config=config, library=open_library(config.data_dir))
    if args.all:
        actors = ctx.library.load_actors()
    elif args.actor is not None:
        actors = [ctx.library.get_actor(args.actor)]
    else:
        say("error: name an ACTOR or use --all")
        return 2
    from actor_trainer.core.events import EventBus
    from actor_trainer.core.storage.configured import storage_for as make_storage
    from actor_trainer.core.sync_service import SyncService

    storage = early if early is not None else make_storage(ctx.config)
    where = "the sandbox bucket (a local folder)" if ctx.config.storage is None else f"s3://{ctx.config.storage.bucket}"
    say(f"{'Checking' if args.dry_run else 'Syncing'} {len(actors)} actor(s) with {where}")
    service = SyncService(ctx.library, storage, EventBus())
    return asyncio.run(_sync_all(service, actors, dry_run=args.dry_run, as_json=args.json))


def _storage_listing_early(config: Config, args: argparse.Namespace) -> Storage | None:
    """The configured bucket's storage, with the listing of the actor ACTOR names by id already
    on its way (Storage.prefetch); None when there is no bucket (the sandbox's folder answers at
    once), with --all, when ACTOR is a name (only the library can resolve it), or when the storage
    cannot be made (`cmd_sync` then makes it where it always did, and reports why there)."""
    ref = (args.actor or "").strip()
    if args.all or config.storage is None or not ref.isdigit():
        return None
    from actor_trainer.core.errors import ActorTrainerError
    from actor_trainer.core.storage.configured import storage_for

    try:
        storage = storage_for(config)
    except (ActorTrainerError, ValueError):
        return None
    # An id that names no actor fails in get_actor as before; its listing is simply never read.
    storage.prefetch(int(ref), clean_orphans=not args.dry_run)
    return storage


async def _sync_all(service: SyncService, actors: list[Actor], *, dry_run: bool, as_json: bool) -> int:
    from actor_trainer.core.preflight import DataOutsideLibraryError

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
