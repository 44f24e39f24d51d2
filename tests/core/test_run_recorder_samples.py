"""The run recorder keeps contract v2 samples, checkpoints and the contract version (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actor_trainer.core.contract import JobStatus, checkpoint_failures_of
from actor_trainer.core.events import EventBus, LogEvent, VersionChanged
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingVersion, VersionStatus
from actor_trainer.core.run_recorder import RunRecorder, record_samples
from actor_trainer.core.storage.local import LocalStorage
from tests.library_factory import make_library


def sample(step: int, index: int) -> dict[str, Any]:
    return {
        "url": f"file:///b/step{step:06d}_p{index:02d}.png",
        "prompt": f"p{index}",
        "seed": 42,
        "step": step,
        "index": index,
    }


def progress(step: int, samples: list[dict[str, Any]], **extra: Any) -> JobStatus:
    return JobStatus(
        id="job-1",
        status="IN_PROGRESS",
        output={"phase": "sampling", "step": step, "total": 1000, "samples": samples, "contract_version": 2, **extra},
    )


def test_cumulative_samples_replace_but_never_shrink() -> None:
    v = TrainingVersion(id="job-1", name="V1", status=VersionStatus.IN_PROGRESS)
    assert record_samples(v, progress(500, [sample(500, 0), sample(500, 1)]))
    assert [(s.step, s.index) for s in v.samples or []] == [(500, 0), (500, 1)] and v.contractVersion == 2
    assert record_samples(v, progress(1000, [sample(500, 0), sample(500, 1), sample(1000, 0), sample(1000, 1)]))
    assert len(v.samples or []) == 4
    # A late, shorter payload (an older /status answer) takes nothing away; nothing changed.
    assert not record_samples(v, progress(500, [sample(500, 0)]))
    assert len(v.samples or []) == 4
    # A v1 payload says nothing about samples: nothing changes.
    assert not record_samples(v, JobStatus(id="job-1", status="IN_PROGRESS", output={"step": 600}))
    result = JobStatus(
        id="job-1",
        status="COMPLETED",
        output={
            "status": "success",
            "loraUrl": "file:///b/l.safetensors",
            "contract_version": 2,
            "samples": [sample(500, 0), sample(500, 1), sample(1000, 0), sample(1000, 1)],
            "checkpoints": [{"step": 1000, "url": "file:///b/l_1000"}, {"step": 500, "url": "file:///b/l_500"}],
        },
    )
    assert record_samples(v, result)
    assert [c.step for c in v.checkpoints or []] == [500, 1000]


@pytest.mark.asyncio
async def test_apply_status_stores_samples_and_announces_them(tmp_path: Path) -> None:
    library = Library(make_library(tmp_path / "lib", images={}))
    library.append_version(0, lambda name: TrainingVersion(id="req-1", requestId="req-1", name=name))
    events = EventBus()
    seen: list[TrainingVersion] = []
    lines: list[str] = []
    events.subscribe(lambda e: seen.append(e.version) if isinstance(e, VersionChanged) else None)
    events.subscribe(lambda e: lines.append(e.message) if isinstance(e, LogEvent) else None)
    recorder = RunRecorder(library=library, storage=LocalStorage(tmp_path / "bucket"), events=events)
    await recorder.apply_status(
        0, "req-1", JobStatus(id="job-1", status="IN_PROGRESS", output={"step": 1}), source="test"
    )
    saved = await recorder.apply_status(0, "job-1", progress(500, [sample(500, 0)]), source="test")
    assert saved.samples and saved.samples[0].url.endswith("step000500_p00.png")
    stored = library.load_versions(0)[0]
    assert stored.samples == saved.samples and stored.contractVersion == 2
    assert seen and seen[-1].samples == saved.samples
    assert "V1: 1 sample(s) at step 500." in lines
    # The same cumulative list again: nothing new to say.
    await recorder.apply_status(0, "job-1", progress(600, [sample(500, 0)]), source="test")
    assert lines.count("V1: 1 sample(s) at step 500.") == 1


def test_samples_uploaded_through_presigned_urls_are_recorded_at_the_apps_keys() -> None:
    model = "s3://studio-bucket/team/actors/0000/models/actor_0000_V2.safetensors"
    v = TrainingVersion(id="job-1", name="V2", status=VersionStatus.IN_PROGRESS, outputUrl=model)
    signed = (
        "https://studio-bucket.s3.eu-west-1.amazonaws.com/team/actors/0000/models/actor_0000_V2/samples/"
        "step000500_p01.png?X-Amz-Signature=abc"
    )
    assert record_samples(
        v,
        JobStatus(
            id="job-1",
            status="IN_PROGRESS",
            output={
                "contract_version": 2,
                "samples": [{"url": signed, "prompt": "p", "seed": 1, "step": 500, "index": 1}],
            },
        ),
    )
    assert v.samples is not None and [s.url for s in v.samples] == [
        "s3://studio-bucket/team/actors/0000/models/actor_0000_V2/samples/step000500_p01.png"
    ]
    assert "Signature" not in v.model_dump_json()


def test_checkpoints_are_recorded_from_progress_as_they_land() -> None:
    """A v2 worker lists each kept checkpoint in its progress as soon as it is uploaded (cumulative);
    a presigned upload's https address is recorded at the key the app chose (sample_keys.checkpoint_key)."""
    model = "s3://studio-bucket/team/actors/0000/models/actor_0000_V2.safetensors"
    v = TrainingVersion(id="job-1", name="V2", status=VersionStatus.IN_PROGRESS, outputUrl=model)
    https = (
        "https://studio-bucket.s3.eu-west-1.amazonaws.com/team/actors/0000/models/actor_0000_V2_step000020.safetensors"
    )
    first = progress(25, [], checkpoints=[{"step": 20, "url": https}])
    assert record_samples(v, first)
    assert [(c.step, c.url) for c in v.checkpoints or []] == [
        (20, "s3://studio-bucket/team/actors/0000/models/actor_0000_V2_step000020.safetensors")
    ]
    later = progress(45, [], checkpoints=[{"step": 20, "url": https}, {"step": 40, "url": https.replace("20.", "40.")}])
    assert record_samples(v, later)
    assert [c.step for c in v.checkpoints or []] == [20, 40]
    assert v.checkpoints is not None and v.checkpoints[1].url.endswith("actor_0000_V2_step000040.safetensors")
    # an older, shorter payload takes nothing away
    assert not record_samples(v, first) and [c.step for c in v.checkpoints or []] == [20, 40]


