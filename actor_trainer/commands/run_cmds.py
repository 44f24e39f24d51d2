"""`train`, `status`, `cancel`, `retry`, `reconcile`: training runs without a screen."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

from pydantic import ValidationError

from actor_trainer.commands.common import CommandContext, open_context
from actor_trainer.commands.output import ProgressBar, print_json, say
from actor_trainer.commands.train_args import PARAM_FLAGS
from actor_trainer.core.auto_adjust import auto_adjust
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import Event, LogEvent, LogLevel, RunProgress, TunnelChanged, VersionChanged
from actor_trainer.core.models import TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.preflight import InvalidParametersError
from actor_trainer.core.realistic_range import UnusualValuesError, unusual_values
from actor_trainer.runtime import Services


@contextlib.asynccontextmanager
async def running_services(
    ctx: CommandContext, *, serve_webhooks: bool = True, poll: bool = True, echo: bool = True
) -> AsyncIterator[Services]:
    services = Services(ctx.config, library=ctx.library)
    if echo:
        services.events.subscribe(_echo_event)
    await services.start(serve_webhooks=serve_webhooks, poll=poll)
    try:
        yield services
    finally:
        await services.stop()


def _echo_event(event: Event) -> None:
    if isinstance(event, LogEvent) and event.level is not LogLevel.DEBUG:
        say(f"[{event.at:%H:%M:%S}] {event.level.value:<8} {event.message}")
    elif isinstance(event, TunnelChanged):
        say(
            f"[{event.at:%H:%M:%S}] tunnel   {event.state}"
            + (f" {event.public_url}" if event.public_url else "")
            + (f" — {event.error}" if event.error else "")
        )


def _parameters(ctx: CommandContext, args: argparse.Namespace, image_count: int) -> TrainingParameters:
    given = {field: getattr(args, flag) for flag, field in PARAM_FLAGS.items() if getattr(args, flag) is not None}
    try:
        params = TrainingParameters.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidParametersError(
            f"Invalid training parameters — {problems}.",
            "Fix the values named above (see `actor-trainer train --help`).",
        ) from exc
    if args.auto:
        proposal = auto_adjust(image_count, params, locked=frozenset(given))
        for change in proposal.changes:
            say(f"auto-adjust: {change.field} {change.old} → {change.new} ({change.reason})")
        for warning in proposal.warnings:
            say(f"auto-adjust: {warning}")
        params = proposal.params
    return params


def _estimate_line(version: TrainingVersion) -> str:
    from actor_trainer.core.estimate import format_cost, format_duration

    e = version.estimate
    assert e is not None
    cost = f", ≈ {format_cost(e.cost)}" if e.cost is not None else ""
    return f"≈ {format_duration(e.seconds)} on the endpoint{cost} ({e.basis})"


def cmd_train(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    return asyncio.run(_train(ctx, args))


async def _train(ctx: CommandContext, args: argparse.Namespace) -> int:
    actor = await asyncio.to_thread(ctx.library.get_actor, args.actor)
    scan = await asyncio.to_thread(ctx.library.scan_training_data, actor.id)
    params = _parameters(ctx, args, scan.image_count)
    # Values that cost money outside the realistic range: refused without --force, dry run included.
    unusual = unusual_values(params, scan.image_count)
    if unusual and not args.force:
        raise UnusualValuesError(unusual)
    for value in unusual:
        say(f"--force: starting despite — {value.message}")
    from actor_trainer.commands.doctor_cmd import check_before_training  # the dataset doctor (refuses blocks)

    forced = [value.to_json() for value in unusual]
    forced += await asyncio.to_thread(
        check_before_training, ctx.library, actor, params, force=args.force, dry_run=args.dry_run
    )
    if args.dry_run:
        async with running_services(ctx, poll=False, echo=False) as services:
            built, pre = await services.require_orchestrator().dry_run(actor.id, params)
            for warning in pre.warnings:
                say(f"warning: {warning}")
            if "webhook" not in built.body and ctx.config.webhook_mode != "poll":
                say(
                    "note: the webhook URL (the tunnel's public URL + a per-job token) is added when the run is "
                    "submitted; no tunnel is running now."
                )
            elif "webhook" in built.body:
                say("note: the webhook token in this body is a fresh example; each submission makes its own.")
            report = await asyncio.to_thread(services.estimate, params)  # on stderr: stdout is the body
            for line in report.lines():
                say(f"estimate: {line.strip()}")
            sync = await services.storage.compare(actor.id, pre.scan.files)
            if not sync.is_synced:
                say(
                    f"warning: {actor.name}'s training data is not fully synced; `actor-trainer sync {actor.id}` "
                    "before training."
                )
            print_json(built.body)
        return 0

    wait = args.wait or ctx.config.sandbox
    if ctx.config.sandbox and not args.wait:
        say("SANDBOX: the simulated endpoint runs inside this command, so it waits for the run to end.")
    if not wait and ctx.config.webhook_mode != "poll":
        # Nobody will be listening for a webhook once this process exits: submit poll-only.
        say(
            "note: without --wait nothing receives the webhook; the run is followed by polling "
            "(the app, `actor-trainer status` or `reconcile`)."
        )
        ctx = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, webhook_mode="poll"))
    async with running_services(ctx, serve_webhooks=wait, poll=wait) as services:
        if wait and ctx.config.webhook_mode == "ngrok" and not ctx.config.sandbox:
            await services.start_tunnel()
        orchestrator = services.require_orchestrator()
        watcher = _RunWatcher(services) if wait else None
        version = await orchestrator.submit(
            actor.id, params, description=args.description, allow_concurrent=args.allow_concurrent
        )
        say(f"{actor.name}: {version.name} submitted as job {version.id} ({version.status.label}).")
        if version.estimate is not None:  # recorded in the version at submit (core/estimate.py)
            say(f"estimate: {_estimate_line(version)}")
        if forced:
            from actor_trainer.core.dataset_doctor import record_forced

            await asyncio.to_thread(record_forced, ctx.library, actor.id, version.key, forced)
        if watcher is None:
            return 0
        try:
            final = await watcher.wait(actor.id, version.key)
        except asyncio.CancelledError:
            if ctx.config.sandbox:  # the simulated worker lives in this process (docs/architecture.md)
                say(
                    f"Stopped; {version.name} ran in this command's sandbox and stops with it. The next "
                    "start marks it interrupted."
                )
            else:
                say(
                    f"Stopped waiting; {version.name} goes on at RunPod. "
                    f"Follow it with `actor-trainer status {version.id}`."
                )
            raise
        return _final_report(final)


def _final_report(version: TrainingVersion) -> int:
    if version.status is VersionStatus.COMPLETED:
        say(f"{version.name} completed. LoRA: {version.loraUrl}")
        print_json(version.to_json())
        return 0
    message = version.error.message if version.error else ""
    say(f"{version.name} ended {version.status.label}" + (f": {message}" if message else ""))
    print_json(version.to_json())
    return 1


class _RunWatcher:
    """Waits for one version to reach a terminal state, drawing a progress bar meanwhile.

    The run may end in another process (`actor-trainer cancel`, the app): the poller announces a
    followed run that the library says is over, and the watcher also reads the library itself once
    per live poll interval, so `train --wait` ends within one interval wherever the run ended.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._done: dict[str, asyncio.Future[TrainingVersion]] = {}
        self._bar: ProgressBar | None = None
        services.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RunProgress) and event.progress.total:
            if self._bar is None:
                self._bar = ProgressBar("training", event.progress.total, unit=" steps")
            detail = f"{event.progress.phase or ''}" + (
                f" loss {event.progress.loss:.4f}" if event.progress.loss is not None else ""
            )
            self._bar.update(event.progress.step or 0, event.progress.total, detail)
        elif isinstance(event, VersionChanged) and event.version.status.is_terminal:
            for key in {event.version.id, event.version.requestId}:
                future = self._done.get(key or "")
                if future is not None and not future.done():
                    future.set_result(event.version)

    async def wait(self, actor_id: int, ref: str) -> TrainingVersion:
        future: asyncio.Future[TrainingVersion] = asyncio.get_running_loop().create_future()
        self._done[ref] = future
        current = await asyncio.to_thread(self.services.library.get_version, actor_id, ref)
        self._done[current.id] = future
        if current.status.is_terminal:
            return current
        poller = self.services.poller
        interval = poller.live_interval_s if poller is not None else 5.0
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=interval)
                if done:
                    return future.result()
                current = await asyncio.to_thread(self.services.library.get_version, actor_id, ref)
                if current.status.is_terminal:
                    return current
        finally:
            if self._bar is not None:
                self._bar.close()


