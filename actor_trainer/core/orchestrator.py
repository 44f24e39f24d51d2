"""The training orchestrator: validate → write a pending version → `/run` → apply what RunPod says.

A version's state comes from RunPod (status answers, confirmed webhooks) or from the worker's
stored output in the bucket — never from this process's memory. Every write goes through the
library's read-modify-write under its lock; states only move forward (`models.can_transition`).
What is learnt is written and reported by `run_recorder.RunRecorder`; webhook tokens are looked up
in `webhook_tokens.TokenIndex`.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

from actor_trainer.core.contract import DEFAULT_USER_ID, JobStatus
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import EventBus, LogLevel
from actor_trainer.core.library import Library
from actor_trainer.core.models import (
    Actor,
    JobState,
    RunEstimate,
    RunOwner,
    TrainingParameters,
    TrainingVersion,
    VersionStatus,
)
from actor_trainer.core.preflight import (
    DataNotSyncedError,
    DataOutsideLibraryError,
    InvalidParametersError,
    NoTrainingDataError,
    Preflight,
    RunInFlightError,
)
from actor_trainer.core.request_builder import (
    BuiltRequest,
    RequestBuildError,
    build_run_request,
    job_ttl_ms,
    model_name_for,
)
from actor_trainer.core.run_actions import CancelRetry, OrchestratorError
from actor_trainer.core.run_recorder import RunRecorder
from actor_trainer.core.run_routing import SandboxRouting
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.runpod_errors import RunPodError, RunPodNotFoundError, SubmissionUncertainError
from actor_trainer.core.sample_keys import checkpoint_key, sample_key
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.upload_urls import worker_put_urls_blocking
from actor_trainer.core.webhook_confirmation import CONFIRMED_MEMORY_S, WebhookConfirmation
from actor_trainer.core.webhook_tokens import TokenIndex, new_webhook_token, webhook_token_hash
from actor_trainer.core.workflow import WorkflowValidationError

# Split out (issue 8), still importable from here.
__all__ = ["CONFIRMED_MEMORY_S", "NOT_REGISTERED_GRACE_S", "OrchestratorError", "TrainingOrchestrator", "WebhookBase"]

#: A 404 from /status this soon after submitting means "not registered yet", not "expired".
NOT_REGISTERED_GRACE_S = 120.0

WebhookBase = Callable[[], str | None]


class TrainingOrchestrator(WebhookConfirmation, CancelRetry, SandboxRouting):
    """Submit, check, cancel and retry runs, and apply confirmed webhooks (the mixins: webhook
    confirmation in core/webhook_confirmation.py, cancel and retry in core/run_actions.py, sandbox
    runs of other processes in core/run_routing.py)."""

    def __init__(
        self,
        *,
        library: Library,
        storage: Storage,
        client: RunPodClient,
        events: EventBus,
        endpoint_label: str,
        webhook_base: WebhookBase,
        user_id: str = DEFAULT_USER_ID,
        presign_urls: bool = False,
        not_registered_grace_s: float = NOT_REGISTERED_GRACE_S,
        on_submitted: Callable[[int, str], None] | None = None,
        owner: RunOwner | None = None,
    ) -> None:
        self.library = library
        self.storage = storage
        self.client = client
        self.events = events
        self.endpoint_label = endpoint_label
        self._webhook_base = webhook_base
        self.user_id = user_id
        self.presign_urls = presign_urls
        self.not_registered_grace_s = not_registered_grace_s
        self.on_submitted = on_submitted
        #: this process's sandbox endpoint, recorded in every run it starts (core/run_owner.py)
        self.owner = owner
        #: makes a run's estimate at submit when the caller gave none (core/estimate.py; blocking)
        self.estimator: Callable[[TrainingParameters], RunEstimate | None] | None = None
        #: the worker contract version to speak to this endpoint (core/contract_memory.py; blocking
        #: file read); None: v1. With v2 a run samples (issue 12): sample and checkpoint URLs below.
        self.contract_version: Callable[[], int] | None = None
        self._submit_lock = asyncio.Lock()
        self._submitting: set[int] = set()
        self._tokens = TokenIndex()
        # One /status confirmation in flight per job; a burst of deliveries waits for its answer.
        self._confirming: dict[str, asyncio.Future[JobStatus | None]] = {}
        self._confirmed: dict[str, tuple[JobState, float]] = {}
        self.recorder = RunRecorder(library=library, storage=storage, events=events)
        # The orchestrator's own events and log lines go the same way as the recorder's.
        self._changed = self.recorder.changed
        self._log = self.recorder.log

    # --- webhook tokens -------------------------------------------------------------------------

    async def load_token_index(self) -> int:
        """Learn the token hashes of every version still in flight (after a restart)."""
        return await asyncio.to_thread(self._tokens.load, self.library)

    def is_known_token(self, token: str) -> bool:
        """Constant-time comparison of the token's hash with every known hash."""
        return self._tokens.is_known(token)

    # --- validation -----------------------------------------------------------------------------

    async def preflight(
        self,
        actor_ref: str | int,
        params: TrainingParameters,
        *,
        allow_concurrent: bool = False,
        require_sync: bool = True,
        need_webhook: bool = True,
    ) -> Preflight:
        """Every check of the original web app's validation tree, in order. Raises a TrainingValidationError."""
        actor = await asyncio.to_thread(self.library.get_actor, actor_ref)
        scan = await asyncio.to_thread(self.library.scan_training_data, actor.id)
        if scan.outside:
            raise DataOutsideLibraryError(scan)
        if scan.image_count == 0:
            raise NoTrainingDataError(actor, scan)
        warnings: list[str] = []
        if scan.unsupported:
            names = ", ".join(p.name for p in scan.unsupported[:3])
            warnings.append(f"{len(scan.unsupported)} unsupported file(s) will not be sent: {names}")
        sync = None
        if require_sync:
            sync = await self.storage.compare(actor.id, scan.files)
            if not sync.is_synced:
                raise DataNotSyncedError(actor, sync)
        if not allow_concurrent:
            if actor.id in self._submitting:
                raise RunInFlightError(actor, None)
            versions = await asyncio.to_thread(self.library.load_versions, actor.id)
            running = next((v for v in versions if not v.status.is_terminal), None)
            if running is not None and self.owner is not None:
                settled = await self._route(actor.id, running)  # a dead sandbox's run blocks nothing
                if isinstance(settled, TrainingVersion) and settled.status.is_terminal:
                    running = None
            if running is not None:
                raise RunInFlightError(actor, running)
        base = self._webhook_base() if need_webhook else None
        try:  # the whole request is built once here (off the loop), so a bad parameter never reaches /run
            await asyncio.to_thread(
                functools.partial(
                    build_run_request,
                    actor=actor,
                    params=params,
                    version_name="V1",
                    training_urls=[f.name for f in scan.files],
                    output_url="s3://check/only",
                    webhook_base_url=base,
                    user_id=self.user_id,
                )
            )
        except (RequestBuildError, WorkflowValidationError) as exc:
            raise InvalidParametersError(exc.message, exc.hint) from exc
        return Preflight(
            actor=actor, params=params, scan=scan, sync=sync, webhook_base_url=base, warnings=tuple(warnings)
        )

    async def dry_run(self, actor_ref: str | int, params: TrainingParameters) -> tuple[BuiltRequest, Preflight]:
        """The exact body `/run` would get for the next version; nothing is written or sent."""
        pre = await self.preflight(actor_ref, params, allow_concurrent=True, require_sync=False, need_webhook=False)
        try:
            base = self._webhook_base()
        except ActorTrainerError:
            base = None
        name = await asyncio.to_thread(self.library.next_version_name, pre.actor.id)
        urls = await self._training_urls(pre)
        built = build_run_request(
            actor=pre.actor,
            params=params,
            version_name=name,
            training_urls=urls,
            output_url=self.storage.model_url(pre.actor.id, model_name_for(pre.actor, name)),
            webhook_base_url=base,
            user_id=self.user_id,
            **await asyncio.to_thread(self._v2_arguments, pre.actor, name, params, len(pre.scan.files)),
        )
        return built, pre

    def _v2_arguments(
        self, actor: Actor, version_name: str, params: TrainingParameters, file_count: int
    ) -> dict[str, Any]:
        """build_run_request's contract v2 arguments: the version spoken to this endpoint and where
        each sample and kept checkpoint goes (keys decided by the app, core/sample_keys.py). In
        presigned mode each is a presigned PUT that lives as long as the job's ttl, so a worker
        without bucket credentials can upload. Blocking (signing): call off the event loop."""
        if self.contract_version is None:
            return {}
        version = self.contract_version()
        if version < 2:
            return {"contract_version": version}
        model_name = model_name_for(actor, version_name)
        prefix = getattr(self.storage, "prefix", "")
        url_for_key: Callable[[str], str] = self.storage.url_for_key  # type: ignore[attr-defined]
        expires_s = math.ceil(job_ttl_ms(params, file_count, contract_version=version) / 1000)

        def upload_url(key: str) -> str:
            url = url_for_key(key)
            return worker_put_urls_blocking(self.storage, [url], expires_s)[0] if self.presign_urls else url

        return {
            "contract_version": version,
            "sample_url": lambda step, index: upload_url(sample_key(prefix, actor.id, model_name, step, index)),
            "checkpoint_url": lambda step: upload_url(checkpoint_key(prefix, actor.id, model_name, step)),
        }

    async def _training_urls(self, pre: Preflight) -> list[str]:
        urls = [self.storage.training_data_url(pre.actor.id, f.name) for f in pre.scan.files]
        if self.presign_urls:
            # The worker may start as late as the job's ttl: the URLs must still work then.
            expires_s = math.ceil(job_ttl_ms(pre.params, len(urls)) / 1000)
            urls = list(await asyncio.gather(*(self.storage.presign_url(u, expires_s) for u in urls)))
        return urls

    # --- submission -----------------------------------------------------------------------------

    async def submit(
        self,
        actor_ref: str | int,
        params: TrainingParameters,
        *,
        description: str | None = None,
        allow_concurrent: bool = False,
        estimate: RunEstimate | None = None,
    ) -> TrainingVersion:
        """Validate, write the pending version, call `/run` once, record the job id as returned.

        `estimate` (core/estimate.py) is written into the version, to be compared with the actual time.

        Two calls at once never make two jobs: submissions are serialised, and the second one
        then sees the first one's version in flight.
        """
        async with self._submit_lock:
            pre = await self.preflight(actor_ref, params, allow_concurrent=allow_concurrent)
            actor = pre.actor
            self._submitting.add(actor.id)
            try:
                return await self._submit(pre, description, estimate)
            finally:
                self._submitting.discard(actor.id)

    async def _submit(
        self, pre: Preflight, description: str | None, estimate: RunEstimate | None = None
    ) -> TrainingVersion:
        actor, params = pre.actor, pre.params
        if estimate is None and self.estimator is not None:
            try:
                estimate = await asyncio.to_thread(self.estimator, params)
            except Exception as exc:  # an estimate never stops a run
                self._log(LogLevel.WARNING, f"No time and cost estimate for this run: {exc}", actor.id, None)
        urls = await self._training_urls(pre)
        request_id = str(uuid.uuid4())
        token = new_webhook_token() if pre.webhook_base_url else None
        built_box: list[BuiltRequest] = []
        speaks = await asyncio.to_thread(self.contract_version) if self.contract_version is not None else None

        def make(name: str) -> TrainingVersion:
            v2_ok = speaks is not None and speaks >= 2
            v2 = (
                self._v2_arguments(actor, name, params, len(pre.scan.files))
                if v2_ok
                else ({"contract_version": speaks} if speaks is not None else {})
            )
            built = build_run_request(
                actor=actor,
                params=params,
                version_name=name,
                training_urls=urls,
                output_url=self.storage.model_url(actor.id, model_name_for(actor, name)),
                webhook_base_url=pre.webhook_base_url,
                request_id=request_id,
                webhook_token=token,
                user_id=self.user_id,
                **v2,
            )
            built_box.append(built)
            return TrainingVersion(
                id=request_id,
                requestId=request_id,
                name=name,
                status=VersionStatus.PENDING,
                parameters=params,
                imageCount=pre.scan.image_count,
                description=(description or "").strip() or None,
                endpoint=self.endpoint_label,
                owner=self.owner,
                outputUrl=built.output_url,
                webhookTokenHash=webhook_token_hash(token) if token else None,
                estimate=estimate,
            )

        version = await asyncio.to_thread(self.library.append_version, actor.id, make)
        built = built_box[0]
        if token:
            self._tokens.add(token, actor.id, request_id)
        self._changed(actor.id, version)
        p = params
        self._log(
            LogLevel.REQUEST,
            f"POST /run {built.model_name}: {pre.scan.image_count} images, {p.max_train_steps} steps, "
            f"lr {p.learning_rate:g}, dim/alpha {p.network_dim}/{p.network_alpha:g}"
            + ("" if token else " (no webhook: poll only)"),
            actor.id,
            request_id,
        )
        for warning in pre.warnings:
            self._log(LogLevel.WARNING, warning, actor.id, request_id)
        try:
            answer = await self.client.run(built.body)
        except SubmissionUncertainError as exc:
            await self.recorder.record_error(actor.id, request_id, exc, fail=False)
            raise
        except RunPodError as exc:
            await self.recorder.record_error(actor.id, request_id, exc, fail=True)
            raise
        self._log(
            LogLevel.RESPONSE, f"RunPod accepted the job: id {answer.id}, {answer.status.value}", actor.id, answer.id
        )
        saved = await self.apply_status(actor.id, request_id, answer, source="/run")
        if self.on_submitted is not None:
            self.on_submitted(actor.id, request_id)
        return saved

    # --- applying RunPod's answers --------------------------------------------------------------

    async def apply_status(self, actor_id: int, ref: str, status: JobStatus, *, source: str) -> TrainingVersion:
        """Apply one status object (from /run, /status, /cancel or a confirmed webhook): forward moves
        only, newer progress only, a job id adopted only by a version without one (`RunRecorder`)."""
        return await self.recorder.apply_status(actor_id, ref, status, source=source)

    # --- checking -------------------------------------------------------------------------------

    async def check(self, actor_id: int, ref: str) -> TrainingVersion:
        """Ask RunPod about one version now and apply the answer (the original web app's "Check Status")."""
        version = await asyncio.to_thread(self.library.get_version, actor_id, ref)
        if version.status.is_terminal and version.status is not VersionStatus.EXPIRED:
            return version
        if version.endpoint and version.endpoint != self.endpoint_label:
            self._log(
                LogLevel.WARNING,
                f"{version.name} was sent to {version.endpoint}, not {self.endpoint_label}; "
                "switch the endpoint in Settings to follow it.",
                actor_id,
                version.id,
            )
            return version
        route = await self._route(actor_id, version)
        if isinstance(route, TrainingVersion):
            return route
        age = time.time() - version.timestamp.replace(tzinfo=version.timestamp.tzinfo or UTC).timestamp()
        job_id = version.job_id
        if job_id is None:
            if age > self.not_registered_grace_s and version.error is not None:
                return await self.recorder.recover_from_bucket(actor_id, version)
            return version
        try:
            async with route.use() as client:
                status = await client.status(job_id)
        except RunPodNotFoundError:
            if age < self.not_registered_grace_s and version.status is VersionStatus.QUEUED:
                self._log(
                    LogLevel.INFO, f"{version.name}: RunPod has not registered job {job_id} yet.", actor_id, job_id
                )
                return version
            return await self.recorder.recover_from_bucket(actor_id, version)
        except RunPodError as exc:
            # A failed check is only a failed check: nothing about the run changes.
            self._log(
                LogLevel.WARNING,
                f"{version.name}: status check failed — {exc.message} Will try again at the next poll.",
                actor_id,
                job_id,
            )
            return version
        return await self.apply_status(actor_id, version.id, status, source="status check")
