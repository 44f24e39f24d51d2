"""Cancel and retry a run (split out of orchestrator.py, issue 8). `CancelRetry` is a mixin of
`TrainingOrchestrator`; what it uses of the orchestrator is declared below for the type checker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import LogLevel
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.run_routing import LogFn, _Route
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.runpod_errors import RunPodError

if TYPE_CHECKING:
    from actor_trainer.core.contract import JobStatus


class OrchestratorError(ActorTrainerError):
    """An action on a run could not be carried out."""


class CancelRetry:
    """`TrainingOrchestrator.cancel` and `retry`."""

    library: Library
    client: RunPodClient
    endpoint_label: str
    on_submitted: Callable[[int, str], None] | None
    _log: LogFn
    _changed: Callable[[int, TrainingVersion], None]

    if TYPE_CHECKING:  # provided by TrainingOrchestrator (and SandboxRouting)

        async def apply_status(self, actor_id: int, ref: str, status: JobStatus, *, source: str) -> TrainingVersion: ...

        async def check(self, actor_id: int, ref: str) -> TrainingVersion: ...

        async def submit(
            self, actor_ref: str | int, params: TrainingParameters, *, description: str | None = None
        ) -> TrainingVersion: ...

        async def _route(self, actor_id: int, version: TrainingVersion) -> _Route | TrainingVersion: ...

    async def cancel(self, actor_id: int, ref: str) -> TrainingVersion:
        """Abort a run for real: `/cancel`, then record what RunPod answered."""
        version = await asyncio.to_thread(self.library.get_version, actor_id, ref)
        if version.status.is_terminal:
            raise OrchestratorError(f"{version.name} is already {version.status.label}.", "Nothing to cancel.")
        if version.job_id is None:
            raise OrchestratorError(
                f"{version.name} has no RunPod job id yet, so it cannot be cancelled from here.",
                "Check its status first; if RunPod's answer was lost, cancel it in RunPod's console.",
            )
        route = await self._route(actor_id, version)
        if isinstance(route, TrainingVersion):
            return route  # interrupted (its sandbox is gone: nothing runs), or its owner did not answer
        self._log(LogLevel.REQUEST, f"POST /cancel/{version.job_id}", actor_id, version.id)
        async with route.use() as client:
            answer = await client.cancel(version.job_id)
        self._log(LogLevel.RESPONSE, f"RunPod answered {answer.status.value} for {version.name}.", actor_id, version.id)
        saved = await self.apply_status(actor_id, version.id, answer, source="cancel")
        if not saved.status.is_terminal:
            saved = await self.check(actor_id, version.id)
        return saved

    async def retry(self, actor_id: int, ref: str) -> TrainingVersion:
        """`/retry` while RunPod still has the failed job; otherwise a new version, same parameters."""
        version = await asyncio.to_thread(self.library.get_version, actor_id, ref)
        if not version.status.is_terminal:
            raise OrchestratorError(f"{version.name} is still {version.status.label}.", "Only finished runs retry.")
        if version.status is VersionStatus.COMPLETED:
            raise OrchestratorError(f"{version.name} completed.", "Use “Train again” to make another version.")
        if (
            version.status in (VersionStatus.FAILED, VersionStatus.TIMED_OUT)
            and version.job_id is not None
            and version.endpoint in (None, self.endpoint_label)
        ):
            self._log(LogLevel.REQUEST, f"POST /retry/{version.job_id}", actor_id, version.id)
            try:
                answer = await self.client.retry(version.job_id)
            except RunPodError as exc:
                self._log(
                    LogLevel.INFO,
                    f"RunPod cannot retry {version.name} ({exc.message}); "
                    "starting a new version with the same parameters.",
                    actor_id,
                    version.id,
                )
            else:

                def reopen(v: TrainingVersion) -> None:
                    v.reopen_for_retry()
                    v.runpodStatus = answer.status.value

                saved, _ = await asyncio.to_thread(self.library.update_version, actor_id, version.id, reopen)
                self._changed(actor_id, saved)
                self._log(LogLevel.RESPONSE, f"RunPod requeued {saved.name} (job {saved.id}).", actor_id, saved.id)
                if self.on_submitted is not None:
                    self.on_submitted(actor_id, saved.requestId or saved.id)
                return saved
        description = f"Retry of {version.name}" + (f": {version.description}" if version.description else "")
        return await self.submit(actor_id, version.parameters, description=description)