def _resolve_versions(ctx: CommandContext, ref: str) -> list[tuple[int, TrainingVersion]]:
    """ACTOR (its versions in flight, else its newest) or JOB_ID / request id."""
    try:
        actor = ctx.library.get_actor(ref)
    except ActorTrainerError:
        actor = None
    if actor is not None:
        versions = ctx.library.load_versions(actor.id)
        in_flight = [v for v in versions if not v.status.is_terminal]
        chosen = in_flight or versions[:1]
        return [(actor.id, v) for v in chosen]
    found_actor, version = ctx.library.find_version(ref)
    return [(found_actor.id, version)]


def cmd_status(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    from actor_trainer.commands.samples_cmds import TrialFollowUps  # tries are followed here too (issue 12)

    tries = TrialFollowUps.for_target(ctx, args.target)
    if tries.alone:  # the target is a try's id
        return tries.run_alone(ctx, as_json=args.json)
    targets = _resolve_versions(ctx, args.target)
    if not targets:
        say("That actor has no training versions yet.")
        return 0

    async def run() -> list[TrainingVersion]:
        async with running_services(ctx, serve_webhooks=False, poll=False, echo=not args.json) as services:
            await tries.run(services)  # first: the versions read back below hold the tries' answers
            runs = services.require_runs()
            return [await runs.check(actor_id, v.key, explain_queue=False) for actor_id, v in targets]

    results = asyncio.run(run())
    if args.json:
        print_json([v.to_json() for v in results])
    for v in results:
        progress = ""
        if v.progress and v.progress.step is not None and v.progress.total:
            progress = f" — step {v.progress.step}/{v.progress.total}"
        say(
            f"{v.name} ({v.id}): {v.status.label}{progress}"
            + (f" — {v.error.message}" if v.error else "")
            + (f" — LoRA {v.loraUrl}" if v.loraUrl else "")
        )
    tries.report()
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    actor, version = ctx.library.find_version(args.job_id)

    async def run() -> TrainingVersion:
        async with running_services(ctx, serve_webhooks=False, poll=False) as services:
            return await services.require_runs().cancel(actor.id, version.id)

    saved = asyncio.run(run())
    said = f" (RunPod: {saved.runpodStatus})" if saved.runpodStatus else ""
    why = f" — {saved.error.message}" if saved.error is not None and saved.status is not VersionStatus.CANCELLED else ""
    say(f"{saved.name}: {saved.status.label}{said}.{why}")
    return 0 if saved.status is VersionStatus.CANCELLED else 1


def cmd_retry(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    actor, version = ctx.library.find_version(args.job_id)

    async def run() -> int:
        wait = args.wait or ctx.config.sandbox
        async with running_services(ctx, serve_webhooks=wait, poll=wait) as services:
            watcher = _RunWatcher(services) if wait else None
            saved = await services.require_runs().retry(actor.id, version.id)
            say(f"{saved.name}: {saved.status.label} (job {saved.id}).")
            if watcher is None:
                return 0
            return _final_report(await watcher.wait(actor.id, saved.key))

    return asyncio.run(run())


def cmd_reconcile(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    from actor_trainer.commands.samples_cmds import TrialFollowUps  # unfinished tries too (issue 12)

    tries = TrialFollowUps.everywhere(ctx)

    async def run() -> list[TrainingVersion]:
        async with running_services(ctx, serve_webhooks=False, poll=False, echo=not args.json) as services:
            assert services.poller is not None
            await tries.run(services)
            return await services.poller.reconcile("reconcile command")

    results = asyncio.run(run())
    seen = {v.key for v in results}
    with_tries = [v for v in tries.versions(ctx) if v.key not in seen]
    if args.json:
        print_json([v.to_json() for v in results + with_tries])
    if not results and not tries.refs:
        say("No run or try in flight: nothing to reconcile.")
    for v in results:
        say(f"{v.name} ({v.id}): {v.status.label}")
    tries.report()
    return 0
