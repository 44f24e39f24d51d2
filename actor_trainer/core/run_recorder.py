"""Recording what is learnt about a run: RunPod's answers, errors, and what the bucket holds.

The orchestrator decides what to ask and when; this writes the answers. Each write is one
read-modify-write of the version in the library (under its lock) through the pure rules of
`version_updates`, so states only move forward; each change is announced (`VersionChanged`,
`RunProgress`) and logged, to the log file and through the event bus to the console.
"""

from __future__ import annotations

import asyncio
import logging
import math

from actor_trainer.core.contract import (
    JobStatus,
    checkpoint_failures_of,
    checkpoints_of,
    contract_version_of,
    samples_of,
)
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import EventBus, LogLevel, RunProgress, VersionChanged
from actor_trainer.core.library import Library
from actor_trainer.core.models import Checkpoint, Sample, TrainingVersion, VersionError, VersionStatus, can_transition
from actor_trainer.core.redact import redact, redact_any
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.version_updates import StatusOutcome, apply_job_status, mark_recovered_or_expired

# These are the orchestrator's log lines: they keep its logger name.
log = logging.getLogger("actor_trainer.core.orchestrator")


def record_timings(v: TrainingVersion, status: JobStatus) -> None:
    """Keep RunPod's delayTime/executionTime (ms) when a status answer carries them: what the
    estimate learns from (core/estimate.py). A terminal version keeps the values it ended with."""
    if v.status.is_terminal and v.executionTime is not None and not status.status.is_terminal:
        return
    for name in ("delayTime", "executionTime"):
        value = getattr(status, name)
        if isinstance(value, int | float) and value >= 0:
            setattr(v, name, float(value))


#: The most loss points a version keeps (a 100,000-step run must not grow its record without bound).
LOSS_HISTORY_MAX = 400


def record_loss(v: TrainingVersion) -> None:
    """Keep the progress's (step, loss) in `v.lossHistory` when its step is newer. Past
    LOSS_HISTORY_MAX points every other one is dropped (the first and the newest always stay), so the
    history covers the whole run at a coarser grain rather than only its end."""
    p = v.progress
    if p is None or p.step is None or p.loss is None or not math.isfinite(p.loss):
        return
    history = list(v.lossHistory or [])
    if history and p.step <= history[-1][0]:
        return
    history.append((p.step, round(float(p.loss), 6)))
    if len(history) > LOSS_HISTORY_MAX:
        history = [*history[:-1:2], history[-1]]
    v.lossHistory = history


def _as_stored(v: TrainingVersion, sample: Sample) -> Sample:
    """The sample as the app reads it: at the bucket URL of the key the app chose for it. A worker
    given presigned upload URLs may report an https address (or a presigned one); the app decided
    the key (core/sample_keys.py: next to the version's LoRA), so it records that, never a
    signature, and reads it back through its own storage."""
    output = v.outputUrl
    if not output or sample.step is None or sample.url.split(":", 1)[0] == output.split(":", 1)[0]:
        return sample
    stem = output.rsplit("/", 1)
    if len(stem) != 2 or not stem[1].endswith(".safetensors"):
        return sample
    name = stem[1].removesuffix(".safetensors")
    url = f"{stem[0]}/{name}/samples/step{sample.step:06d}_p{sample.index:02d}.png"
    return sample.model_copy(update={"url": url})


