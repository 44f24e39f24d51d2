"""`queue add|list|run|pause|resume|remove|clear|retry|move`: the training queue without a screen.

The queue is the library's `training_queue.json` (core/queue.py); `queue run` is its runner
(core/queue_runner.py), the same one the app runs. The sandbox lives inside the process that
starts a run, so in sandbox mode `queue run` always waits (like `train`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from pydantic import ValidationError

from actor_trainer.commands.common import CommandContext, open_context
from actor_trainer.commands.output import print_json, say, table
from actor_trainer.commands.train_args import PARAM_FLAGS
from actor_trainer.core.auto_adjust import auto_adjust
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.preflight import InvalidParametersError
from actor_trainer.core.queue import QueueEntry, QueueFile, QueueStore


def cmd_queue(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    store = QueueStore(ctx.library.root)
    action = args.queue_command
    if action == "add":
        return _add(ctx, store, args)
    if action == "list":
        return _list(store.load(), as_json=args.json, include_removed=args.all)
    if action == "run":
        return asyncio.run(_run(ctx, args))
    if action in ("pause", "resume"):
        store.set_paused(action == "pause")
        say(
            "Queue paused: nothing new is submitted; runs in flight go on."
            if action == "pause"
            else "Queue resumed: `actor-trainer queue run` (or the app) submits the next entries."
        )
        return 0
    if action == "remove":
        actor_id = _actor_id(ctx, args.ref)
        for entry in store.remove(args.ref, actor_id):
            say(f"Removed {entry.id} ({entry.actor_name}).")
        return 0
    if action == "clear":
        say(f"Removed {store.clear()} waiting entr(ies).")
        return 0
    if action == "retry":
        retried = store.retry_failed(args.entry)
        say(f"{len(retried)} failed entr(ies) wait again." if retried else "No failed entry to retry.")
        return 0
    if action == "move":
        store.move(args.entry, args.offset)
        return _list(store.load(), as_json=False, include_removed=False)
    raise AssertionError(action)  # pragma: no cover - argparse allows only the names above


def _actor_id(ctx: CommandContext, ref: str) -> int | None:
    try:
        return ctx.library.get_actor(ref).id
    except Exception:
        return None  # an entry id, not an actor


# --- add ----------------------------------------------------------------------------------------


def _given(args: argparse.Namespace) -> dict[str, object]:
    return {field: getattr(args, flag) for flag, field in PARAM_FLAGS.items() if getattr(args, flag) is not None}


def entry_parameters(
    ctx: CommandContext, actor: Actor, given: dict[str, object], *, auto: bool, use_remembered: bool
) -> TrainingParameters:
    """The actor's remembered parameters (unless `use_remembered` is off), then the flags, then
    auto-adjust from its image count (keeping the flags)."""
    from actor_trainer.commands.doctor_cmd import PARAMETER_MEMORY_FILE
    from actor_trainer.core.parameter_memory import ParameterMemory
    from actor_trainer.core.settings import config_dir

    remembered = ParameterMemory(config_dir() / PARAMETER_MEMORY_FILE).load(actor.id) if use_remembered else None
    base = remembered.model_dump() if remembered is not None else {}
    try:
        params = TrainingParameters.model_validate({**base, **given})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidParametersError(
            f"Invalid training parameters — {problems}.",
            "Fix the values named above (see `actor-trainer queue add --help`).",
        ) from exc
    if auto:
        image_count = ctx.library.scan_training_data(actor.id).image_count
        proposal = auto_adjust(image_count, params, locked=frozenset(given))
        for change in proposal.changes:
            say(f"{actor.name}: auto-adjust {change.field} {change.old} → {change.new} ({change.reason})")
        params = proposal.params
    return params


def _add(ctx: CommandContext, store: QueueStore, args: argparse.Namespace) -> int:
    from actor_trainer.core.dataset_doctor import check_actor

    given = _given(args)
    actors = [ctx.library.get_actor(ref) for ref in args.actors]  # every name resolves before anything is added
    for actor in actors:
        params = entry_parameters(ctx, actor, given, auto=args.auto, use_remembered=not args.defaults)
        report = check_actor(ctx.library, actor, params)
        entry = store.add(actor.id, actor.name, params, force=args.force, description=args.description)
        verdict = report.summary_text()
        if report.has_blocking:
            verdict += (
                " — submitted anyway (--force)"
                if args.force
                else " — this entry will fail unless fixed (or added with --force)"
            )
        say(
            f"Queued {entry.id}: {actor.name}, {params.max_train_steps} steps, lr {params.learning_rate:g}, "
            f"dim/alpha {params.network_dim}/{params.network_alpha:g} — doctor: {verdict}"
        )
    say("`actor-trainer queue run` submits them.")
    return 0


# --- list ---------------------------------------------------------------------------------------


def _list(queue: QueueFile, *, as_json: bool, include_removed: bool) -> int:
    entries = queue.entries if include_removed else queue.visible()
    if as_json:
        document = queue.to_json()
        document["entries"] = [e.model_dump(mode="json") for e in entries]
        print_json(document)
        return 0
    head = f"Queue: {len(entries)} entr(ies), at most {queue.max_concurrent} at once" + (
        " — PAUSED" if queue.paused else ""
    )
    say(head)
    if entries:
        say(
            table(
                [_row(i, e) for i, e in enumerate(entries, 1)],
                ["#", "ENTRY", "ACTOR", "STATE", "VERSION", "ATTEMPTS", "NOTE"],
            )
        )
    return 0


def _row(index: int, e: QueueEntry) -> list[str]:
    note = e.error or e.note or ""
    return [
        str(index),
        e.id,
        e.actor_name or f"{e.actor_id:04d}",
        e.state.value,
        e.version_name or "",
        str(e.attempts),
        note[:80],
    ]


# --- run ----------------------------------------------------------------------------------------


async def _run(ctx: CommandContext, args: argparse.Namespace) -> int:
    from actor_trainer.commands.run_cmds import running_services

    wait = args.wait or ctx.config.sandbox
    if ctx.config.sandbox and not args.wait:
        say("SANDBOX: the simulated endpoint runs inside this command, so it follows every entry to the end.")
    if not wait and ctx.config.webhook_mode != "poll":
        say(
            "note: without --wait nothing receives the webhook; the runs are followed by polling "
            "(the app, `actor-trainer status`, or `queue run` again)."
        )
        ctx = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, webhook_mode="poll"))
    async with running_services(ctx, serve_webhooks=wait, poll=wait) as services:
        if wait and ctx.config.webhook_mode == "ngrok" and not ctx.config.sandbox:
            await services.start_tunnel()
        assert services.queue is not None
        summary = await services.queue.run(until_idle=True, submit_only=not wait, max_concurrent=args.max_concurrent)
    queue = await asyncio.to_thread(QueueStore(ctx.library.root).load)
    _list(queue, as_json=False, include_removed=False)
    if summary is not None:
        say(f"Queue finished: {summary.text}.")
        return 1 if summary.failed else 0
    if wait and queue.paused and queue.waiting():
        say("The queue is paused; `actor-trainer queue resume` and run again to submit the rest.")
    return 0
