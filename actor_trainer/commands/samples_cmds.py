"""`samples`, `try`, `compare`: what a version draws, headless (issue 12, item 6).

VERSION is resolved as `mark-good` resolves it — a job id, a request id or a name like V2 — and a
checkpoint is written `V2@1500`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actor_trainer.commands.common import CommandContext, open_context
from actor_trainer.commands.output import print_json, say, table
from actor_trainer.commands.run_cmds import running_services
from actor_trainer.core.contact_sheet import compare_columns, sheet_rows, write_contact_sheet
from actor_trainer.core.errors import ActorTrainerError, VersionNotFoundError
from actor_trainer.core.models import Actor, Sample, TrainingVersion, Trial, VersionStatus
from actor_trainer.core.trials import find_version, parse_version_ref

if TYPE_CHECKING:
    from actor_trainer.core.trial_followup import FollowedTrial as FollowedTrialType
    from actor_trainer.core.trial_followup import TrialRef as TrialRefType


def _resolve(ctx: CommandContext, actor: Actor, text: str) -> tuple[TrainingVersion, int | None]:
    ref, step = parse_version_ref(text)
    version = find_version(ctx.library.load_versions(actor.id), ref)
    if version is None:
        raise VersionNotFoundError(ref, actor.id)
    return version, step


def _sample_doc(s: Sample, file: Path | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = s.to_json()
    if file is not None:
        doc["file"] = str(file)
    return doc


def _trial_doc(t: Trial, files: dict[str, Path]) -> dict[str, Any]:
    doc: dict[str, Any] = t.to_json()
    doc["images"] = [_sample_doc(i, files.get(i.url)) for i in t.images or []]
    return doc


async def _download(ctx: CommandContext, pairs: list[tuple[str, Path]]) -> dict[str, Path]:
    """Download each (url, destination) through the configured storage; returns what arrived."""
    from actor_trainer.runtime import make_storage

    storage = make_storage(ctx.config)
    done: dict[str, Path] = {}
    for url, dest in pairs:
        try:
            await storage.download_url(url, dest)
        except ActorTrainerError as exc:
            say(f"warning: {dest.name} could not be downloaded: {exc.message}")
            continue
        except FileNotFoundError:
            say(f"warning: {dest.name} is not in the bucket ({url}).")
            continue
        done[url] = dest
    return done


# --- samples ----------------------------------------------------------------------------------------


def cmd_samples(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    actor = ctx.library.get_actor(args.actor)
    version, step = _resolve(ctx, actor, args.version)
    samples = [s for s in version.samples or [] if step is None or s.step == step]
    trials = [t for t in version.trials or [] if step is None or t.checkpoint_step == step]
    files: dict[str, Path] = {}
    if args.out:
        out = Path(args.out).expanduser()
        pairs = [(s.url, out / f"step{s.step or 0:06d}_p{s.index:02d}.png") for s in samples]
        pairs += [
            (i.url, out / "trials" / f"{t.requestId or t.id}_{i.index:02d}.png") for t in trials for i in t.images or []
        ]
        files = asyncio.run(_download(ctx, pairs))
    if args.json:
        print_json(
            {
                "actor": actor.id,
                "version": version.name,
                "id": version.id,
                "contract_version": version.contractVersion,
                "good_checkpoint_step": version.goodCheckpointStep,
                "samples": [_sample_doc(s, files.get(s.url)) for s in samples],
                "checkpoints": [c.to_json() for c in version.checkpoints or [] if step is None or c.step == step],
                "trials": [_trial_doc(t, files) for t in trials],
            }
        )
        return 0
    if samples:
        rows = [[str(s.step), str(s.index), s.prompt, str(s.seed), str(files.get(s.url) or s.url)] for s in samples]
        print(table(rows, ["STEP", "#", "PROMPT", "SEED", "FILE" if files else "URL"]))
    else:
        say(
            f"{version.name} has no samples{f' at step {step}' if step is not None else ''} "
            "(the endpoint spoke worker contract v1, sampling was off, or no checkpoint has landed yet)."
        )
    for c in version.checkpoints or []:
        if step is None or c.step == step:
            good = "  ✓ good" if version.isGood and version.goodCheckpointStep == c.step else ""
            say(f"checkpoint {version.name}@{c.step}: {c.url}{good}")
    for t in trials:
        say(f"try {t.requestId or t.id}: {t.status.label}, seed {t.seed}, {len(t.images or [])} image(s) — {t.prompt}")
    if files:
        say(f"{len(files)} image(s) written to {Path(args.out).expanduser()}")
    return 0


# --- try --------------------------------------------------------------------------------------------


def cmd_try(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    return asyncio.run(_try(ctx, args))


async def _try(ctx: CommandContext, args: argparse.Namespace) -> int:
    actor = await asyncio.to_thread(ctx.library.get_actor, args.actor)
    options: dict[str, Any] = {
        "prompt": args.prompt,
        "negative": args.negative or "",
        "seed": args.seed,
        "count": args.count,
        "strength": args.strength,
    }
    async with running_services(ctx, serve_webhooks=False, poll=False, echo=not args.dry_run) as services:
        trials = services.trials
        if trials is None:
            raise RuntimeError("Services.start() was not awaited")
        if args.dry_run:
            prepared = await trials.prepare(actor.id, args.version, **options)
            say(f"dry run: try {prepared.version.name}, seed {prepared.trial.seed}; nothing sent, nothing written.")
            print_json(prepared.body)
            return 0
        trial = await trials.submit(actor.id, args.version, follow=False, **options)
        say(f"Try sent: job {trial.id}, seed {trial.seed}, {trial.count} image(s).")
        wait = args.wait or ctx.config.sandbox or bool(args.out)
        if ctx.config.sandbox and not args.wait:
            say("SANDBOX: the simulated endpoint runs inside this command, so it waits for the images.")
        if not wait:
            say(
                f"Not waiting: collect the images later with `actor-trainer status {actor.id}` (or "
                f"`actor-trainer status {trial.id}`, or `reconcile`); the app also follows it when open."
            )
            if args.json:
                print_json(_trial_doc(trial, {}))
            return 0
        ref = parse_version_ref(args.version)[0]
        trial = await trials.wait(actor.id, ref, trial.id)
    files: dict[str, Path] = {}
    if args.out and trial.images:
        out = await asyncio.to_thread(lambda: Path(args.out).expanduser())
        files = await _download(
            ctx, [(i.url, out / f"{trial.requestId or trial.id}_{i.index:02d}.png") for i in trial.images]
        )
    if args.json:
        print_json(_trial_doc(trial, files))
    else:
        for image in trial.images or []:
            print(files.get(image.url) or image.url)
    if trial.status is not VersionStatus.COMPLETED:
        why = f": {trial.error.message}" if trial.error else ""
        say(f"The try ended {trial.status.label}{why}")
        return 1
    say(f"Try done: {len(trial.images or [])} image(s), seed {trial.seed}.")
    return 0


# --- compare ----------------------------------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    return asyncio.run(_compare(ctx, args))


async def _compare(ctx: CommandContext, args: argparse.Namespace) -> int:
    from actor_trainer.core.image_cache import ImageCache
    from actor_trainer.runtime import make_storage

    actor = await asyncio.to_thread(ctx.library.get_actor, args.actor)
    chosen = [await asyncio.to_thread(_resolve, ctx, actor, text) for text in args.versions]
    columns = compare_columns(chosen)
    if not columns:
        say("None of these versions has samples to compare (contract v1 worker, or sampling was off).")
        return 1
    rows = sheet_rows(chosen, columns)
    cache = ImageCache(make_storage(ctx.config))
    for row in rows:
        for sample in row.samples:
            if sample is None:
                row.images.append(None)
                continue
            try:
                row.images.append(await cache.fetch(sample.url))
            except (ActorTrainerError, FileNotFoundError, OSError) as exc:
                say(f"warning: {row.title}: {sample.url} could not be read ({getattr(exc, 'message', exc)}).")
                row.images.append(None)
    out = await asyncio.to_thread(lambda: Path(args.out).expanduser())
    seeds = sorted({s.seed for row in rows for s in row.samples if s is not None})
    title = (
        f"{actor.name} — {len(rows)} version(s), same prompts, seed {', '.join(map(str, seeds))} (simulated)"
        if ctx.config.sandbox
        else f"{actor.name} — {len(rows)} version(s), same prompts, seed {', '.join(map(str, seeds))}"
    )
    width, height = await asyncio.to_thread(write_contact_sheet, out, rows, columns, title=title)
    if args.json:
        print_json(
            {
                "path": str(out),
                "width": width,
                "height": height,
                "columns": columns,
                "rows": [
                    {"title": r.title, "lines": r.lines, "images": [s.url if s else None for s in r.samples]}
                    for r in rows
                ],
            }
        )
    say(f"Wrote {out}: {len(rows)} row(s) × {len(columns)} column(s), {width}×{height} px.")
    return 0


# --- following up tries: `status` and `reconcile` (commands/run_cmds.py) ----------------------------


class TrialFollowUps:
    """The tries a `status` or `reconcile` command checks, through the app's road (TrialService.check,
    core/trial_followup.py): their answers recorded with the version, finished images fetched into
    the app's image cache. `alone`: the command's target is a try's id, not an actor or a run."""

    def __init__(self, refs: list[TrialRefType], *, alone: bool = False) -> None:
        self.refs = refs
        self.alone = alone
        self.results: list[FollowedTrialType] = []

    @classmethod
    def for_target(cls, ctx: CommandContext, target: str) -> TrialFollowUps:
        """`status ACTOR`: the actor's unfinished tries; `status TRY_ID`: that try (whatever its state)."""
        from actor_trainer.core.trial_followup import find_trial, trials_to_follow

        try:
            actor = ctx.library.get_actor(target)
        except ActorTrainerError:
            found = find_trial(ctx.library, target)
            return cls([found], alone=True) if found is not None else cls([])
        return cls(trials_to_follow(ctx.library, actor.id))

    @classmethod
    def everywhere(cls, ctx: CommandContext) -> TrialFollowUps:
        from actor_trainer.core.trial_followup import trials_to_follow

        return cls(trials_to_follow(ctx.library))

    async def run(self, services: Any) -> None:
        from actor_trainer.core.image_cache import ImageCache
        from actor_trainer.core.trial_followup import follow_up

        if self.refs and services.trials is not None:
            self.results = await follow_up(services.trials, self.refs, cache=ImageCache(services.storage))

    def report(self) -> None:
        """One line per try on stderr (what it is now, its error, where its images are)."""
        for done in self.results:
            ref, t = done.ref, done.trial
            head = f"try {t.id} of {ref.version_name} ({ref.actor_name})"
            if done.problem is not None:
                say(f"{head}: still {t.status.label}; it could not be checked — {done.problem}")
                continue
            was = "" if t.status is ref.trial.status else f" (was {ref.trial.status.label})"
            why = f" — {t.error.message}" if t.error else ""
            images = f", {len(t.images or [])} image(s), seed {t.seed}" if t.images else ""
            say(f"{head}: {t.status.label}{was}{images}{why}")
            for _url, path in done.files:
                say(f"  {path}")
            for missing in done.missing:
                say(f"  warning: not fetched: {missing}")

    def versions(self, ctx: CommandContext) -> list[TrainingVersion]:
        """The versions whose tries were followed, as the library holds them now."""
        keys = {(r.actor_id, r.version_key) for r in self.refs}
        return [ctx.library.get_version(actor_id, key) for actor_id, key in sorted(keys)]

    def run_alone(self, ctx: CommandContext, *, as_json: bool) -> int:
        """`status TRY_ID`: check that one try; exit 1 when the check itself failed."""

        async def go() -> None:
            async with running_services(ctx, serve_webhooks=False, poll=False, echo=not as_json) as services:
                await self.run(services)

        asyncio.run(go())
        if as_json:
            for done in self.results:
                doc = _trial_doc(done.trial, dict(done.files))
                print_json({"actor": done.ref.actor_id, "version": done.ref.version_name, "try": doc})
        self.report()
        return 1 if any(done.problem is not None for done in self.results) else 0