def _checkpoint_as_stored(v: TrainingVersion, checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint at the bucket URL of the key the app chose for it (core/sample_keys.py:
    `<model>_step001500.safetensors` beside the LoRA), when the worker reported another scheme (a
    presigned upload's https address), as `_as_stored` does for samples."""
    output = v.outputUrl
    if not output or checkpoint.url.split(":", 1)[0] == output.split(":", 1)[0]:
        return checkpoint
    if not output.endswith(".safetensors"):
        return checkpoint
    url = f"{output.removesuffix('.safetensors')}_step{checkpoint.step:06d}.safetensors"
    return checkpoint.model_copy(update={"url": url})


def record_samples(v: TrainingVersion, status: JobStatus) -> bool:
    """Contract v2 (docs/worker-contract.md): keep the samples and checkpoints a progress payload or
    result lists (a worker uploads each checkpoint while it trains and lists it in its progress),
    and the highest `contract_version` the worker stated. The worker's list is
    cumulative, so it replaces ours — merged by (step, prompt) and by step, so that a late or
    shorter payload never takes away what was seen. True when anything changed."""
    output = status.output
    if not isinstance(output, dict):
        return False
    changed = False
    samples = [_as_stored(v, s) for s in samples_of(output)]
    if samples:
        merged = {(s.step, s.index): s for s in v.samples or []}
        merged.update({(s.step, s.index): s for s in samples})
        ordered = sorted(merged.values(), key=lambda s: (s.step or 0, s.index))
        if ordered != (v.samples or []):
            v.samples, changed = ordered, True
    checkpoints = [_checkpoint_as_stored(v, c) for c in checkpoints_of(output)]
    if checkpoints:
        by_step = {c.step: c for c in v.checkpoints or []}
        by_step.update({c.step: c for c in checkpoints})
        ordered_checkpoints = [by_step[s] for s in sorted(by_step)]
        if ordered_checkpoints != (v.checkpoints or []):
            v.checkpoints, changed = ordered_checkpoints, True
    failures = dict(v.checkpointFailures or {})
    failures.update(checkpoint_failures_of(output))
    for c in v.checkpoints or []:
        failures.pop(c.step, None)  # uploaded after all (a retry, a later payload)
    if failures != (v.checkpointFailures or {}):
        v.checkpointFailures, changed = dict(sorted(failures.items())) or None, True
    version = contract_version_of(output)
    if version is not None and version > (v.contractVersion or 0):
        v.contractVersion, changed = version, True
    return changed


class RunRecorder:
    def __init__(self, *, library: Library, storage: Storage, events: EventBus) -> None:
        self.library = library
        self.storage = storage
        self.events = events

    # --- RunPod's answers -----------------------------------------------------------------------

    async def apply_status(self, actor_id: int, ref: str, status: JobStatus, *, source: str) -> TrainingVersion:
        """Apply one status object (from /run, /status, /cancel or a confirmed webhook).

        Only forward moves are applied; progress only when its step is newer; a job id is adopted
        only by a version that has none yet.
        """
        outcome = StatusOutcome()
        drawn = False
        new_steps: list[int] = []

        def change(v: TrainingVersion) -> None:
            nonlocal drawn
            apply_job_status(v, status, outcome)
            if outcome.mismatch is None:
                record_timings(v, status)
                if outcome.progress:
                    record_loss(v)
                before = {s.step for s in v.samples or []}
                drawn = record_samples(v, status)  # contract v2: samples and checkpoints as they land
                new_steps[:] = sorted({s.step for s in v.samples or [] if s.step is not None} - before)
            scrub(v)  # a worker's error or progress text is stored and shown: no secret in it

        saved, _ = await asyncio.to_thread(self.library.update_version, actor_id, ref, change)
        if outcome.mismatch is not None:
            self.log(
                LogLevel.WARNING,
                f"{source}: status for job {status.id} does not belong to {saved.name} "
                f"(job {outcome.mismatch}); ignored.",
                actor_id,
                saved.id,
            )
            return saved
        if outcome.moved or outcome.progress or drawn:
            self.changed(actor_id, saved)
        for step in new_steps:
            count = sum(1 for s in saved.samples or [] if s.step == step)
            self.log(LogLevel.INFO, f"{saved.name}: {count} sample(s) at step {step}.", actor_id, saved.id)
        if outcome.progress and saved.progress is not None:
            self.events.emit(RunProgress(actor_id=actor_id, version_id=saved.id, progress=saved.progress))
        if outcome.moved:
            self.log_transition(actor_id, saved, source)
            if saved.status is VersionStatus.COMPLETED:
                for step, reason in checkpoint_failures_of(status.output):
                    self.log(
                        LogLevel.WARNING,
                        f"{saved.name}: the checkpoint at step {step} was not uploaded ({reason}); "
                        "it cannot be marked good.",
                        actor_id,
                        saved.id,
                    )
        return saved

    def log_transition(self, actor_id: int, v: TrainingVersion, source: str) -> None:
        if v.status is VersionStatus.COMPLETED:
            self.log(LogLevel.SUCCESS, f"{v.name} completed ({source}). LoRA: {v.loraUrl}", actor_id, v.id)
        elif v.status in (VersionStatus.FAILED, VersionStatus.TIMED_OUT, VersionStatus.EXPIRED):
            message = v.error.message if v.error else v.status.label
            self.log(LogLevel.ERROR, f"{v.name} {v.status.label} ({source}): {message}", actor_id, v.id)
        elif v.status is VersionStatus.CANCELLED:
            self.log(LogLevel.WARNING, f"{v.name} cancelled ({source}).", actor_id, v.id)
        else:
            self.log(LogLevel.INFO, f"{v.name} is {v.status.label} ({source}).", actor_id, v.id)

    # --- errors ---------------------------------------------------------------------------------

    async def record_error(self, actor_id: int, ref: str, exc: ActorTrainerError, *, fail: bool) -> None:
        """Store `exc` on the version; with `fail`, the version also becomes FAILED (if it still can)."""

        def change(v: TrainingVersion) -> None:
            v.error = VersionError(
                message=redact(exc.message), details={"hint": redact(exc.hint), "kind": type(exc).__name__}
            )
            if fail and can_transition(v.status, VersionStatus.FAILED):
                v.move_to(VersionStatus.FAILED)

        saved, _ = await asyncio.to_thread(self.library.update_version, actor_id, ref, change)
        self.changed(actor_id, saved)
        self.log(LogLevel.ERROR, f"{saved.name}: {exc}", actor_id, saved.id)

    # --- the bucket -----------------------------------------------------------------------------

    async def recover_from_bucket(self, actor_id: int, version: TrainingVersion) -> TrainingVersion:
        """RunPod forgot the job (results live 30 min): look for the LoRA where the worker stores it."""
        url = version.outputUrl
        found = False
        if url:
            try:
                found = await self.storage.exists_url(url)
            except ActorTrainerError as exc:
                self.log(
                    LogLevel.WARNING, f"{version.name}: could not look in the bucket — {exc}", actor_id, version.id
                )
                return version

        before = version.status
        saved, _ = await asyncio.to_thread(
            self.library.update_version, actor_id, version.id, lambda v: mark_recovered_or_expired(v, url, found)
        )
        if saved.status is not before:
            self.changed(actor_id, saved)
            self.log_transition(actor_id, saved, "bucket" if found else "expired")
        return saved

    # --- events ---------------------------------------------------------------------------------

    def changed(self, actor_id: int, version: TrainingVersion) -> None:
        self.events.emit(VersionChanged(actor_id=actor_id, version=version))

    def log(self, level: LogLevel, message: str, actor_id: int | None = None, version_id: str | None = None) -> None:
        message = redact(message)
        log.log(logging.WARNING if level in (LogLevel.WARNING, LogLevel.ERROR) else logging.INFO, "%s", message)
        self.events.log(level, message, actor_id=actor_id, version_id=version_id)


def scrub(v: TrainingVersion) -> None:
    """Redact the texts a server put in the version (its error, plain-text progress) before storing."""
    if v.error is not None:
        message, details = redact(v.error.message), redact_any(v.error.details)
        if message != v.error.message or details != v.error.details:
            v.error = VersionError(message=message, details=details)
    if v.progress is not None and v.progress.message:
        v.progress.message = redact(v.progress.message)
