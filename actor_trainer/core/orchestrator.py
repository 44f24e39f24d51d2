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
import time
import uuid
from collections.abc import Callable
from datetime import UTC

from actor_trainer.core.contract import DEFAULT_USER_ID, JobStatus
from actor_trainer.core.errors import ActorTrainerError, VersionNotFoundError
from actor_trainer.core.events import EventBus, LogLevel
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.preflight import (
    DataNotSyncedError,
    InvalidParametersError,
    NoTrainingDataError,
    Preflight,
    RunInFlightError,
)
from actor_trainer.core.request_builder import (
    BuiltRequest,
    RequestBuildError,
    build_run_request,
    model_name_for,
)
from actor_trainer.core.run_recorder import RunRecorder
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.runpod_errors import RunPodError, RunPodNotFoundError, SubmissionUncertainError
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.webhook_tokens import TokenIndex, new_webhook_token, webhook_token_hash
from actor_trainer.core.workflow import WorkflowValidationError

#: A 404 from /status this soon after submitting means "not registered yet", not "expired".
NOT_REGISTERED_GRACE_S = 120.0


class OrchestratorError(ActorTrainerError):
    """An action on a run could not be carried out."""


WebhookBase = Callable[[], str | None]


class TrainingOrchestrator:
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
        self._submit_lock = asyncio.Lock()
        self._submitting: set[int] = set()
        self._tokens = TokenIndex()
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
        return Preflight(actor=actor, params=params, scan=scan, sync=sync, webhook_base_url=base,
                         warnings=tuple(warnings))

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
        )
        return built, pre

    async def _training_urls(self, pre: Preflight) -> list[str]:
        urls = [self.storage.training_data_url(pre.actor.id, f.name) for f in pre.scan.files]
        if self.presign_urls:
            urls = list(await asyncio.gather(*(self.storage.presign_url(u) for u in urls)))
        return urls

    # --- submission -----------------------------------------------------------------------------

    async def submit(
        self,
        actor_ref: str | int,
        params: TrainingParameters,
        *,
        description: str | None = None,
        allow_concurrent: bool = False,
    ) -> TrainingVersion:
        """Validate, write the pending version, call `/run` once, record the job id as returned.

        Two calls at once never make two jobs: submissions are serialised, and the second one
        then sees the first one's version in flight.
        """
        async with self._submit_lock:
            pre = await self.preflight(actor_ref, params, allow_concurrent=allow_concurrent)
            actor = pre.actor
            self._submitting.add(actor.id)
            try:
                return await self._submit(pre, description)
            finally:
                self._submitting.discard(actor.id)

    async def _submit(self, pre: Preflight, description: str | None) -> TrainingVersion:
        actor, params = pre.actor, pre.params
        urls = await self._training_urls(pre)
        request_id = str(uuid.uuid4())
        token = new_webhook_token() if pre.webhook_base_url else None
        built_box: list[BuiltRequest] = []

        def make(name: str) -> TrainingVersion:
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
                outputUrl=built.output_url,
                webhookTokenHash=webhook_token_hash(token) if token else None,
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
        self._log(LogLevel.RESPONSE, f"RunPod accepted the job: id {answer.id}, {answer.status.value}",
                  actor.id, answer.id)
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
            self._log(LogLevel.WARNING,
                      f"{version.name} was sent to {version.endpoint}, not {self.endpoint_label}; "
                      "switch the endpoint in Settings to follow it.", actor_id, version.id)
            return version
        age = time.time() - version.timestamp.replace(tzinfo=version.timestamp.tzinfo or UTC).timestamp()
        job_id = version.job_id
        if job_id is None:
            if age > self.not_registered_grace_s and version.error is not None:
                return await self.recorder.recover_from_bucket(actor_id, version)
            return version
        try:
            status = await self.client.status(job_id)
        except RunPodNotFoundError:
            if age < self.not_registered_grace_s and version.status is VersionStatus.QUEUED:
                self._log(LogLevel.INFO, f"{version.name}: RunPod has not registered job {job_id} yet.",
                          actor_id, job_id)
                return version
            return await self.recorder.recover_from_bucket(actor_id, version)
        except RunPodError as exc:
            # A failed check is only a failed check: nothing about the run changes.
            self._log(LogLevel.WARNING, f"{version.name}: status check failed — {exc.message} "
                      "Will try again at the next poll.", actor_id, job_id)
            return version
        return await self.apply_status(actor_id, version.id, status, source="status check")

    # --- webhooks -------------------------------------------------------------------------------

    async def handle_webhook(self, token: str, payload: JobStatus) -> None:
        """A delivery whose token we know: believe nothing until `/status` says the same."""
        ref = self._tokens.lookup(token)
        if ref is None:
            return
        try:
            version = await asyncio.to_thread(self.library.get_version, ref.actor_id, ref.request_id)
        except VersionNotFoundError:
            self._log(LogLevel.WARNING, "Webhook for a version that no longer exists; ignored.", ref.actor_id)
            return
        if version.job_id is not None and version.job_id != payload.id:
            self._log(LogLevel.WARNING, f"Webhook claims job {payload.id}, but its token belongs to "
                      f"{version.name} (job {version.job_id}); ignored.", ref.actor_id, version.id)
            return
        self._log(LogLevel.INFO, f"Webhook: job {payload.id} says {payload.status.value}; confirming with RunPod.",
                  ref.actor_id, payload.id)
        try:
            confirmed = await self.client.status(payload.id)
        except RunPodError as exc:
            self._log(LogLevel.WARNING, f"Could not confirm the webhook ({exc.message}); "
                      "the next status check will catch up.", ref.actor_id, payload.id)
            return
        if confirmed.status is not payload.status:
            self._log(LogLevel.WARNING, f"Webhook said {payload.status.value} but RunPod says "
                      f"{confirmed.status.value}; the webhook was not applied.", ref.actor_id, payload.id)
            return
        await self.apply_status(ref.actor_id, version.requestId or version.id, confirmed, source="webhook")

    # --- cancel and retry -----------------------------------------------------------------------

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
        self._log(LogLevel.REQUEST, f"POST /cancel/{version.job_id}", actor_id, version.id)
        answer = await self.client.cancel(version.job_id)
        self._log(LogLevel.RESPONSE, f"RunPod answered {answer.status.value} for {version.name}.",
                  actor_id, version.id)
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
                self._log(LogLevel.INFO, f"RunPod cannot retry {version.name} ({exc.message}); "
                          "starting a new version with the same parameters.", actor_id, version.id)
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
