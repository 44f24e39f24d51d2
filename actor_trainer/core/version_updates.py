"""How one answer from RunPod (or the bucket) changes a version: pure functions, no I/O.

The orchestrator runs them inside the library's read-modify-write, so the rules live here once:
states only move forward, progress only when its step is newer, a job id is adopted only by a
version that has none, and COMPLETED counts as success only with a usable LoRA URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from actor_trainer.core.contract import JobStatus, ProgressPayload
from actor_trainer.core.models import (
    JobState,
    Progress,
    TrainingVersion,
    VersionError,
    VersionStatus,
    can_transition,
    utc_now,
)


@dataclass
class StatusOutcome:
    """What `apply_job_status` did, for the caller's events and log lines."""

    mismatch: str | None = None  # the version's own job id, when the status was for another job
    moved: tuple[VersionStatus, VersionStatus] | None = None
    progress: bool = False


def apply_job_status(v: TrainingVersion, status: JobStatus, outcome: StatusOutcome) -> None:
    """Apply one status object to `v` in place (see the module docstring for the rules)."""
    if v.job_id is None:
        v.id = status.id
    elif v.id != status.id:
        outcome.mismatch = v.id
        return
    if v.status.is_terminal and v.status is not VersionStatus.EXPIRED:
        return  # final: later answers (a late progress, a duplicate) change nothing
    v.runpodStatus = status.status.value
    v.lastCheckedAt = utc_now()
    before = v.status
    if status.status is JobState.COMPLETED:
        _apply_completed(v, status)
    elif status.status is JobState.FAILED:
        err = status.job_error()
        v.error = VersionError(message=err.message, details=err.details)
        v.move_to(VersionStatus.FAILED)
    elif status.status is JobState.TIMED_OUT:
        v.error = VersionError(
            message="RunPod stopped the job at its execution timeout.",
            details={"hint": "Train again; if it keeps timing out, lower the steps or check the worker."},
        )
        v.move_to(VersionStatus.TIMED_OUT)
    elif status.status is JobState.CANCELLED:
        v.move_to(VersionStatus.CANCELLED)
    else:
        target = status.status.to_version_status()
        if can_transition(v.status, target):
            v.move_to(target)
        outcome.progress = _apply_progress(v, status)
    if v.status is not before:
        outcome.moved = (before, v.status)


def _apply_progress(v: TrainingVersion, status: JobStatus) -> bool:
    progress = status.progress()
    if isinstance(progress, ProgressPayload):
        old_step = v.progress.step if v.progress else None
        if progress.step is None or old_step is None or progress.step > old_step:
            v.progress = Progress(
                phase=progress.phase,
                step=progress.step,
                total=progress.total,
                loss=progress.loss,
                message=progress.message,
                updatedAt=utc_now(),
            )
            return True
    elif isinstance(progress, str):  # a third-party worker's plain text: shown, never an error
        v.progress = Progress(message=progress[:500], updatedAt=utc_now())
        return True
    return False


def _apply_completed(v: TrainingVersion, status: JobStatus) -> None:
    """COMPLETED is a success only with an output that has a LoRA URL and does not say it failed."""
    result = status.result()
    v.output = status.output
    if status.output is None:
        v.error = VersionError(
            message="RunPod reported COMPLETED but the job has no output (the worker's result was too "
            "large or malformed).",
            details={"hint": "Check the worker's logs; the LoRA may still be in the bucket."},
        )
        v.move_to(VersionStatus.FAILED)
    elif result is None:
        v.error = VersionError(
            message="RunPod reported COMPLETED with an output this app cannot read.", details={"output": status.output}
        )
        v.move_to(VersionStatus.FAILED)
    elif result.says_failed():
        v.error = VersionError(message=result.failure_message(), details=status.output)
        v.move_to(VersionStatus.FAILED)
    elif not result.lora_url():
        v.error = VersionError(
            message="RunPod reported COMPLETED but the output has no LoRA URL.", details=status.output
        )
        v.move_to(VersionStatus.FAILED)
    else:
        v.loraUrl = result.lora_url()
        v.move_to(VersionStatus.COMPLETED)


def mark_recovered_or_expired(v: TrainingVersion, output_url: str | None, found: bool) -> None:
    """RunPod forgot the job: the LoRA at `output_url` completes it; without one it expired."""
    v.lastCheckedAt = utc_now()
    if found:
        v.loraUrl = output_url
        v.output = {"recovered_from": "bucket", "loraUrl": output_url}
        v.error = None
        v.move_to(VersionStatus.COMPLETED)
    elif can_transition(v.status, VersionStatus.EXPIRED) and v.status is not VersionStatus.EXPIRED:
        v.error = VersionError(
            message="RunPod no longer knows this job (it keeps results for 30 minutes) and no LoRA "
            f"was found at {output_url}.",
            details={"hint": "If the worker ran, check its logs and the bucket; otherwise train again."},
        )
        v.move_to(VersionStatus.EXPIRED)
