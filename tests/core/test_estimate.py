"""The run estimate (core/estimate.py): defaults per GPU class, learning by resolution and batch,
the nearest group scaled, queue and cold start, prices from the settings table, and the error
of past estimates; the sandbox's timing formula (sandbox/timing.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.estimate import (
    DEFAULT_DELAY_S,
    DEFAULT_OVERHEAD_S,
    Estimate,
    accuracy,
    estimate_for,
    estimate_run,
    format_duration,
    load_history,
)
from actor_trainer.core.library import Library
from actor_trainer.core.models import RunEstimate, TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.run_recorder import record_timings
from actor_trainer.core.settings import GPU_CLASSES, Settings, gpu_table, resolve_config
from actor_trainer.sandbox.timing import resolution_of, simulated_seconds

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(
    n: int,
    *,
    steps: int,
    seconds: float,
    resolution: int = 512,
    batch: int = 1,
    delay_s: float = 10.0,
    endpoint: str = "ep1",
    estimate_s: float | None = None,
) -> TrainingVersion:
    return TrainingVersion(
        id=f"job-{n}", name=f"V{n + 1}", status=VersionStatus.COMPLETED, endpoint=endpoint,
        parameters=TrainingParameters(max_train_steps=steps, resolution=resolution, batch_size=batch),
        executionTime=seconds * 1000, delayTime=delay_s * 1000, completedAt=T0 + timedelta(minutes=n),
        estimate=None if estimate_s is None else RunEstimate(seconds=estimate_s, executionSeconds=estimate_s,
                                                              delaySeconds=0),
    )  # fmt: skip


def test_default_per_gpu_class_before_any_history() -> None:
    params = TrainingParameters(max_train_steps=2000, resolution=512, batch_size=1)
    est = estimate_run(params, [], gpu="AMPERE_24")
    a5000 = GPU_CLASSES["AMPERE_24"]
    assert est.execution_s == pytest.approx(DEFAULT_OVERHEAD_S + 2000 * a5000.seconds_per_step)
    assert est.delay_s == DEFAULT_DELAY_S
    assert est.cost == pytest.approx(est.seconds * a5000.usd_per_second)
    assert est.runs == 0
    assert est.basis.startswith("default for A5000 / L4 / 3090 24 GB, no history yet")
    # 1024 px costs four times the pixels per step, batch 2 twice the images.
    bigger = estimate_run(TrainingParameters(max_train_steps=2000, resolution=1024, batch_size=2), [], gpu="AMPERE_24")
    assert bigger.execution_s - DEFAULT_OVERHEAD_S == pytest.approx(8 * (est.execution_s - DEFAULT_OVERHEAD_S))


def test_learns_seconds_per_step_from_the_group_and_the_delay_from_history() -> None:
    history = [
        run(3, steps=1000, seconds=1100, resolution=1024, delay_s=30),
        run(2, steps=2000, seconds=2000, resolution=1024, delay_s=50),
        run(1, steps=500, seconds=600, resolution=1024, delay_s=40),
        run(0, steps=1000, seconds=100, resolution=512, delay_s=20),  # another group: not used for the rate
    ]
    params = TrainingParameters(max_train_steps=1500, resolution=1024, batch_size=1)
    est = estimate_run(params, history, gpu="AMPERE_80")
    assert est.execution_s == pytest.approx(1500 * 1.1)  # median of 1.1, 1.0, 1.2 s per step
    assert est.delay_s == pytest.approx(35)  # median of 30, 50, 40, 20
    assert est.runs == 3
    assert est.basis.startswith("from 3 runs on this endpoint at 1024 px, batch 1; queue and cold start from 4 runs")
    assert est.cost == pytest.approx((1500 * 1.1 + 35) * GPU_CLASSES["AMPERE_80"].usd_per_second)


def test_nearest_group_is_scaled_by_pixels_and_batch() -> None:
    history = [run(1, steps=1000, seconds=1000, resolution=512), run(2, steps=1000, seconds=4400, resolution=1024)]
    est = estimate_run(TrainingParameters(max_train_steps=1000, resolution=768, batch_size=2), history, gpu="AMPERE_24")
    # 768 is nearer 1024 (log scale): 4.4 s/step × (768/1024)² × 2
    assert est.execution_s == pytest.approx(1000 * 4.4 * (768 / 1024) ** 2 * 2)
    assert "from 1 run on this endpoint at 1024 px, batch 1, scaled to 768 px, batch 2" in est.basis


def test_failed_runs_and_runs_without_timings_teach_nothing() -> None:
    failed = run(1, steps=1000, seconds=10)
    failed.status = VersionStatus.FAILED
    untimed = run(2, steps=1000, seconds=10)
    untimed.executionTime = None
    est = estimate_run(TrainingParameters(), [failed, untimed], gpu="AMPERE_24")
    assert est.runs == 0 and "no history yet" in est.basis


def test_summary_and_durations() -> None:
    est = Estimate(execution_s=38 * 60 - 60, delay_s=60, cost=1.9, gpu="AMPERE_80", basis="x", runs=7)
    assert est.summary() == "≈ 38 min on the endpoint, ≈ $1.90"
    assert Estimate(execution_s=5, delay_s=1, cost=0.001, gpu=None, basis="", runs=1).summary() == (
        "≈ 6 s on the endpoint, under $0.01"
    )
    assert format_duration(45) == "45 s"
    assert format_duration(3 * 3600 + 12 * 60) == "3 h 12 min"
    record = est.to_record()
    assert record.seconds == 38 * 60 and record.cost == 1.9 and record.gpu == "AMPERE_80"


def test_accuracy_over_the_last_runs() -> None:
    history = [
        run(i, steps=100, seconds=100, delay_s=0, estimate_s=100 * (1 + err))
        for i, err in enumerate([0.05, -0.12, 0.08, 0.5])
    ]
    history.sort(key=lambda v: v.number, reverse=True)  # newest first
    assert accuracy([run(9, steps=100, seconds=100)]) is None  # no estimate recorded
    all_four = accuracy(history)
    assert all_four is not None and all_four.runs == 4 and all_four.text() == "last 4 runs: within ±50 %"
    last_three = accuracy(history, last=3)
    assert last_three is not None and last_three.text() == "last 3 runs: within ±50 %"
    no_outlier = accuracy([v for v in history if v.name != "V4"])  # the 50 % one
    assert no_outlier is not None and no_outlier.text() == "last 3 runs: within ±12 %"


def test_history_is_this_endpoints_across_actors(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "actor_training_versions").mkdir(parents=True)
    (root / "actors.json").write_text(json.dumps([{"id": 0, "name": "A"}, {"id": 1, "name": "B"}]), "utf-8")
    for actor_id, versions in (
        (0, [run(1, steps=100, seconds=50)]),
        (1, [run(2, steps=100, seconds=70), run(1, steps=100, seconds=60, endpoint="other")]),
    ):
        (root / "actor_training_versions" / f"{actor_id:04d}.json").write_text(
            json.dumps({"versions": [v.to_json() for v in versions]}), "utf-8"
        )
    (root / "actor_training_versions" / "0002.json").write_text("{broken", "utf-8")  # skipped, never fatal
    naive = run(3, steps=100, seconds=80).to_json()
    naive["completedAt"] = "2025-06-01T10:00:00"  # another tool's time without a zone: sorted, never a crash
    (root / "actor_training_versions" / "0003.json").write_text(json.dumps({"versions": [naive]}), "utf-8")
    lib = Library(root)
    assert [v.id for v in load_history(lib, "ep1")] == ["job-2", "job-1", "job-3"]
    report = estimate_for(lib, "ep1", TrainingParameters(max_train_steps=200), gpu="AMPERE_24")
    assert report.estimate.execution_s == pytest.approx(200 * 0.7)  # median of 0.5, 0.7, 0.8 s per step
    assert report.lines()[0].startswith("≈ ")


def test_record_timings_from_status_answers() -> None:
    v = TrainingVersion(id="job-1", name="V1", status=VersionStatus.IN_PROGRESS)
    record_timings(v, JobStatus.model_validate({"id": "job-1", "status": "IN_PROGRESS", "delayTime": 1500}))
    assert v.delayTime == 1500 and v.executionTime is None
    record_timings(
        v, JobStatus.model_validate({"id": "job-1", "status": "COMPLETED", "delayTime": 1500, "executionTime": 61000})
    )
    v.status = VersionStatus.COMPLETED
    assert v.actual_seconds == pytest.approx(62.5)
    # A late progress answer after the end changes nothing.
    record_timings(v, JobStatus.model_validate({"id": "job-1", "status": "IN_PROGRESS", "executionTime": 5}))
    assert v.executionTime == 61000


def test_gpu_prices_are_a_dated_editable_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = gpu_table({"AMPERE_24": 0.0002, "NOT_A_GPU": 1.0})
    assert table["AMPERE_24"].usd_per_second == 0.0002 and "NOT_A_GPU" not in table
    assert {"AMPERE_16", "AMPERE_24", "AMPERE_48", "ADA_48_PRO", "AMPERE_80", "ADA_80_PRO"} <= set(table)
    settings = Settings(gpu_class="AMPERE_80", gpu_prices={"AMPERE_80": 0.0008}, gpu_prices_as_of="2027-01-01")
    settings.save(tmp_path)
    loaded = Settings.load(tmp_path)
    assert loaded.gpu_prices == {"AMPERE_80": 0.0008} and loaded.gpu_class == "AMPERE_80"
    monkeypatch.delenv("ACTOR_TRAINER_GPU_CLASS", raising=False)
    monkeypatch.setenv("ACTOR_TRAINER_SANDBOX_TIMING", "scaled")
    config = resolve_config(loaded, data_dir=tmp_path / "lib")
    assert config.gpu_class == "AMPERE_80" and config.gpu_prices_as_of == "2027-01-01"
    assert config.sandbox_timing == "scaled"
    monkeypatch.setenv("ACTOR_TRAINER_GPU_CLASS", "ADA_80_PRO")
    assert resolve_config(loaded, data_dir=tmp_path / "lib").gpu_class == "ADA_80_PRO"


def test_sandbox_timing_scales_with_steps_resolution_and_batch() -> None:
    assert simulated_seconds(20, steps=500, resolution=1024, batch_size=2, timing="fixed") == 20
    assert simulated_seconds(20, steps=2000, resolution=512, batch_size=1, timing="scaled") == 20
    assert simulated_seconds(20, steps=500, resolution=1024, batch_size=2, timing="scaled") == pytest.approx(40)
    workflow = {
        "109": {"class_type": "TrainDatasetAdd", "inputs": {"width": 768, "height": 640}},
        "1": {"class_type": "Other", "inputs": {}},
    }
    assert resolution_of(workflow) == 768
    assert resolution_of({}) == 512


def test_sampling_is_not_counted_twice_when_learnt_from_runs_that_sampled() -> None:
    from actor_trainer.core.models import Sample, SampleSettings

    params = TrainingParameters(max_train_steps=1000, sampling=SampleSettings(every=500))
    plain = run(1, steps=1000, seconds=1000)
    sampling = run(2, steps=1000, seconds=1200)
    sampling.samples = [Sample.model_validate(s) for s in _sample_payloads()]
    # Runs that sampled: their executionTime already holds the sampling.
    learnt = estimate_run(params, [sampling], gpu="AMPERE_24", samples=True)
    assert learnt.execution_s == pytest.approx(1200) and "sampling" not in learnt.basis
    # Runs that did not: the sampling is added.
    added = estimate_run(params, [plain], gpu="AMPERE_24", samples=True)
    assert added.execution_s > 1000 and "sampling" in added.basis


def _sample_payloads() -> list[dict[str, object]]:
    return [{"step": 500, "prompt": "a portrait", "url": "s3://b/s.png", "seed": 1, "index": 0}]
