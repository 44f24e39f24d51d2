"""RunPodClient against the sandbox endpoint (and two tiny misbehaving servers), over real HTTP."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from actor_trainer.core.models import JobState
from actor_trainer.core.runpod_client import EndpointCondition, EndpointHealth, RunPodClient, endpoint_base_url
from actor_trainer.core.runpod_errors import (
    RunPodNotFoundError,
    RunPodRateLimitedError,
    RunPodRequestError,
    RunPodServerError,
    RunPodUnauthorizedError,
    SubmissionUncertainError,
)
from actor_trainer.sandbox.faults import Faults
from actor_trainer.sandbox.jobs import ProgressReporter
from actor_trainer.sandbox.server import SandboxEndpoint
from tests.fixtures import sandbox as sandbox_fixtures
from tests.fixtures.sandbox import (
    SANDBOX_API_KEY,
    fast_client,
    make_fast_worker,
    wait_for_state,
    wait_until,
)
from tests.waits import WAIT_S, tasks_named

# The shared fixtures, bound under their fixture names (an assignment, so ruff's F811 stays quiet).
sandbox = sandbox_fixtures.sandbox
sandbox_client = sandbox_fixtures.sandbox_client

BODY = {
    "input": {
        "training_config": {
            "model_name": "actor_0007_V2",
            "max_train_steps": 200,
            "output_url": "s3://b/actors/0007/models/actor_0007_V2.safetensors",
        }
    },
    "policy": {"executionTimeout": 60_000, "ttl": 600_000},
}
TERMINAL = [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT]


def test_endpoint_base_url() -> None:
    assert endpoint_base_url("https://api.runpod.ai", "abc123") == "https://api.runpod.ai/v2/abc123"
    assert endpoint_base_url("https://api.runpod.ai/v2/", "abc123") == "https://api.runpod.ai/v2/abc123"


# --- routes ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_run_then_status_shows_progress_then_the_final_output(sandbox_client: RunPodClient) -> None:
    submitted = await sandbox_client.run(BODY)
    assert submitted.status is JobState.IN_QUEUE
    assert submitted.id.endswith("-e1") and len(submitted.id) == 36 + 3

    steps: list[int] = []
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        assert asyncio.get_running_loop().time() < deadline, "the job never ended"
        status = await sandbox_client.status(submitted.id)
        assert status.id == submitted.id
        if status.status.is_terminal:
            break
        progress = status.progress()
        if status.status is JobState.IN_PROGRESS and progress is not None and not isinstance(progress, str):
            assert progress.total == 200
            steps.append(progress.step or 0)
        await asyncio.sleep(0.03)  # the sampling rate of the progress, not a wait for something

    assert status.status is JobState.COMPLETED
    assert len(steps) >= 3 and steps == sorted(steps) and steps[-1] > steps[0]
    assert status.progress() is None
    result = status.result()
    assert result is not None and not result.says_failed()
    assert result.lora_url() == "s3://b/actors/0007/models/actor_0007_V2.safetensors"
    assert status.executionTime is not None and status.executionTime >= 300
    assert status.workerId and status.model_extra and status.model_extra["sandbox"] is True


@pytest.mark.asyncio
async def test_cancel_a_queued_job(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    sandbox.faults.stuck_in_queue = True
    job = await sandbox_client.run(BODY)
    assert (await sandbox_client.status(job.id)).status is JobState.IN_QUEUE
    cancelled = await sandbox_client.cancel(job.id)
    assert cancelled.status is JobState.CANCELLED
    sandbox.faults.stuck_in_queue = False
    # The job's task leaves the queue without ever taking a worker: once it is over, nothing can start.
    await wait_until(lambda: not tasks_named(f"sandbox-job-{job.id}"))
    after = await sandbox_client.status(job.id)
    assert after.status is JobState.CANCELLED and after.workerId is None


@pytest.mark.asyncio
async def test_cancel_a_running_job_stops_the_worker(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    inner = make_fast_worker(duration_s=2.0)
    returned: list[dict[str, Any]] = []

    async def recording_worker(job_input: dict[str, Any], report: ProgressReporter, cancelled: asyncio.Event) -> Any:
        output = await inner(job_input, report, cancelled)
        returned.append(output)
        return output

    sandbox.worker = recording_worker
    job = await sandbox_client.run(BODY)
    await wait_for_state(sandbox_client, job.id, [JobState.IN_PROGRESS])
    cancelled = await sandbox_client.cancel(job.id)
    assert cancelled.status is JobState.CANCELLED
    reports = sandbox.jobs[job.id].progress_reports
    # The worker saw the cancel and returned early (its 2 s run would have returned "success").
    await wait_until(lambda: bool(returned))
    assert returned == [{"status": "cancelled", "simulation": True}]
    assert not tasks_named(f"sandbox-worker-{job.id}")
    final = await sandbox_client.status(job.id)
    assert final.status is JobState.CANCELLED and final.result() is None
    assert sandbox.jobs[job.id].progress_reports == reports  # the worker really stopped
    # Cancel is idempotent: a second cancel answers the same terminal state.
    assert (await sandbox_client.cancel(job.id)).status is JobState.CANCELLED


@pytest.mark.asyncio
async def test_retry_a_failed_job_requeues_the_same_id(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    sandbox.faults.fail_with = {"error_type": "RuntimeError", "error_message": "CUDA out of memory"}
    job = await sandbox_client.run(BODY)
    failed = await wait_for_state(sandbox_client, job.id, TERMINAL)
    assert failed.status is JobState.FAILED

    with pytest.raises(RunPodRequestError) as completed_retry:
        # Only FAILED / TIMED_OUT can be retried: a queued job is refused with a 400.
        sandbox.faults.stuck_in_queue = True
        other = await sandbox_client.run(BODY)
        await sandbox_client.retry(other.id)
    assert completed_retry.value.status_code == 400
    sandbox.faults.stuck_in_queue = False

    sandbox.faults.fail_with = None
    retried = await sandbox_client.retry(job.id)
    assert retried.id == job.id and retried.status is JobState.IN_QUEUE
    done = await wait_for_state(sandbox_client, job.id, TERMINAL)
    assert done.status is JobState.COMPLETED and done.retries == 1 and done.error is None
    assert done.result() is not None
    health = await sandbox_client.health()
    assert health.jobs.retried == 1 and health.jobs.failed == 1


@pytest.mark.asyncio
async def test_health_tells_waiting_for_gpu_from_starting_and_working(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient
) -> None:
    idle = await sandbox_client.health()
    assert idle.sandbox and idle.condition() is EndpointCondition.IDLE
    assert idle.summary().startswith("Sandbox (simulation)")

    sandbox.faults.stuck_in_queue = True
    job = await sandbox_client.run(BODY)
    stuck = await sandbox_client.health()
    assert stuck.jobs.inQueue == 1 and stuck.workers.throttled > 0
    assert stuck.condition() is EndpointCondition.WAITING_FOR_GPU
    assert "Waiting for a GPU" in stuck.summary()

    sandbox.faults.stuck_in_queue = False
    sandbox.faults.queue_delay_s = 0.3
    starting = await sandbox_client.health()
    assert starting.condition() is EndpointCondition.STARTING and starting.workers.initializing == 1

    await wait_for_state(sandbox_client, job.id, [JobState.IN_PROGRESS])
    working = await sandbox_client.health()
    assert working.condition() is EndpointCondition.WORKING and working.jobs.inProgress == 1


def test_health_summary_recognises_a_broken_endpoint() -> None:
    broken = EndpointHealth.model_validate(
        {"jobs": {"inQueue": 3}, "workers": {"unhealthy": 2, "idle": 0, "running": 0}}
    )
    assert broken.condition() is EndpointCondition.BROKEN
    assert "Broken endpoint" in broken.summary() and "logs" in broken.summary()
    ignored = EndpointHealth.model_validate({"jobs": {"inQueue": 2}, "workers": {"idle": 2}})
    assert ignored.condition() is EndpointCondition.BROKEN
    cold = EndpointHealth.model_validate({"jobs": {"inQueue": 1}, "workers": {}})
    assert cold.condition() is EndpointCondition.WAITING_FOR_GPU and "scaled to zero" in cold.summary()


# --- faults and errors ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_429s_on_status_are_retried_then_succeed(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    job = await sandbox_client.run(BODY)
    sandbox.faults.rate_limit_next = 2
    status = await sandbox_client.status(job.id)
    assert status.id == job.id
    codes = [r.status for r in sandbox.requests if r.route == "status"]
    assert codes == [429, 429, 200]


@pytest.mark.asyncio
async def test_429_on_run_is_retried_and_creates_one_job(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient
) -> None:
    sandbox.faults.rate_limit_next = 2
    job = await sandbox_client.run(BODY)
    assert [r.status for r in sandbox.requests if r.route == "run"] == [429, 429, 200]
    assert list(sandbox.jobs) == [job.id]


@pytest.mark.asyncio
async def test_429_that_never_stops_raises_rate_limited(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    sandbox.faults.rate_limit_next = 100
    with pytest.raises(RunPodRateLimitedError) as err:
        await sandbox_client.health()
    assert err.value.retry_after == pytest.approx(0.05)
    assert sandbox.request_count("health") == sandbox_client.max_attempts


@pytest.mark.asyncio
async def test_retry_after_is_honoured(sandbox: SandboxEndpoint) -> None:
    sandbox.faults.rate_limit_retry_after_s = 0.3
    sandbox.faults.rate_limit_next = 1
    async with fast_client(sandbox, backoff_base=0.001) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.health()
        assert loop.time() - started >= 0.29  # waited as asked, not the 1 ms backoff
        # A wait longer than backoff_max is not slept through: the caller gets it to schedule.
        sandbox.faults.rate_limit_retry_after_s = 120
        sandbox.faults.rate_limit_next = 1
        with pytest.raises(RunPodRateLimitedError) as err:
            await client.health()
    assert err.value.retry_after == 120 and sandbox.request_count("health") == 3


@pytest.mark.asyncio
async def test_500_on_status_is_retried(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    job = await sandbox_client.run(BODY)
    sandbox.faults.server_error_next = 2
    assert (await sandbox_client.status(job.id)).id == job.id
    assert [r.status for r in sandbox.requests if r.route == "status"] == [500, 500, 200]
    sandbox.faults.server_error_next = 100
    with pytest.raises(RunPodServerError) as err:
        await sandbox_client.status(job.id)
    assert err.value.status_code == 500


@pytest.mark.asyncio
async def test_500_on_run_is_uncertain_and_never_retried(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient
) -> None:
    sandbox.faults.server_error_next = 1
    with pytest.raises(SubmissionUncertainError) as err:
        await sandbox_client.run(BODY)
    assert sandbox.request_count("run") == 1
    assert err.value.status_code == 500 and "resubmit" in err.value.hint


@pytest.mark.asyncio
async def test_bad_key_is_unauthorized(sandbox: SandboxEndpoint) -> None:
    async with fast_client(sandbox, api_key="wrong-key") as client:
        with pytest.raises(RunPodUnauthorizedError) as err:
            await client.health()
    assert err.value.status_code == 401 and "API key" in err.value.hint
    async with fast_client(sandbox, api_key=None) as client:
        with pytest.raises(RunPodUnauthorizedError):
            await client.run(BODY)
    assert not sandbox.jobs


@pytest.mark.asyncio
async def test_wrong_endpoint_id_is_not_found_without_a_job(sandbox: SandboxEndpoint) -> None:
    wrong = sandbox.base_url.rsplit("/", 1)[0] + "/not-my-endpoint"
    async with RunPodClient(wrong, SANDBOX_API_KEY, backoff_base=0.01) as client:
        with pytest.raises(RunPodNotFoundError) as err:
            await client.run(BODY)
    assert err.value.job_id is None and "endpoint id" in err.value.hint
    assert not sandbox.jobs


@pytest.mark.asyncio
async def test_unknown_job_is_not_found_with_its_id(sandbox_client: RunPodClient) -> None:
    with pytest.raises(RunPodNotFoundError) as err:
        await sandbox_client.status("00000000-0000-0000-0000-000000000000-e1")
    assert err.value.job_id == "00000000-0000-0000-0000-000000000000-e1"
    assert "request does not exist" in err.value.message
    with pytest.raises(RunPodNotFoundError):
        await sandbox_client.cancel("nope-e1")


@pytest.mark.asyncio
async def test_not_registered_yet_then_found(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    sandbox.faults.not_registered_for_s = 0.3
    job = await sandbox_client.run(BODY)
    with pytest.raises(RunPodNotFoundError) as err:
        await sandbox_client.status(job.id)
    assert err.value.job_id == job.id
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:  # found once the 0.3 s have passed, as RunPod finds a job a moment after /run
        try:
            found = await sandbox_client.status(job.id)
            break
        except RunPodNotFoundError:
            assert asyncio.get_running_loop().time() < deadline, "the job was never found"
            await asyncio.sleep(0.02)
    assert found.id == job.id


@pytest.mark.asyncio
async def test_result_expires_after_the_window(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    sandbox.result_window_s = 0.3
    job = await sandbox_client.run(BODY)
    done = await wait_for_state(sandbox_client, job.id, TERMINAL)
    assert done.status is JobState.COMPLETED
    finished_at = sandbox.jobs[job.id].finished_at
    assert finished_at is not None
    # Readable inside the window, 404 from the moment the window (on the endpoint's clock) has passed.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        try:
            status = await sandbox_client.status(job.id)
        except RunPodNotFoundError:
            break
        assert status.status is JobState.COMPLETED and loop.time() < deadline
        await asyncio.sleep(0.02)
    assert loop.time() - finished_at >= sandbox.result_window_s
    with pytest.raises(RunPodNotFoundError):
        await sandbox_client.retry(job.id)


@pytest.mark.asyncio
async def test_failure_json_error_is_parsed_to_its_message(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient
) -> None:
    sandbox.faults.fail_with = {
        "error_type": "RuntimeError",
        "error_message": "CUDA out of memory",
        "error_traceback": "Traceback (most recent call last): ...",
    }
    job = await sandbox_client.run(BODY)
    failed = await wait_for_state(sandbox_client, job.id, TERMINAL)
    assert failed.status is JobState.FAILED and failed.result() is None
    error = failed.job_error()
    assert error.message == "RuntimeError: CUDA out of memory"
    assert error.details["error_traceback"].startswith("Traceback")


@pytest.mark.asyncio
async def test_completed_with_failed_output_and_without_output_are_not_successes(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient
) -> None:
    sandbox.faults.complete_with_failed_output = True
    job = await sandbox_client.run(BODY)
    done = await wait_for_state(sandbox_client, job.id, TERMINAL)
    result = done.result()
    assert done.status is JobState.COMPLETED and result is not None
    assert result.says_failed() and result.lora_url() is None
    assert "no LoRA" in result.failure_message()

    sandbox.faults.complete_with_failed_output = False
    sandbox.faults.complete_without_output = True
    job = await sandbox_client.run(BODY)
    done = await wait_for_state(sandbox_client, job.id, TERMINAL)
    assert done.status is JobState.COMPLETED and done.output is None and done.result() is None


@pytest.mark.asyncio
async def test_the_api_key_never_reaches_logs_or_errors(
    sandbox: SandboxEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []
    async with fast_client(sandbox) as client:
        job = await client.run(BODY)
        sandbox.faults.rate_limit_next = 1
        sandbox.faults.server_error_next = 1
        await client.status(job.id)
        sandbox.faults.server_error_next = 1
        for call in (client.run(BODY), client.status("missing-e1")):
            try:
                await call
            except Exception as exc:
                errors.append(exc)
        assert SANDBOX_API_KEY not in repr(client)
    wrong = "sk-wrong-key-1b2c3d4e5f60718293a4"
    async with fast_client(sandbox, api_key=wrong) as client:
        try:
            await client.health()
        except Exception as exc:
            errors.append(exc)
    assert [type(e) for e in errors] == [
        SubmissionUncertainError,
        RunPodNotFoundError,
        RunPodUnauthorizedError,
    ]
    assert "retrying" in caplog.text  # the retries were logged…
    for secret in (SANDBOX_API_KEY, wrong):
        assert secret not in caplog.text  # …without the key
        assert all(secret not in f"{e!s} {e!r} {e.__dict__}" for e in errors)


@pytest.mark.asyncio
async def test_sandbox_without_a_key_accepts_calls_without_one() -> None:
    endpoint = SandboxEndpoint(_instant_worker, faults=Faults())
    await endpoint.start()
    try:
        async with RunPodClient(endpoint.base_url, None) as client:
            job = await client.run({"input": {}})
            await wait_until(lambda: endpoint.jobs[job.id].status is JobState.COMPLETED)
            assert (await client.status(job.id)).output == {"status": "success", "simulation": True}
    finally:
        await endpoint.stop()


async def _instant_worker(job_input: dict[str, object], report: object, cancelled: asyncio.Event) -> dict[str, object]:
    return {"status": "success", "simulation": True}
