"""The sandbox endpoint behaves like RunPod Serverless's cloud API: raw HTTP, webhooks, limits."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.models import JobState
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.runpod_errors import RunPodNotFoundError
from actor_trainer.sandbox.jobs import ProgressReporter, WorkerFailure
from actor_trainer.sandbox.server import SandboxEndpoint
from tests.fixtures import sandbox as sandbox_fixtures
from tests.fixtures.sandbox import (
    SANDBOX_API_KEY,
    deliveries_done,
    fast_client,
    make_fast_worker,
    running_sandbox,
    wait_for_state,
    wait_until,
)
from tests.waits import tasks_named

# The shared fixtures, bound under their fixture names (an assignment, so ruff's F811 stays quiet).
sandbox = sandbox_fixtures.sandbox
sandbox_client = sandbox_fixtures.sandbox_client

AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
TERMINAL = [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT]
INPUT = {"training_config": {"model_name": "actor_0003_V1", "max_train_steps": 50}, "note": "echo me"}


class Receiver:
    """A webhook receiver: records every delivery; answers from `answers` (then 200), after `delay_s`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.answers: list[int] = []
        self.delay_s = 0.0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.times.append(asyncio.get_running_loop().time())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"ok": status == 200}, status=status)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/api/training-webhook/{token}", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/training-webhook/tok-9f2e"
    yield rec
    await runner.cleanup()


async def _submit(client: RunPodClient, webhook: str | None = None, **policy: int) -> str:
    body: dict[str, Any] = {"input": INPUT}
    if webhook:
        body["webhook"] = webhook
    if policy:
        body["policy"] = policy
    return (await client.run(body)).id


# --- webhooks -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_webhook_carries_the_status_object_the_input_and_the_url(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient, receiver: Receiver
) -> None:
    job_id = await _submit(sandbox_client, receiver.url)
    await wait_until(lambda: len(receiver.bodies) == 1)
    body = receiver.bodies[0]
    assert body["id"] == job_id and body["status"] == "COMPLETED"
    assert body["input"] == INPUT and body["webhook"] == receiver.url and body["sandbox"] is True
    delivered = JobStatus.model_validate(body)
    polled = await sandbox_client.status(job_id)
    assert delivered.output == polled.output and delivered.result() is not None
    await deliveries_done(sandbox, job_id)
    assert len(receiver.bodies) == 1  # exactly one delivery when the receiver answers 200


@pytest.mark.asyncio
async def test_webhooks_for_failed_cancelled_and_timed_out_jobs(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient, receiver: Receiver
) -> None:
    sandbox.faults.fail_with = {"error_message": "boom"}
    failed = await _submit(sandbox_client, receiver.url)
    await wait_until(lambda: len(receiver.bodies) == 1)
    assert receiver.bodies[0]["status"] == "FAILED" and json.loads(receiver.bodies[0]["error"]) == {
        "error_message": "boom"
    }
    sandbox.faults.fail_with = None

    running = await _submit(sandbox_client, receiver.url)
    await wait_for_state(sandbox_client, running, [JobState.IN_PROGRESS])
    await sandbox_client.cancel(running)
    await wait_until(lambda: len(receiver.bodies) == 2)
    assert (receiver.bodies[1]["id"], receiver.bodies[1]["status"]) == (running, "CANCELLED")

    timed_out = await _submit(sandbox_client, receiver.url, executionTimeout=150)
    await wait_until(lambda: len(receiver.bodies) == 3)
    assert (receiver.bodies[2]["id"], receiver.bodies[2]["status"]) == (timed_out, "TIMED_OUT")

    sandbox.faults.webhook_on_cancel = False
    quiet = await _submit(sandbox_client, receiver.url)
    assert (await sandbox_client.cancel(quiet)).status is JobState.CANCELLED
    await deliveries_done(sandbox, quiet)
    assert len(receiver.bodies) == 3 and failed != quiet
    assert sandbox.jobs[quiet].deliveries == []


@pytest.mark.asyncio
async def test_lost_webhooks_are_never_sent(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient, receiver: Receiver
) -> None:
    sandbox.faults.lose_webhooks = 1
    lost = await _submit(sandbox_client, receiver.url)
    await wait_for_state(sandbox_client, lost, TERMINAL)
    kept = await _submit(sandbox_client, receiver.url)
    await wait_until(lambda: len(receiver.bodies) == 1)
    await deliveries_done(sandbox, lost)
    await deliveries_done(sandbox, kept)
    assert [b["id"] for b in receiver.bodies] == [kept]
    assert [d.lost for d in sandbox.jobs[lost].deliveries] == [True]


@pytest.mark.asyncio
async def test_duplicated_webhooks_arrive_several_times(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient, receiver: Receiver
) -> None:
    sandbox.faults.duplicate_webhooks = 2
    job_id = await _submit(sandbox_client, receiver.url)
    await deliveries_done(sandbox, job_id)
    assert len(receiver.bodies) == 3 and all(b == receiver.bodies[0] for b in receiver.bodies)
    assert [d.duplicate for d in sandbox.jobs[job_id].deliveries] == [False, True, True]


