"""The remote half of `actors`: how many images are in the bucket and whether they are in sync."""

from __future__ import annotations

import asyncio
from typing import Any

from actor_trainer.commands.common import CommandContext
from actor_trainer.commands.output import say
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.library import ActorSummary, Library
from actor_trainer.core.storage.base import Storage, SyncStatus
from actor_trainer.core.storage.configured import storage_for as make_storage


def sync_state_word(status: SyncStatus, local_images: int) -> str:
    if local_images == 0:
        return "no_data"
    return "synced" if status.is_synced else "not_synced"


def remote_states(ctx: CommandContext, library: Library, summaries: list[ActorSummary]) -> dict[int, dict[str, Any]]:
    """Compare every actor with the bucket (bounded concurrency). Unknown on a storage error."""
    storage = make_storage(ctx.config)
    try:
        return asyncio.run(_compare_all(storage, library, summaries))
    except ActorTrainerError as exc:
        say(f"warning: the bucket could not be read, so sync state is unknown — {exc}")
        return {}


async def _compare_all(storage: Storage, library: Library, summaries: list[ActorSummary]) -> dict[int, dict[str, Any]]:
    gate = asyncio.Semaphore(8)

    async def one(summary: ActorSummary) -> tuple[int, dict[str, Any]]:
        async with gate:
            scan = await asyncio.to_thread(library.scan_training_data, summary.actor.id)
            status = await storage.compare(summary.actor.id, scan.files)
        remote_images = sum(
            1 for f in status.files if f.remote_size is not None and not f.name.lower().endswith(".txt")
        )
        return summary.actor.id, {
            "remote_images": remote_images,
            "sync_state": sync_state_word(status, scan.image_count),
        }

    pairs = await asyncio.gather(*(one(s) for s in summaries))
    return dict(pairs)
