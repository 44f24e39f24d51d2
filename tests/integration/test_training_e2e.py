"""Training runs end to end over real HTTP: the orchestrator, the sandbox endpoint and its worker,
the webhook server, the local bucket — the whole flow of docs/architecture.md and every branch of
the preflight error tree."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.lora_file import read_lora_info
from actor_trainer.core.models import JobState, VersionStatus
from actor_trainer.core.preflight import DataNotSyncedError, NoTrainingDataError, RunInFlightError
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.runpod_errors import RunPodNotFoundError
from actor_trainer.runtime import Services
from tests.integration.e2e_support import FAST_PARAMS, running, wait_terminal, webhooks_applied
from tests.waits import WAIT_S, tasks_named, wait_until

pytestmark = pytest.mark.asyncio


def local_path(url: str) -> Path:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(url).path))


async def until_forgotten(services: Services, job_id: str) -> None:
    """Wait until the job finished and RunPod forgot it: `/status` answers 404 (its result window passed)."""
    sandbox = services.sandbox
    assert sandbox is not None
    await wait_until(lambda: job_id in sandbox.jobs and sandbox.jobs[job_id].finished_at is not None)
    async with RunPodClient(sandbox.base_url, None) as client:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            try:
                await client.status(job_id)
            except RunPodNotFoundError:
                return
            assert asyncio.get_running_loop().time() < deadline, f"job {job_id} was never forgotten"
            await asyncio.sleep(0.05)


async def test_happy_path_completes_by_webhook_and_writes_a_real_lora(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=30.0) as (services, rec):  # polling too slow to matter
        orchestrator = services.require_orchestrator()
        version = await orchestrator.submit(0, FAST_PARAMS, description="first try")
        assert version.status in (VersionStatus.QUEUED, VersionStatus.IN_PROGRESS)
        assert version.job_id is not None and version.job_id in services.sandbox.jobs  # type: ignore[union-attr]
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.COMPLETED, final.error
        assert final.loraUrl == final.outputUrl and final.name == "V1" and final.description == "first try"
        info = read_lora_info(local_path(final.loraUrl))
        assert info.rank == 4 and info.is_simulation
        assert services.webhook_server is not None and services.webhook_server.deliveries >= 1
        assert any("completed (webhook)" in line for line in rec.logs())
        assert len(rec.terminal_changes(final.id)) == 1


async def test_lost_webhook_is_caught_by_polling(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, rec):
        assert services.sandbox is not None
        services.sandbox.faults.lose_webhooks = 5
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.COMPLETED
        assert services.webhook_server is not None and services.webhook_server.deliveries == 0
        # Found by polling: a status check, or (if the result window had passed) the bucket.
        assert any("completed (status check)" in line or "completed (bucket)" in line for line in rec.logs())


async def test_duplicate_webhooks_change_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=30.0) as (services, rec):
        assert services.sandbox is not None
        services.sandbox.faults.duplicate_webhooks = 2
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        final = await wait_terminal(services, 0, version.id)
        await webhooks_applied(services, version.id)  # all three copies sent, received and handled
        assert services.webhook_server is not None and services.webhook_server.deliveries == 3
        assert final.status is VersionStatus.COMPLETED
        assert len(rec.terminal_changes(final.id)) == 1
        assert services.library.get_version(0, final.id).to_json() == final.to_json()


class SlowRunTransport(httpx.AsyncHTTPTransport):
    """Real HTTP, but the answer to /run reaches the app late (a slow network): only once `until()`."""

    def __init__(self, until: Callable[[], bool]) -> None:
        super().__init__()
        self.until = until

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/run"):
            await wait_until(self.until)
        return response


async def test_webhook_arriving_before_the_run_answer_is_applied_once(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=30.0, sandbox_duration_s=0.3) as (services, rec):
        assert services.sandbox is not None
        orchestrator = services.require_orchestrator()
        # The /run answer arrives only after the webhook was received and applied.
        applied = SlowRunTransport(lambda: any("completed (webhook)" in line for line in rec.logs()))
        slow = RunPodClient(services.sandbox.base_url, None, transport=applied)
        orchestrator.client = slow
        try:
            version = await orchestrator.submit(0, FAST_PARAMS)
        finally:
            await slow.aclose()
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.COMPLETED
        assert final.id in services.sandbox.jobs and final.requestId != final.id
        assert any("completed (webhook)" in line for line in rec.logs())
        assert len(rec.terminal_changes(final.id)) == 1


async def test_forged_deliveries_change_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=30.0) as (services, rec):
        assert services.sandbox is not None and services.webhook_server is not None
        services.sandbox.faults.stuck_in_queue = True
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        job = services.sandbox.jobs[version.id]
        webhook = job.webhook
        assert webhook and "/api/training-webhook/" in webhook
        before = services.library.versions_file(0).read_bytes()
        forged = {
            "id": version.id,
            "status": "COMPLETED",
            "output": {"status": "success", "loraUrl": "s3://evil/lora.safetensors"},
        }
        async with httpx.AsyncClient() as http:
            wrong = await http.post(webhook.rsplit("/", 1)[0] + "/not-the-token", json=forged)
            assert wrong.status_code == 404
            right_token_but_lying = await http.post(webhook, json=forged)
            assert right_token_but_lying.status_code == 200  # answered fast, checked after
        # The check is over once the app has logged RunPod's answer and its delivery task has ended.
        await wait_until(lambda: any("RunPod says IN_QUEUE" in line for line in rec.logs()))
        await wait_until(lambda: not tasks_named(f"webhook-delivery-{version.id[:40]}"))
        assert services.library.versions_file(0).read_bytes() == before


async def test_rate_limits_and_server_errors_are_retried(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None
        faults = services.sandbox.faults
        faults.rate_limit_next = 2
        orchestrator = services.require_orchestrator()
        orchestrator.client = RunPodClient(services.sandbox.base_url, None, backoff_base=0.01, backoff_max=0.05)
        version = await orchestrator.submit(0, FAST_PARAMS)
        faults.server_error_next = 2
        faults.error_routes = frozenset({"status"})
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.COMPLETED
        await orchestrator.client.aclose()


async def test_json_error_is_parsed_and_details_kept(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None
        services.sandbox.faults.fail_with = {
            "error_type": "torch.OutOfMemoryError",
            "error_message": "CUDA out of memory. Tried to allocate 2.00 GiB",
            "error_traceback": "Traceback (most recent call last): ...",
        }
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.FAILED and final.error is not None
        assert "CUDA out of memory" in final.error.message
        assert "Traceback" in json.dumps(final.error.details)
        assert final.loraUrl is None


async def test_completed_with_failed_output_is_a_failure(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None
        services.sandbox.faults.complete_with_failed_output = True
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.FAILED and final.error is not None
        assert final.error.message != "Training failed" and final.loraUrl is None


async def test_completed_without_output_is_a_failure(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None
        services.sandbox.faults.complete_without_output = True
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.FAILED and final.error is not None
        assert "no output" in final.error.message


async def test_expired_result_is_recovered_from_the_bucket(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None and services.poller is not None
        await services.poller.stop()  # the app "slept": no polling …
        services.sandbox.faults.lose_webhooks = 5  # … and no webhook
        services.sandbox.result_window_s = 0.2
        orchestrator = services.require_orchestrator()
        orchestrator.not_registered_grace_s = 0.0
        version = await orchestrator.submit(0, FAST_PARAMS)
        job_id = version.id
        await until_forgotten(services, job_id)
        final = await orchestrator.check(0, job_id)
        assert final.status is VersionStatus.COMPLETED and final.loraUrl == final.outputUrl
        assert final.output == {"recovered_from": "bucket", "loraUrl": final.outputUrl}


async def test_expired_without_a_lora_says_what_to_do(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None and services.poller is not None
        await services.poller.stop()
        services.sandbox.faults.lose_webhooks = 5
        services.sandbox.result_window_s = 0.2
        orchestrator = services.require_orchestrator()
        orchestrator.not_registered_grace_s = 0.0
        version = await orchestrator.submit(0, FAST_PARAMS)
        await until_forgotten(services, version.id)
        lora = await asyncio.to_thread(services.library.get_version, 0, version.id)
        local_path(lora.outputUrl or "").unlink()  # the bucket lost it too
        final = await orchestrator.check(0, version.id)
        assert final.status is VersionStatus.EXPIRED and final.error is not None
        assert "30 minutes" in final.error.message


async def test_stuck_in_queue_then_cancelled(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, rec):
        assert services.sandbox is not None
        services.sandbox.faults.stuck_in_queue = True
        orchestrator = services.require_orchestrator()
        version = await orchestrator.submit(0, FAST_PARAMS)
        # The poller has asked RunPod about it at least once, and it is still queued.
        sandbox = services.sandbox
        await wait_until(
            lambda: any(r.route == "status" and r.path.endswith(f"/{version.id}") for r in sandbox.requests)
        )
        health = await orchestrator.client.health()
        assert health.jobs.inQueue >= 1
        still = await orchestrator.check(0, version.id)
        assert still.status is VersionStatus.QUEUED
        cancelled = await orchestrator.cancel(0, version.id)
        assert cancelled.status is VersionStatus.CANCELLED and cancelled.runpodStatus == "CANCELLED"
        assert any("RunPod answered CANCELLED" in line for line in rec.logs())


async def test_failed_job_retried_at_runpod_keeps_its_id(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None
        services.sandbox.faults.fail_with = {"error_type": "RuntimeError", "error_message": "worker crashed"}
        orchestrator = services.require_orchestrator()
        version = await orchestrator.submit(0, FAST_PARAMS)
        failed = await wait_terminal(services, 0, version.id)
        assert failed.status is VersionStatus.FAILED
        services.sandbox.faults.fail_with = None
        retried = await orchestrator.retry(0, failed.id)
        assert retried.id == failed.id and retried.status is VersionStatus.QUEUED
        final = await wait_terminal(services, 0, failed.id)
        assert final.status is VersionStatus.COMPLETED
        assert final.attempts and final.attempts[0]["status"] == "failed"


async def test_validation_errors_write_and_send_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, sync=False) as (services, _):
        assert services.sandbox is not None
        orchestrator = services.require_orchestrator()
        with pytest.raises(DataNotSyncedError):
            await orchestrator.submit(0, FAST_PARAMS)
        empty = services.library.training_data_folder(1)
        for f in empty.iterdir():
            f.unlink()
        with pytest.raises(NoTrainingDataError):
            await orchestrator.submit(1, FAST_PARAMS)
        assert services.library.load_versions(0) == [] and services.sandbox.request_count("run") == 0


async def test_two_clicks_make_one_job(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None
        services.sandbox.faults.stuck_in_queue = True
        orchestrator = services.require_orchestrator()
        results = await asyncio.gather(
            orchestrator.submit(0, FAST_PARAMS), orchestrator.submit(0, FAST_PARAMS), return_exceptions=True
        )
        assert sum(isinstance(r, RunInFlightError) for r in results) == 1
        assert services.sandbox.request_count("run") == 1
        assert len(services.library.load_versions(0)) == 1


async def test_late_progress_never_moves_a_completed_version_back(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None
        orchestrator = services.require_orchestrator()
        version = await orchestrator.submit(0, FAST_PARAMS)
        final = await wait_terminal(services, 0, version.id)
        stale = JobStatus(
            id=final.id, status=JobState.IN_PROGRESS, output={"phase": "training", "step": 3, "total": 40}
        )
        after = await orchestrator.apply_status(0, final.id, stale, source="test")
        assert after.status is VersionStatus.COMPLETED and after.to_json() == final.to_json()


async def test_start_up_reconciles_what_was_in_flight_when_the_app_closed(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _):
        assert services.sandbox is not None and services.poller is not None
        await services.poller.stop()
        services.sandbox.faults.lose_webhooks = 5
        services.sandbox.result_window_s = 0.2
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        await until_forgotten(services, version.id)
        root = services.library.root
    # The app closed with the version still "queued"; it is opened again ten minutes later.
    path = root / "actor_training_versions" / "0000.json"
    data = json.loads(path.read_text())
    assert data["versions"][0]["status"] == "queued"
    data["versions"][0]["timestamp"] = "2020-01-01T00:00:00Z"
    path.write_text(json.dumps(data))
    from tests.integration.e2e_support import sandbox_config

    again = Services(sandbox_config(root))
    await again.start()
    try:
        final = await wait_terminal(again, 0, version.id)
        assert final.status is VersionStatus.COMPLETED and final.output["recovered_from"] == "bucket"
    finally:
        await again.stop()
