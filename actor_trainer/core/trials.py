""" "Try this version": generation jobs with a version's LoRA, kept with the version as its trials.

Contract v2 (docs/worker-contract.md): a job with `input.task: "generate"` on the same endpoint as
training. A trial is written to the version's `trials` list *before* `/run` (status pending, its id
the app-made request id), then takes RunPod's job id; its status and images come from the job's
`/status`, applied forward only (as runs are: pending → queued → in progress → completed | failed |
cancelled | timed out). Trials are followed by polling (no webhook), and cancelled like training; one
nobody waited for is checked again by the app at start-up and by `actor-trainer status`/`reconcile`
(core/trial_followup.py: when RunPod has forgotten the job, the bucket says).
Every write is one `Library.update_version` (read-modify-write under the library's lock).

Offered only where the endpoint speaks v2 (core/contract_memory.py): a v1 worker would fail the job.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actor_trainer.core.contract import JobStatus, contract_version_of, images_of
from actor_trainer.core.errors import ActorTrainerError, VersionNotFoundError
from actor_trainer.core.events import EventBus, LogLevel, VersionChanged
from actor_trainer.core.generate import build_generate_request
from actor_trainer.core.library import Library
from actor_trainer.core.models import (
    Actor,
    Sample,
    TrainingVersion,
    Trial,
    VersionError,
    VersionStatus,
    can_transition,
)
from actor_trainer.core.redact import redact
from actor_trainer.core.request_builder import model_name_for
from actor_trainer.core.runpod_errors import RunPodNotFoundError
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.trial_followup import (
    NOT_REGISTERED_GRACE_S,
    age_s,
    needs_follow_up,
    recovered_or_expired,
    sent_elsewhere,
    trial_image_urls,
    trials_to_follow,
    was_sent,
)

log = logging.getLogger(__name__)

MAX_SEED = 2**32 - 1

_CHECKPOINT_REF = re.compile(r"^(?P<ref>.+?)@(?P<step>\d+)$")


class TrialRefusedError(ActorTrainerError):
    """A trial that cannot be sent (the version has no LoRA, the endpoint speaks only v1, …)."""


# --- resolving "V2", a job id, a request id, and "V2@1500" -----------------------------------------


def parse_version_ref(text: str) -> tuple[str, int | None]:
    """`V2@1500` → ("V2", 1500); anything else → (text, None)."""
    match = _CHECKPOINT_REF.match(text.strip())
    if match is None:
        return text.strip(), None
    return match.group("ref"), int(match.group("step"))


def find_version(versions: list[TrainingVersion], ref: str) -> TrainingVersion | None:
    """The version whose job id, request id or name is `ref` (as `mark-good` resolves it)."""
    return next((v for v in versions if ref in (v.id, v.requestId) or v.name == ref), None)


def lora_of(version: TrainingVersion, step: int | None) -> str:
    """The LoRA file of `version` — the final one, or checkpoint `step` — or TrialRefusedError."""
    if step is None:
        if version.status is not VersionStatus.COMPLETED or not version.loraUrl:
            raise TrialRefusedError(
                f"{version.name} is {version.status.label} and has no LoRA to try yet.",
                "Wait for the run to complete, or pick a completed version.",
            )
        return version.loraUrl
    checkpoint = next((c for c in version.checkpoints or [] if c.step == step), None)
    if checkpoint is None:
        kept = ", ".join(str(c.step) for c in version.checkpoints or []) or "none"
        raise TrialRefusedError(
            f"{version.name} kept no checkpoint at step {step} (kept: {kept}).",
            "Pick a kept step, or train with 'keep checkpoints' on.",
        )
    return checkpoint.url


def fill_trigger(prompt: str, trigger: str) -> str:
    return prompt.replace("{trigger}", trigger)


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


# --- the /run body ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedTrial:
    actor: Actor
    version: TrainingVersion
    trial: Trial
    body: dict[str, Any]


# --- applying a status -----------------------------------------------------------------------------


def apply_trial_status(t: Trial, status: JobStatus) -> bool:
    """Apply RunPod's answer to the trial, forward only; True when it changed."""
    before = t.model_dump()
    if t.requestId is not None and t.id == t.requestId and status.id and status.id != t.requestId:
        t.id = status.id  # the job id, once /run answered
    new = status.status.to_version_status()
    if not can_transition(t.status, new):
        return t.model_dump() != before
    if new is VersionStatus.COMPLETED:
        images = images_of(status.output)
        if images:
            t.images = images
        else:
            new = VersionStatus.FAILED
            t.error = VersionError(
                message="The generate job completed without images.", details={"output": status.output}
            )
    elif new in (VersionStatus.FAILED, VersionStatus.TIMED_OUT):
        error = status.job_error()
        t.error = VersionError(message=redact(error.message), details={"kind": "job", "status": status.status.value})
    t.status = new
    return t.model_dump() != before