@pytest.mark.asyncio
async def test_a_webhook_answered_500_is_retried(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient, receiver: Receiver
) -> None:
    receiver.answers = [500]
    job_id = await _submit(sandbox_client, receiver.url)
    await deliveries_done(sandbox, job_id)
    assert len(receiver.bodies) == 2
    assert [d.http_status for d in sandbox.jobs[job_id].deliveries] == [500, 200]
    assert receiver.times[1] - receiver.times[0] >= 0.09  # retry interval 0.1 s


@pytest.mark.asyncio
async def test_webhook_gives_up_after_three_attempts(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient, receiver: Receiver
) -> None:
    receiver.answers = [500, 404, 503, 500, 500]
    job_id = await _submit(sandbox_client, receiver.url)
    await deliveries_done(sandbox, job_id)
    assert len(receiver.bodies) == 3
    assert [d.http_status for d in sandbox.jobs[job_id].deliveries] == [500, 404, 503]


@pytest.mark.asyncio
async def test_a_slow_webhook_receiver_counts_as_a_failed_delivery(receiver: Receiver) -> None:
    receiver.delay_s = 0.4
    async with running_sandbox(webhook_timeout_s=0.15, webhook_attempts=2) as endpoint:
        async with fast_client(endpoint) as client:
            job_id = await _submit(client, receiver.url)
            await wait_until(lambda: len(endpoint.jobs[job_id].deliveries) == 2)
            deliveries = endpoint.jobs[job_id].deliveries
            assert all(d.http_status is None and not d.ok and "0.15 s" in (d.error or "") for d in deliveries)


# --- HTTP surface ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_auth_and_body_validation(sandbox: SandboxEndpoint) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url + "/") as http:
        assert (await http.get("health")).status_code == 401
        unauthorized = await http.post("run", json={"input": {}}, headers={"Authorization": "Bearer nope"})
        assert unauthorized.status_code == 401 and "error" in unauthorized.json()

        cases: list[tuple[bytes, str]] = [
            (b"{}", "input"),
            (b'{"input": "text"}', "input"),
            (b"not json", "JSON"),
            (b"[1, 2]", "object"),
            (b'{"input": {}, "webhook": "ftp://x"}', "webhook"),
            (b'{"input": {}, "policy": {"ttl": -5}}', "ttl"),
        ]
        for raw, word in cases:
            answer = await http.post("run", content=raw, headers=AUTH)
            assert answer.status_code == 400, raw
            assert word in answer.json()["error"], raw

        big = json.dumps({"input": {"blob": "x" * (10 * 1024 * 1024 + 10)}}).encode()
        too_large = await http.post("run", content=big, headers=AUTH)
        assert too_large.status_code == 413 and "10 MB" in too_large.json()["error"]
        assert not sandbox.jobs

        unknown = await http.get("nothing-here", headers=AUTH)
        assert unknown.status_code == 404 and unknown.json()["error"]


@pytest.mark.asyncio
async def test_job_ids_status_by_post_and_the_simulation_label(sandbox: SandboxEndpoint) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url + "/", headers=AUTH) as http:
        first = (await http.post("run", json={"input": INPUT})).json()
        second = (await http.post("run", json={"input": INPUT})).json()
        for job in (first, second):
            assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-e1", job["id"])
        assert first["id"] != second["id"] and first["status"] == "IN_QUEUE"
        by_post = (await http.post(f"status/{first['id']}")).json()
        assert by_post["id"] == first["id"] and by_post["sandbox"] is True
        assert (await http.get("health")).json()["sandbox"] is True