def test_checkpoint_failures_are_read_leniently() -> None:
    payload = {
        "checkpoint_failures": [
            {"step": 40, "error": "Could not upload x to s3://b/k: NoSuchBucket"},
            {"step": "20"},
            {"step": 0, "error": "bad step"},
            "not an entry",
        ]
    }
    assert checkpoint_failures_of(payload) == [
        (20, "no reason given"),
        (40, "Could not upload x to s3://b/k: NoSuchBucket"),
    ]
    assert checkpoint_failures_of({"checkpoint_failures": "text"}) == [] and checkpoint_failures_of(None) == []


@pytest.mark.asyncio
async def test_a_completed_run_says_which_checkpoints_were_not_uploaded(tmp_path: Path) -> None:
    library = Library(make_library(tmp_path / "lib", images={}))
    library.append_version(0, lambda name: TrainingVersion(id="req-1", requestId="req-1", name=name))
    events = EventBus()
    lines: list[str] = []
    events.subscribe(lambda e: lines.append(e.message) if isinstance(e, LogEvent) else None)
    recorder = RunRecorder(library=library, storage=LocalStorage(tmp_path / "bucket"), events=events)
    await recorder.apply_status(
        0, "req-1", JobStatus(id="job-1", status="IN_PROGRESS", output={"step": 1}), source="test"
    )
    failures = [{"step": 20, "error": "Could not upload step 20: NoSuchBucket"}]
    await recorder.apply_status(
        0,
        "job-1",
        progress(45, [], checkpoints=[{"step": 40, "url": "file:///b/c40"}], checkpoint_failures=failures),
        source="test",
    )
    assert not any("not uploaded" in line for line in lines)  # said once, when the run completes
    result = JobStatus(
        id="job-1",
        status="COMPLETED",
        output={
            "status": "success",
            "loraUrl": "file:///b/l.safetensors",
            "contract_version": 2,
            "checkpoints": [{"step": 40, "url": "file:///b/c40"}],
            "checkpoint_failures": failures,
        },
    )
    saved = await recorder.apply_status(0, "job-1", result, source="test")
    assert saved.status is VersionStatus.COMPLETED and [c.step for c in saved.checkpoints or []] == [40]
    # Kept with the version (Compare says "Checkpoint upload failed" with the reason), read back from disk.
    assert saved.checkpointFailures == {20: "Could not upload step 20: NoSuchBucket"}
    assert library.get_version(0, "job-1").checkpointFailures == {20: "Could not upload step 20: NoSuchBucket"}
    warned = [line for line in lines if "not uploaded" in line]
    assert warned == [
        "V1: the checkpoint at step 20 was not uploaded (Could not upload step 20: NoSuchBucket); "
        "it cannot be marked good."
    ]


def test_a_checkpoint_uploaded_after_all_is_no_longer_a_failure() -> None:
    v = TrainingVersion(id="job-1", name="V1", status=VersionStatus.IN_PROGRESS)
    failed = [{"step": 20, "error": "timeout"}, {"step": 40, "error": "NoSuchBucket"}]
    assert record_samples(v, progress(45, [], checkpoint_failures=failed))
    assert v.checkpointFailures == {20: "timeout", 40: "NoSuchBucket"}
    assert not record_samples(v, progress(46, [], checkpoint_failures=failed))  # nothing new
    # A later payload lists step 20 as uploaded (and, cumulative, no longer as failed).
    assert record_samples(
        v, progress(60, [], checkpoints=[{"step": 20, "url": "file:///b/c20"}], checkpoint_failures=failed[1:])
    )
    assert v.checkpointFailures == {40: "NoSuchBucket"} and [c.step for c in v.checkpoints or []] == [20]
    assert TrainingVersion.model_validate(v.to_json()).checkpointFailures == {40: "NoSuchBucket"}  # JSON keys are text
    assert "checkpointFailures" not in TrainingVersion(id="job-2", name="V2").to_json()  # old files stay as they were
