"""`actors`, `versions`, `mark-good`: the library, read and marked."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from actor_trainer.commands.common import open_context
from actor_trainer.commands.output import print_json, say, table
from actor_trainer.core.events import EventBus
from actor_trainer.core.library import ActorSummary
from actor_trainer.core.model_registry import ModelRegistry
from actor_trainer.core.models import TrainingVersion


def _matches(summary: ActorSummary, text: str) -> bool:
    actor = summary.actor
    needle = text.strip().lower()
    haystack = " ".join([actor.name, f"{actor.id:04d}", str(actor.id), actor.description or ""]).lower()
    return needle in haystack


def actor_document(summary: ActorSummary, remote: dict[str, Any] | None) -> dict[str, Any]:
    actor = summary.actor
    validated = actor.validated_lora_model
    return {
        "id": actor.id,
        "name": actor.name,
        "description": actor.description,
        "sex": actor.sex,
        "ethnicity": actor.ethnicity,
        "age": actor.age,
        "images": summary.image_count,
        "captions": summary.caption_count,
        "unsupported_files": summary.unsupported_count,
        "remote_images": None if remote is None else remote["remote_images"],
        "sync_state": "unknown" if remote is None else remote["sync_state"],
        "validated_version": None if validated is None else validated.version_name,
        "validated_lora_url": None if validated is None else validated.lora_url,
    }


def cmd_actors(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    summaries = ctx.library.summaries()
    if args.search:
        summaries = [s for s in summaries if _matches(s, args.search)]
    remote: dict[int, dict[str, Any]] = {}
    if not args.local:
        from actor_trainer.commands.remote_state import remote_states

        remote = remote_states(ctx, ctx.library, summaries)
    docs = [actor_document(s, remote.get(s.actor.id)) for s in summaries]
    if args.json:
        print_json(docs)
        return 0
    rows = [
        [
            f"{d['id']:04d}",
            d["name"],
            f"{d['images']}/{'?' if d['remote_images'] is None else d['remote_images']}",
            d["sync_state"].replace("_", " "),
            d["validated_version"] or "—",
        ]
        for d in docs
    ]
    print(table(rows, ["ID", "NAME", "IMAGES (LOCAL/REMOTE)", "SYNC", "VALIDATED"]))
    say(f"{len(docs)} actor(s) in {ctx.library.root}")
    return 0


def version_document(version: TrainingVersion) -> dict[str, Any]:
    return version.to_json()


def cmd_versions(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    actor = ctx.library.get_actor(args.actor)
    versions = ctx.library.load_versions(actor.id)
    if args.json:
        print_json([version_document(v) for v in versions])
        return 0
    rows = []
    for v in versions:
        p = v.parameters
        progress = ""
        if v.progress and v.progress.step is not None and v.progress.total:
            progress = f" {v.progress.step}/{v.progress.total}"
        rows.append(
            [
                v.name + (" ✓" if v.isGood else ""),
                v.status.label + progress,
                v.timestamp.strftime("%Y-%m-%d %H:%M"),
                str(p.max_train_steps),
                f"{p.learning_rate:g}",
                f"{p.network_dim}/{p.network_alpha:g}",
                str(v.imageCount),
                v.id,
            ]
        )
    print(table(rows, ["VERSION", "STATUS", "STARTED (UTC)", "STEPS", "LR", "DIM/ALPHA", "IMAGES", "ID"]))
    for v in versions:
        if v.error is not None:
            say(f"{v.name}: {v.error.message}")
    if not versions:
        say(f"{actor.name} has no training versions yet.")
    return 0


def cmd_mark_good(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    actor = ctx.library.get_actor(args.actor)
    registry = ModelRegistry(ctx.library, EventBus())
    if getattr(args, "unmark", False):
        target = ctx.library.get_version(actor.id, args.version_id)
        actor, version = asyncio.run(registry.unmark_good(actor.id, target.id))
        if target.isGood:
            say(f"{actor.name}: {version.name} is no longer marked good; {actor.name} has no validated model.")
        else:
            say(f"{actor.name}: {version.name} was not marked good; nothing changed.")
        return 0
    from actor_trainer.core.trials import parse_version_ref

    ref, step = parse_version_ref(args.version_id)  # V2@1500: that checkpoint (issue 12)
    actor, version = asyncio.run(registry.mark_good(actor.id, ref, step))
    model = actor.validated_lora_model
    what = f"{version.name}@{step}" if step is not None else version.name
    say(f"{actor.name}: {what} is the validated model ({model.lora_url if model else version.loraUrl}).")
    return 0