@pytest.mark.asyncio
async def test_execution_timeout_stops_the_worker(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    job_id = await _submit(sandbox_client, executionTimeout=150)
    status = await wait_for_state(sandbox_client, job_id, TERMINAL)
    assert status.status is JobState.TIMED_OUT and status.output is None
    assert 100 <= (status.executionTime or 0) <= 400
    # The worker was stopped before TIMED_OUT was recorded (its task is over), long before the
    # fast worker's own 0.5 s would have ended it: nothing can report progress any more.
    assert not tasks_named(f"sandbox-worker-{job_id}")

    retried = await sandbox_client.retry(job_id)  # TIMED_OUT jobs can be retried too
    assert retried.status is JobState.IN_QUEUE


@pytest.mark.asyncio
async def test_ttl_deletes_the_job_even_mid_run(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    job_id = await _submit(sandbox_client, ttl=200)
    await wait_for_state(sandbox_client, job_id, [JobState.IN_PROGRESS])
    await wait_until(lambda: job_id not in sandbox.jobs)  # deleted by its own ttl, mid-run
    assert not tasks_named(f"sandbox-worker-{job_id}")
    with pytest.raises(RunPodNotFoundError):
        await sandbox_client.status(job_id)

    sandbox.faults.stuck_in_queue = True
    queued = await _submit(sandbox_client, ttl=100)
    await wait_until(lambda: queued not in sandbox.jobs)  # deleted by its ttl while still queued
    with pytest.raises(RunPodNotFoundError):
        await sandbox_client.status(queued)


@pytest.mark.asyncio
async def test_purge_queue_drops_only_queued_jobs(sandbox: SandboxEndpoint, sandbox_client: RunPodClient) -> None:
    running = await _submit(sandbox_client)
    await wait_for_state(sandbox_client, running, [JobState.IN_PROGRESS])
    sandbox.faults.stuck_in_queue = True
    queued = [await _submit(sandbox_client) for _ in range(2)]
    async with httpx.AsyncClient(base_url=sandbox.base_url + "/", headers=AUTH) as http:
        answer = (await http.post("purge-queue")).json()
    assert answer["removed"] == 2
    for job_id in queued:
        with pytest.raises(RunPodNotFoundError):
            await sandbox_client.status(job_id)
    assert (await wait_for_state(sandbox_client, running, TERMINAL)).status is JobState.COMPLETED


@pytest.mark.asyncio
async def test_one_worker_runs_jobs_one_at_a_time_in_order() -> None:
    async with running_sandbox(make_fast_worker(duration_s=0.3), max_workers=1) as endpoint:
        async with fast_client(endpoint) as client:
            first, second = await _submit(client), await _submit(client)
            await wait_for_state(client, first, [JobState.IN_PROGRESS])
            assert (await client.status(second)).status is JobState.IN_QUEUE
            await wait_for_state(client, first, TERMINAL)
            done = await wait_for_state(client, second, TERMINAL)
            assert done.status is JobState.COMPLETED and (done.delayTime or 0) >= 250


@pytest.mark.asyncio
async def test_late_progress_after_completion_is_served_once(
    sandbox: SandboxEndpoint, sandbox_client: RunPodClient
) -> None:
    job_id = await _submit(sandbox_client)
    await wait_until(lambda: sandbox.jobs[job_id].status is JobState.COMPLETED)
    sandbox.faults.late_progress_after_completion = 1
    stale = await sandbox_client.status(job_id)
    assert stale.status is JobState.IN_PROGRESS
    assert stale.output == sandbox.jobs[job_id].last_progress and stale.output["phase"] == "uploading"
    assert (await sandbox_client.status(job_id)).status is JobState.COMPLETED


# --- worker outcomes ------------------------------------------------------------------------------


async def _failing_worker(job_input: dict[str, Any], report: ProgressReporter, cancelled: asyncio.Event) -> Any:
    report({"phase": "downloading", "step": 0, "total": 10})
    kind = job_input["kind"]
    if kind == "typed":
        raise WorkerFailure("DatasetError", "no images at s3://b/actors/0003", "Traceback: dataset.py:12")
    if kind == "crash":
        raise ValueError("learning rate must be positive")
    return {"error": "ComfyUI refused the workflow"}


@pytest.mark.asyncio
async def test_worker_failures_become_runpod_errors() -> None:
    async with running_sandbox(_failing_worker) as endpoint:
        async with fast_client(endpoint) as client:
            typed = await client.run({"input": {"kind": "typed"}})
            crash = await client.run({"input": {"kind": "crash"}})
            plain = await client.run({"input": {"kind": "output"}})

            typed_status = await wait_for_state(client, typed.id, TERMINAL)
            error = json.loads(typed_status.error)
            assert typed_status.status is JobState.FAILED
            assert (error["error_type"], error["error_message"], error["error_traceback"]) == (
                "DatasetError",
                "no images at s3://b/actors/0003",
                "Traceback: dataset.py:12",
            )
            assert typed_status.job_error().message == "DatasetError: no images at s3://b/actors/0003"

            crash_status = await wait_for_state(client, crash.id, TERMINAL)
            crash_error = json.loads(crash_status.error)
            assert crash_error["error_type"] == "<class 'ValueError'>"
            assert crash_error["error_message"] == "learning rate must be positive"
            assert "Traceback" in crash_error["error_traceback"]

            plain_status = await wait_for_state(client, plain.id, TERMINAL)
            assert plain_status.status is JobState.FAILED
            assert plain_status.job_error().message == "ComfyUI refused the workflow"


@pytest.mark.asyncio
async def test_stop_cancels_running_workers() -> None:
    finished: list[str] = []

    async def endless(job_input: dict[str, Any], report: ProgressReporter, cancelled: asyncio.Event) -> Any:
        try:
            while True:
                report({"phase": "training", "step": 1, "total": 2})
                await asyncio.sleep(0.01)
        finally:
            finished.append("stopped")

    endpoint = SandboxEndpoint(endless, api_key=SANDBOX_API_KEY)
    await endpoint.start()
    async with fast_client(endpoint) as client:
        job = await client.run({"input": {}})
        await wait_for_state(client, job.id, [JobState.IN_PROGRESS])
    await endpoint.stop()
    assert finished == ["stopped"]
    pending = [t for t in asyncio.all_tasks() if t.get_name().startswith("sandbox-")]
    assert pending == []
