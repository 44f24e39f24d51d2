"""Sandbox runs of other processes (core/run_owner.py): where to ask about a run, and a run whose
sandbox is gone settled as interrupted. Split out of orchestrator.py (issue 8): `SandboxRouting` is a
mixin of `TrainingOrchestrator`; what it uses of the orchestrator is declared below.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import LogLevel
from actor_trainer.core.library import Library
from actor_trainer.core.models import RunOwner, TrainingVersion, VersionError, VersionStatus
from actor_trainer.core.run_owner import INTERRUPTED_KIND, OwnerState, interrupted_message, owner_state
from actor_trainer.core.run_recorder import RunRecorder
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.storage.base import Storage


class LogFn(Protocol):
    """The orchestrator's log (`RunRecorder.log`), as its mixins call it."""

    def __call__(
        self, level: LogLevel, message: str, actor_id: int | None = None, version_id: str | None = None
    ) -> None: ...


class SandboxRouting:
    """`TrainingOrchestrator._route` and `_record_interrupted`."""

    library: Library
    storage: Storage
    client: RunPodClient
    endpoint_label: str
    owner: RunOwner | None
    recorder: RunRecorder
    _log: LogFn
    _changed: Callable[[int, TrainingVersion], None]

    async def _route(self, actor_id: int, version: TrainingVersion) -> _Route | TrainingVersion:
        """Where to ask about a run: this endpoint, or — for a sandbox run another live process
        owns — that process's endpoint. A sandbox run whose process is gone is settled and returned:
        completed if its LoRA is in the bucket, else interrupted; a run whose owner does not answer
        is returned unchanged."""
        if self.owner is None or version.endpoint != self.endpoint_label or version.status.is_terminal:
            return _Route(self.client)
        owner = version.owner
        state = OwnerState.GONE if owner is None else await owner_state(owner, self.owner)
        if state is OwnerState.MINE:
            return _Route(self.client)
        if state is OwnerState.ALIVE and owner is not None:
            return _Route(None, owner.url)
        if state is OwnerState.UNKNOWN:
            self._log(
                LogLevel.INFO,
                f"{version.name} runs in the sandbox of process "
                f"{owner.pid if owner else '?'}, which did not answer; it is left as it is.",
                actor_id,
                version.id,
            )
            return version
        if version.outputUrl:  # the worker may have finished before its process went: the LoRA says so
            with contextlib.suppress(ActorTrainerError):
                if await self.storage.exists_url(version.outputUrl):
                    return await self.recorder.recover_from_bucket(actor_id, version)
        return await self._record_interrupted(actor_id, version.key, owner)

    async def _record_interrupted(self, actor_id: int, ref: str, owner: RunOwner | None) -> TrainingVersion:
        """FAILED with what happened: the simulated worker lived in a process that is gone."""

        def change(v: TrainingVersion) -> bool:
            if v.status.is_terminal:
                return False
            v.error = VersionError(
                message=interrupted_message(owner),
                details={"kind": INTERRUPTED_KIND, "pid": owner.pid if owner else None},
            )
            v.runpodStatus = None  # the endpoint that ran it is gone; its last answer no longer holds
            v.move_to(VersionStatus.FAILED)
            return True

        saved, moved = await asyncio.to_thread(self.library.update_version, actor_id, ref, change)
        if moved:
            self._changed(actor_id, saved)
            self.recorder.log_transition(actor_id, saved, "sandbox gone")
        return saved


class _Route:
    """A client to use for one call: this orchestrator's own, or a short-lived one for `url`."""

    def __init__(self, client: RunPodClient | None, url: str | None = None) -> None:
        self._client = client
        self._url = url

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[RunPodClient]:
        if self._client is not None:
            yield self._client
            return
        assert self._url is not None
        async with RunPodClient(self._url, None, timeout=10, max_attempts=2) as client:
            yield client
