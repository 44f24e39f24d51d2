"""Check status, cancel and retry, the one road for each, with the words the user is asked.

The console's Abort, the versions panel's Cancel and `actor-trainer cancel` all ask the same
question (`cancel_question`) and call the same method; the console's and the versions panel's
Check status and `actor-trainer status` likewise. Each result is logged once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from actor_trainer.core.events import EventBus, LogLevel
from actor_trainer.core.models import TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.preflight import DataNotSyncedError, RunInFlightError
from actor_trainer.core.storage.base import SyncStatus

if TYPE_CHECKING:  # types only: the app's window imports this module before httpx is needed (issue 11)
    from actor_trainer.core.orchestrator import TrainingOrchestrator
    from actor_trainer.core.runpod_client import RunPodClient

RETRYABLE = (VersionStatus.FAILED, VersionStatus.TIMED_OUT, VersionStatus.CANCELLED, VersionStatus.EXPIRED)


@dataclass(frozen=True)
class Question:
    title: str
    text: str
    confirm: str  # the button that goes on
    keep: str  # the button that changes nothing


def is_sandbox_run(version: TrainingVersion, app_in_sandbox: bool) -> bool:
    if version.endpoint is not None:
        return version.endpoint.lower() == "sandbox"
    return app_in_sandbox


def cancel_question(version: TrainingVersion, *, app_in_sandbox: bool) -> Question:
    """What the user is asked before a run is cancelled, wherever the cancel starts."""
    text = (
        f"Cancel {version.name}? RunPod stops the job (/cancel); the GPU time used so far is billed, "
        "and the run cannot be resumed."
    )
    if is_sandbox_run(version, app_in_sandbox):
        text += "\n\n(Sandbox: the run is simulated, nothing is billed.)"
    return Question(title=f"Cancel {version.name}?", text=text, confirm="Cancel run", keep="Keep running")


def can_cancel(version: TrainingVersion) -> bool:
    return not version.status.is_terminal and version.job_id is not None


def can_check(version: TrainingVersion) -> bool:
    return not version.status.is_terminal or version.status is VersionStatus.EXPIRED


def can_retry(version: TrainingVersion) -> bool:
    return version.status in RETRYABLE


class RunControl:
    def __init__(self, orchestrator: TrainingOrchestrator, client: RunPodClient, events: EventBus) -> None:
        self.orchestrator = orchestrator
        self.client = client
        self.events = events

    async def check(self, actor_id: int, ref: str, *, explain_queue: bool = True) -> TrainingVersion:
        """Ask RunPod about a run now and apply the answer; for a queued run, also log what the
        endpoint's `/health` says (waiting for a GPU, or a broken endpoint)."""
        version = await self.orchestrator.check(actor_id, ref)
        p = version.progress
        step = f", step {p.step}/{p.total}" if p is not None and p.step is not None and p.total else ""
        said = f" (RunPod: {version.runpodStatus})" if version.runpodStatus else ""
        self.events.log(
            LogLevel.INFO,
            f"Checked {version.name}: {version.status.label}{step}{said}.",
            actor_id=actor_id,
            version_id=version.id,
        )
        if explain_queue and version.status in (VersionStatus.QUEUED, VersionStatus.PENDING):
            self.events.log(LogLevel.REQUEST, "GET /health", actor_id=actor_id)
            try:
                health = await self.client.health()
            except Exception as exc:
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                self.events.log(
                    LogLevel.WARNING, f"The endpoint's health could not be read: {message}", actor_id=actor_id
                )
            else:
                self.events.log(LogLevel.RESPONSE, health.summary(), actor_id=actor_id)
        return version

    async def cancel(self, actor_id: int, ref: str) -> TrainingVersion:
        version = await self.orchestrator.cancel(actor_id, ref)
        level = LogLevel.WARNING if version.status is VersionStatus.CANCELLED else LogLevel.INFO
        self.events.log(
            level, f"Cancel: {version.name} is now {version.status.label}.", actor_id=actor_id, version_id=version.id
        )
        return version

    async def retry(self, actor_id: int, ref: str) -> TrainingVersion:
        return await self.orchestrator.retry(actor_id, ref)

    async def can_start(
        self, actor_id: int, params: TrainingParameters, *, allow_concurrent: bool, cached_sync: SyncStatus | None
    ) -> TrainingVersion | None:
        """The Start gate: raises what stands in the way of a run (ActorTrainerError), or returns
        the run in flight that a new one would start beside (None when there is none).

        The sync state comes from the caller's cached comparison, so that typing does not list the
        bucket each time; only an unknown state is checked here. Submitting compares again."""
        beside: TrainingVersion | None = None
        try:
            pre = await self.orchestrator.preflight(actor_id, params, require_sync=cached_sync is None)
        except RunInFlightError as exc:
            if not allow_concurrent or exc.version is None:
                raise
            beside = exc.version
            pre = await self.orchestrator.preflight(
                actor_id, params, allow_concurrent=True, require_sync=cached_sync is None
            )
        if cached_sync is not None and not cached_sync.is_synced:
            raise DataNotSyncedError(pre.actor, cached_sync)
        return beside

    async def submit(
        self, actor_id: int, params: TrainingParameters, *, description: str | None, allow_concurrent: bool
    ) -> TrainingVersion:
        return await self.orchestrator.submit(
            actor_id, params, description=description, allow_concurrent=allow_concurrent
        )
