"""The rules for applying RunPod's answers to a version, as pure functions."""

from __future__ import annotations

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.models import JobState, TrainingVersion, VersionStatus
from actor_trainer.core.version_updates import StatusOutcome, apply_job_status, mark_recovered_or_expired


def pending() -> TrainingVersion:
    return TrainingVersion(id="req-1", requestId="req-1", name="V1")


def apply(v: TrainingVersion, **status: object) -> StatusOutcome:
    outcome = StatusOutcome()
    apply_job_status(v, JobStatus.model_validate({"id": "job-1-e1", **status}), outcome)
    return outcome


def test_the_first_answer_adopts_the_job_id_exactly() -> None:
    v = pending()
    outcome = apply(v, status="IN_QUEUE")
    assert v.id == "job-1-e1" and v.job_id == "job-1-e1" and v.status is VersionStatus.QUEUED
    assert outcome.moved == (VersionStatus.PENDING, VersionStatus.QUEUED)


def test_an_answer_for_another_job_changes_nothing() -> None:
    v = pending()
    apply(v, status="IN_QUEUE")
    outcome = StatusOutcome()
    apply_job_status(v, JobStatus(id="job-2-e1", status=JobState.COMPLETED, output={"loraUrl": "s3://x"}), outcome)
    assert outcome.mismatch == "job-1-e1" and v.status is VersionStatus.QUEUED and v.loraUrl is None


def test_progress_only_moves_forward_and_text_progress_is_kept() -> None:
    v = pending()
    assert apply(v, status="IN_PROGRESS", output={"phase": "training", "step": 300, "total": 2000}).progress
    assert not apply(v, status="IN_PROGRESS", output={"phase": "training", "step": 120, "total": 2000}).progress
    assert v.progress is not None and v.progress.step == 300
    assert apply(v, status="IN_PROGRESS", output="warming up the GPU").progress
    assert v.progress is not None and v.progress.message == "warming up the GPU"


def test_a_late_in_progress_never_reopens_a_completed_version() -> None:
    v = pending()
    apply(v, status="COMPLETED", output={"status": "success", "loraUrl": "s3://b/l.safetensors"})
    outcome = apply(v, status="IN_PROGRESS", output={"step": 5, "total": 10})
    assert v.status is VersionStatus.COMPLETED and outcome.moved is None and not outcome.progress


def test_completed_needs_a_lora_url_and_an_output_that_does_not_say_failed() -> None:
    for output, words in (
        (None, "no output"),
        ({"status": "success"}, "no LoRA URL"),
        ({"status": "failed", "message": "NaN loss at step 12"}, "NaN loss at step 12"),
    ):
        v = pending()
        apply(v, status="COMPLETED", output=output)
        assert v.status is VersionStatus.FAILED and v.error is not None and words in v.error.message


def test_alternative_lora_keys_from_workers_in_the_wild() -> None:
    v = pending()
    apply(v, status="COMPLETED", output={"s3_url": "s3://b/a.safetensors"})
    assert v.status is VersionStatus.COMPLETED and v.loraUrl == "s3://b/a.safetensors"
    w = pending()
    apply(w, status="COMPLETED", output={"model_info": {"download_url": "https://cdn/b.safetensors"}})
    assert w.loraUrl == "https://cdn/b.safetensors"


def test_failed_json_error_message_is_parsed_and_details_kept() -> None:
    v = pending()
    apply(v, status="FAILED", error='{"error_type": "ValueError", "error_message": "bad rank", "error_traceback": "T"}')
    assert v.status is VersionStatus.FAILED and v.error is not None
    assert v.error.message == "ValueError: bad rank" and v.error.details["error_traceback"] == "T"


def test_expired_then_the_lora_turns_up_in_the_bucket() -> None:
    v = pending()
    apply(v, status="IN_PROGRESS")
    mark_recovered_or_expired(v, "s3://b/actor_0000_V1.safetensors", found=False)
    assert v.status is VersionStatus.EXPIRED and "30 minutes" in (v.error.message if v.error else "")
    mark_recovered_or_expired(v, "s3://b/actor_0000_V1.safetensors", found=True)
    assert v.status is VersionStatus.COMPLETED and v.loraUrl == "s3://b/actor_0000_V1.safetensors" and v.error is None


def test_status_answers_from_other_emulators_are_read_leniently() -> None:
    """Float timings, numeric worker ids and lower-case states are informational, not errors."""
    status = JobStatus.model_validate(
        {
            "id": "j-1",
            "status": "completed",
            "delayTime": 12.5,
            "executionTime": 3000.25,
            "workerId": 7,
            "output": {"loraUrl": "s3://b/l.safetensors"},
        }
    )
    v = pending()
    apply_job_status(v, status, StatusOutcome())
    assert v.status is VersionStatus.COMPLETED and v.id == "j-1"