def _trial_in(version: TrainingVersion, trial_ref: str) -> Trial:
    for trial in version.trials or []:
        if trial_ref in (trial.id, trial.requestId):
            return trial
    raise TrialRefusedError(f"{version.name} has no trial {trial_ref}.", "List its trials with 'samples'.")


class TrialService:
    """Submit, follow, cancel the trials of versions. `client` is the endpoint's RunPodClient."""

    def __init__(
        self,
        *,
        library: Library,
        storage: Storage,
        client: Any,
        events: EventBus,
        endpoint_label: str,
        speaks_v2: Callable[[], bool],
        note_contract: Callable[[Any], Any] | None = None,
        poll_interval_s: float = 2.0,
    ) -> None:
        self.library = library
        self.storage = storage
        self.client = client
        self.events = events
        self.endpoint_label = endpoint_label
        self.speaks_v2 = speaks_v2
        self.note_contract = note_contract
        self.poll_interval_s = poll_interval_s
        self._tasks: dict[str, asyncio.Task[Trial]] = {}

    # --- sending -------------------------------------------------------------------------------

    async def prepare(
        self,
        actor_id: int,
        version_ref: str,
        *,
        prompt: str,
        negative: str = "",
        seed: int | None = None,
        count: int = 1,
        strength: float = 1.0,
        width: int | None = None,
        height: int | None = None,
        checkpoint_step: int | None = None,
    ) -> PreparedTrial:
        """Resolve the version (`V2`, `V2@1500`, a job or request id) and build the `/run` body,
        without sending or writing anything (what `try --dry-run` prints)."""
        ref, step = parse_version_ref(version_ref)
        step = checkpoint_step if checkpoint_step is not None else step
        actor = await asyncio.to_thread(self.library.get_actor, actor_id)
        versions = await asyncio.to_thread(self.library.load_versions, actor.id)
        version = find_version(versions, ref)
        if version is None:
            raise VersionNotFoundError(ref, actor.id)
        if not self.speaks_v2():
            raise TrialRefusedError(
                f"The endpoint {self.endpoint_label} speaks worker contract v1, which has no generate jobs.",
                "Update the worker to contract v2 (docs/worker-contract.md), or set the worker contract to 2 "
                "in Settings (Endpoint) once it is.",
            )
        lora_url = lora_of(version, step)
        text = fill_trigger(prompt, version.parameters.trigger_for(actor)).strip()
        if not text:
            raise TrialRefusedError("The prompt is empty.", "Describe the picture to make.")
        settings = version.parameters.sample_settings
        request_id = uuid.uuid4().hex
        trial = Trial(
            id=request_id,
            requestId=request_id,
            prompt=text,
            negative=negative,
            seed=random_seed() if seed is None else seed,
            count=count,
            strength=strength,
            width=width or settings.width,
            height=height or settings.height,
            checkpoint_step=step,
            endpoint=self.endpoint_label,
        )
        model_name = model_name_for(actor, version.name)
        image_urls = trial_image_urls(self.storage, actor, version.name, request_id, count)
        worker_lora = await self.storage.worker_url(lora_url)
        # Polled, not webhooked: a Try is short, and the poller of runs need not know it.
        built = build_generate_request(
            trial=trial,
            lora_url=worker_lora,
            image_urls=image_urls,
            webhook_base_url=None,
            model_name=model_name,
            steps=settings.steps,
            guidance=settings.guidance,
        )
        return PreparedTrial(actor=actor, version=version, trial=trial, body=built.body)

    async def submit(self, actor_id: int, version_ref: str, *, follow: bool = True, **options: Any) -> Trial:
        """Send a trial: written to the version first (pending), then `/run`; its answer applied. With
        `follow`, a task polls it until it ends (see `wait`)."""
        prepared = await self.prepare(actor_id, version_ref, **options)
        actor, version, trial = prepared.actor, prepared.version, prepared.trial

        def add(v: TrainingVersion) -> None:
            v.trials = [*(v.trials or []), trial]

        saved, _ = await asyncio.to_thread(self.library.update_version, actor.id, version.key, add)
        self._changed(actor.id, saved)
        self._log(
            LogLevel.REQUEST,
            f"POST /run (try {version.name}: {trial.count} image(s), seed {trial.seed})",
            actor.id,
            saved.id,
        )
        try:
            status = await self.client.run(prepared.body)
        except ActorTrainerError as exc:
            await self._fail(actor.id, version.key, trial.id, exc.message)
            raise
        self._log(
            LogLevel.RESPONSE, f"Try of {version.name}: job {status.id} {status.status.value}", actor.id, saved.id
        )
        result = await self.apply(actor.id, version.key, trial.id, status)
        if follow and not result.status.is_terminal:
            self.watch(actor.id, version.key, result.id)
        return result

    async def _fail(self, actor_id: int, version_key: str, trial_id: str, message: str) -> None:
        def change(v: TrainingVersion) -> None:
            t = _trial_in(v, trial_id)
            if can_transition(t.status, VersionStatus.FAILED):
                t.status = VersionStatus.FAILED
                t.error = VersionError(message=redact(message))

        saved, _ = await asyncio.to_thread(self.library.update_version, actor_id, version_key, change)
        self._changed(actor_id, saved)

    # --- answers -------------------------------------------------------------------------------

    async def apply(self, actor_id: int, version_key: str, trial_id: str, status: JobStatus) -> Trial:
        """Apply one status answer to the trial (forward only) and announce a change."""
        if self.note_contract is not None and contract_version_of(status.output) is not None:
            await asyncio.to_thread(self.note_contract, status.output)

        def change(v: TrainingVersion) -> tuple[Trial, bool]:
            t = _trial_in(v, trial_id)
            moved = apply_trial_status(t, status)
            return t.model_copy(deep=True), moved

        saved, (trial, moved) = await asyncio.to_thread(self.library.update_version, actor_id, version_key, change)
        if moved:
            self._changed(actor_id, saved)
            if trial.status is VersionStatus.COMPLETED:
                self._log(
                    LogLevel.SUCCESS,
                    f"Try of {saved.name} done: {len(trial.images or [])} image(s), seed {trial.seed}.",
                    actor_id,
                    saved.id,
                )
            elif trial.status.is_terminal:
                why = f": {trial.error.message}" if trial.error else ""
                self._log(
                    LogLevel.ERROR if trial.status is not VersionStatus.CANCELLED else LogLevel.WARNING,
                    f"Try of {saved.name} {trial.status.label}{why}",
                    actor_id,
                    saved.id,
                )
        return trial

    async def check(self, actor_id: int, version_ref: str, trial_id: str) -> Trial:
        """Ask `/status` about the trial now and apply the answer. When RunPod no longer knows the job
        (or `/run` never answered), past the not-registered grace the bucket says (core/trial_followup.py)."""
        version = await self._version(actor_id, version_ref)
        trial = _trial_in(version, trial_id)
        if not needs_follow_up(trial):
            return trial
        if sent_elsewhere(trial, self.endpoint_label):
            # Another endpoint's job: its /status here would say "not found" and the try would expire.
            where = f"A try of {version.name} was sent to {trial.endpoint}, not {self.endpoint_label}"
            self._log(LogLevel.WARNING, f"{where}; switch the endpoint in Settings to follow it.", actor_id, version.id)
            return trial
        if trial.status is not VersionStatus.EXPIRED and was_sent(trial):
            try:
                status = await self.client.status(trial.id)
            except RunPodNotFoundError:
                pass  # not registered yet, or forgotten: the grace and the bucket decide, below
            else:
                return await self.apply(actor_id, version.key, trial.id, status)
        if age_s(trial) < NOT_REGISTERED_GRACE_S:
            return trial
        return await self._from_bucket(actor_id, version, trial)

    async def _from_bucket(self, actor_id: int, version: TrainingVersion, trial: Trial) -> Trial:
        images: list[Sample] | None = None
        if trial.requestId:
            actor = await asyncio.to_thread(self.library.get_actor, actor_id)
            urls = trial_image_urls(self.storage, actor, version.name, trial.requestId, trial.count)
            if all([await self.storage.exists_url(u) for u in urls]):
                images = [Sample(url=u, prompt=trial.prompt, seed=trial.seed + i, index=i) for i, u in enumerate(urls)]

        def change(v: TrainingVersion) -> tuple[Trial, bool]:
            t = _trial_in(v, trial.id)
            return t, recovered_or_expired(t, images)

        saved, (found, moved) = await asyncio.to_thread(self.library.update_version, actor_id, version.key, change)
        if moved:
            self._changed(actor_id, saved)
            what = (
                "its images found in the bucket"
                if images
                else f"expired — {found.error.message if found.error else ''}"
            )
            self._log(LogLevel.INFO if images else LogLevel.WARNING, f"Try of {saved.name}: {what}", actor_id, saved.id)
        return found.model_copy(deep=True)

    async def wait(self, actor_id: int, version_ref: str, trial_id: str, *, timeout_s: float | None = None) -> Trial:
        """Poll until the trial ends (or `timeout_s` passes: then it is returned as it is)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            trial = await self.check(actor_id, version_ref, trial_id)
            ended = trial.status.is_terminal or sent_elsewhere(trial, self.endpoint_label)
            if ended or (deadline is not None and loop.time() >= deadline):
                return trial
            await asyncio.sleep(self.poll_interval_s)

    def watch(self, actor_id: int, version_key: str, trial_id: str) -> asyncio.Task[Trial]:
        """Follow the trial in the background until it ends (one task per trial)."""
        existing = self._tasks.get(trial_id)
        if existing is not None and not existing.done():
            return existing

        async def follow() -> Trial:
            try:
                return await self.wait(actor_id, version_key, trial_id)
            except asyncio.CancelledError:
                raise
            except ActorTrainerError as exc:
                self._log(LogLevel.WARNING, f"Following a try: {exc.message}", actor_id, None)
                raise

        task = asyncio.get_running_loop().create_task(follow(), name=f"trial {trial_id}")
        self._tasks[trial_id] = task
        task.add_done_callback(lambda t: (self._tasks.pop(trial_id, None), t.cancelled() or t.exception()))
        return task

    async def cancel(self, actor_id: int, version_ref: str, trial_id: str) -> Trial:
        """RunPod's `/cancel` for the trial's job, its answer applied (as for training)."""
        version = await self._version(actor_id, version_ref)
        trial = _trial_in(version, trial_id)
        if trial.status.is_terminal:
            return trial
        if trial.id == trial.requestId:  # never reached the endpoint
            await self._cancel_unsent(actor_id, version.key, trial.id)
            return _trial_in(await self._version(actor_id, version.key), trial.id)
        self._log(LogLevel.REQUEST, f"POST /cancel/{trial.id} (try of {version.name})", actor_id, version.id)
        status = await self.client.cancel(trial.id)
        return await self.apply(actor_id, version.key, trial.id, status)

    async def _cancel_unsent(self, actor_id: int, version_key: str, trial_id: str) -> None:
        def change(v: TrainingVersion) -> None:
            t = _trial_in(v, trial_id)
            if can_transition(t.status, VersionStatus.CANCELLED):
                t.status = VersionStatus.CANCELLED

        saved, _ = await asyncio.to_thread(self.library.update_version, actor_id, version_key, change)
        self._changed(actor_id, saved)

    async def resume(self) -> int:
        """Follow every unfinished trial of the library that reached the endpoint (after a restart)."""
        refs = await asyncio.to_thread(trials_to_follow, self.library, sent_only=True)
        # `status` looks at expired ones again; another endpoint's tries wait until it is chosen again
        here = [r for r in refs if not sent_elsewhere(r.trial, self.endpoint_label)]
        refs = [r for r in here if r.trial.status is not VersionStatus.EXPIRED]
        for ref in refs:
            self.watch(ref.actor_id, ref.version_key, ref.trial.id)
        return len(refs)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- helpers -------------------------------------------------------------------------------

    async def _version(self, actor_id: int, version_ref: str) -> TrainingVersion:
        versions = await asyncio.to_thread(self.library.load_versions, actor_id)
        version = find_version(versions, parse_version_ref(version_ref)[0])
        if version is None:
            raise VersionNotFoundError(version_ref, actor_id)
        return version

    def _changed(self, actor_id: int, version: TrainingVersion) -> None:
        self.events.emit(VersionChanged(actor_id=actor_id, version=version))

    def _log(self, level: LogLevel, message: str, actor_id: int | None, version_id: str | None) -> None:
        message = redact(message)
        log.log(logging.WARNING if level in (LogLevel.WARNING, LogLevel.ERROR) else logging.INFO, "%s", message)
        self.events.log(level, message, actor_id=actor_id, version_id=version_id)
