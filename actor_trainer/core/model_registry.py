"""Mark as good (and unmark), the one road: record a version as the actor's validated model and say so.

`Library.mark_good` writes the two files; this service runs it off the event loop and emits what
changed (`VersionChanged` for each version whose good mark moved, `ActorChanged` for the registry),
so every view — the versions panel, the selector's badge, the CLI — hears it the same way.
"""

from __future__ import annotations

import asyncio

from actor_trainer.core.events import ActorChanged, EventBus, LogLevel, VersionChanged
from actor_trainer.core.library import Library
from actor_trainer.core.models import Actor, TrainingVersion


class ModelRegistry:
    def __init__(self, library: Library, events: EventBus) -> None:
        self.library = library
        self.events = events

    async def mark_good(
        self, actor_id: int, version_ref: str, checkpoint_step: int | None = None
    ) -> tuple[Actor, TrainingVersion]:
        """Mark `version_ref` (job id, request id or name) good — its final LoRA, or with
        `checkpoint_step` that kept checkpoint's (issue 12); refused for a version that is not
        completed or has no such LoRA (MarkGoodRefusedError, nothing written)."""

        def marks(versions: list[TrainingVersion]) -> dict[str, tuple[bool, int | None]]:
            return {v.key: (v.isGood, v.goodCheckpointStep) for v in versions}

        before = marks(await asyncio.to_thread(self.library.load_versions, actor_id))
        actor, version = await asyncio.to_thread(self.library.mark_good, actor_id, version_ref, checkpoint_step)
        after = await asyncio.to_thread(self.library.load_versions, actor_id)
        for v in after:
            if before.get(v.key) != (v.isGood, v.goodCheckpointStep):
                self.events.emit(VersionChanged(actor_id=actor_id, version=v))
        self.events.emit(ActorChanged(actor_id=actor_id))
        what = f"{version.name}'s checkpoint at step {checkpoint_step}" if checkpoint_step is not None else version.name
        self.events.log(
            LogLevel.SUCCESS,
            f"{what} is now the validated model of {actor.name}.",
            actor_id=actor_id,
            version_id=version.id,
        )
        return actor, version

    async def unmark_good(self, actor_id: int, version_ref: str) -> tuple[Actor, TrainingVersion]:
        """Take the good mark off `version_ref` (job id, request id or name); the actor then has no
        validated model. A version that was not good changes nothing (and is not announced)."""
        before = {v.key: v.isGood for v in await asyncio.to_thread(self.library.load_versions, actor_id)}
        actor, version = await asyncio.to_thread(self.library.unmark_good, actor_id, version_ref)
        after = await asyncio.to_thread(self.library.load_versions, actor_id)
        moved = [v for v in after if before.get(v.key) != v.isGood]
        for v in moved:
            self.events.emit(VersionChanged(actor_id=actor_id, version=v))
        self.events.emit(ActorChanged(actor_id=actor_id))
        if moved:
            self.events.log(
                LogLevel.INFO,
                f"{version.name} is no longer the validated model of {actor.name}.",
                actor_id=actor_id,
                version_id=version.id,
            )
        return actor, version
