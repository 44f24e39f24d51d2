"""Webhook deliveries, believed only when `/status` says the same (split out of orchestrator.py, issue 8).

`WebhookConfirmation` is a mixin of `TrainingOrchestrator`: one `/status` confirmation in flight per
job, and a delivery that says what was just confirmed makes none. What it uses of the orchestrator is
declared below for the type checker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.errors import VersionNotFoundError
from actor_trainer.core.events import LogLevel
from actor_trainer.core.library import Library
from actor_trainer.core.models import JobState, TrainingVersion, VersionStatus
from actor_trainer.core.run_routing import LogFn
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.runpod_errors import RunPodError
from actor_trainer.core.webhook_tokens import TokenIndex

#: A delivery saying what `/status` confirmed this recently for its job needs no new confirmation.
CONFIRMED_MEMORY_S = 10.0
_CONFIRMED_MAX = 1024


class WebhookConfirmation:
    """`TrainingOrchestrator.handle_webhook` and its one-call-per-job confirmation."""

    library: Library
    client: RunPodClient
    _tokens: TokenIndex
    # One /status confirmation in flight per job; a burst of deliveries waits for its answer.
    _confirming: dict[str, asyncio.Future[JobStatus | None]]
    _confirmed: dict[str, tuple[JobState, float]]
    _log: LogFn
    _changed: Callable[[int, TrainingVersion], None]

    if TYPE_CHECKING:  # provided by TrainingOrchestrator

        async def apply_status(self, actor_id: int, ref: str, status: JobStatus, *, source: str) -> TrainingVersion: ...

    async def handle_webhook(self, token: str, payload: JobStatus) -> None:
        """A delivery whose token we know: believe nothing until `/status` says the same.

        RunPod retries and proxies replay: a burst of deliveries for one job makes one `/status`
        call at a time (the others wait for its answer), and a delivery that says what was just
        confirmed, or arrives for a version already settled, makes none.
        """
        ref = self._tokens.lookup(token)
        if ref is None:
            return
        try:
            version = await asyncio.to_thread(self.library.get_version, ref.actor_id, ref.request_id)
        except VersionNotFoundError:
            self._log(LogLevel.WARNING, "Webhook for a version that no longer exists; ignored.", ref.actor_id)
            return
        if version.job_id is not None and version.job_id != payload.id:
            self._log(
                LogLevel.WARNING,
                f"Webhook claims job {payload.id}, but its token belongs to "
                f"{version.name} (job {version.job_id}); ignored.",
                ref.actor_id,
                version.id,
            )
            return
        if version.status.is_terminal and version.status is not VersionStatus.EXPIRED:
            return  # settled: no answer could move it (states only move forward)
        if self._recently_confirmed(payload.id, payload.status):
            return
        confirmed = await self._confirm(payload, ref.actor_id)
        if confirmed is None:
            return
        if confirmed.status is not payload.status:
            self._log(
                LogLevel.WARNING,
                f"Webhook said {payload.status.value} but RunPod says "
                f"{confirmed.status.value}; the webhook was not applied.",
                ref.actor_id,
                payload.id,
            )
            return
        await self.apply_status(ref.actor_id, version.requestId or version.id, confirmed, source="webhook")

    def _recently_confirmed(self, job_id: str, state: JobState) -> bool:
        seen = self._confirmed.get(job_id)
        now = asyncio.get_running_loop().time()
        return seen is not None and seen[0] is state and now - seen[1] < CONFIRMED_MEMORY_S

    async def _confirm(self, payload: JobStatus, actor_id: int) -> JobStatus | None:
        """`/status` for the delivery's job, one call in flight per job. Returns the answer for the
        caller that made the call, None for callers that joined one whose answer already says what
        their delivery says (it is applied by the caller that made it) or when RunPod did not answer."""
        job_id = payload.id
        for _ in range(2):  # joined an answer to an older question: ask once more
            pending = self._confirming.get(job_id)
            if pending is None:
                break
            answer = await asyncio.shield(pending)
            if answer is None or answer.status is payload.status:
                return None
        future: asyncio.Future[JobStatus | None] = asyncio.get_running_loop().create_future()
        self._confirming[job_id] = future
        self._log(
            LogLevel.INFO,
            f"Webhook: job {job_id} says {payload.status.value}; confirming with RunPod.",
            actor_id,
            job_id,
        )
        confirmed: JobStatus | None = None
        try:
            confirmed = await self.client.status(job_id)
        except RunPodError as exc:
            self._log(
                LogLevel.WARNING,
                f"Could not confirm the webhook ({exc.message}); the next status check will catch up.",
                actor_id,
                job_id,
            )
        finally:
            if self._confirming.get(job_id) is future:
                del self._confirming[job_id]
            future.set_result(confirmed)
        if confirmed is not None:
            if len(self._confirmed) >= _CONFIRMED_MAX:
                self._confirmed.pop(next(iter(self._confirmed)))
            self._confirmed[job_id] = (confirmed.status, asyncio.get_running_loop().time())
        return confirmed
