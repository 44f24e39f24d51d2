"""Webhook bodies as RunPod sends them (issue 9, item 6): any Content-Type, multi-megabyte bodies
that echo the job input, and bursts of duplicate deliveries that must not become a burst of
`/status` calls. Real HTTP on 127.0.0.1: the app's webhook server, the sandbox endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.events import EventBus
from actor_trainer.core.models import JobState, VersionStatus
from actor_trainer.core.webhook_server import MAX_BODY_BYTES, WebhookServer
from actor_trainer.core.webhook_tokens import new_webhook_token, token_matches, webhook_token_hash
from tests.integration.e2e_support import FAST_PARAMS, running, wait_terminal
from tests.waits import tasks_named, wait_until

pytestmark = pytest.mark.asyncio

CONTENT_TYPES: list[str | None] = [
    "text/plain",
    "application/octet-stream",
    None,
    "application/json",
    "application/x-www-form-urlencoded",
    "text/html; charset=iso-8859-1",
]


def echoed_body(job_id: str, megabytes: float) -> bytes:
    """A completed status object echoing an `input` of about `megabytes` MB (a big workflow)."""
    nodes = {str(i): {"class_type": "Note", "inputs": {"text": "x" * 1000}} for i in range(int(megabytes * 1000))}
    return json.dumps(
        {
            "id": job_id,
            "status": "COMPLETED",
            "output": {"status": "success", "loraUrl": "s3://b/actor_0000_V1.safetensors"},
            "input": {"workflow": nodes},
            "webhook": "https://example.invalid/x",
        }
    ).encode()


async def test_multi_megabyte_bodies_are_accepted_whatever_the_content_type() -> None:
    token = new_webhook_token()
    digests = [webhook_token_hash(token)]
    delivered: list[JobStatus] = []

    async def on_delivery(tok: str, status: JobStatus) -> None:
        delivered.append(status)

    server = WebhookServer(
        is_known_token=lambda t: token_matches(t, digests), on_delivery=on_delivery, events=EventBus()
    )
    assert server.max_body_bytes == MAX_BODY_BYTES >= 12 * 1024 * 1024
    await server.start()
    try:
        url = f"{server.local_url}/api/training-webhook/{token}"
        async with httpx.AsyncClient(timeout=30) as client:
            for i, content_type in enumerate(CONTENT_TYPES):
                body = echoed_body(f"job-{i}", 3 if i % 2 else 10.5)
                assert len(body) > 3_000_000
                headers = {"Content-Type": content_type} if content_type else {}
                answer = await client.post(url, content=body, headers=headers)
                assert answer.status_code == 200, (content_type, answer.text)

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read with the same bound
                body = echoed_body("job-chunked", 5)
                for start in range(0, len(body), 1 << 20):
                    yield body[start : start + (1 << 20)]

            answer = await client.post(url, content=chunks(), headers={"Content-Type": "text/plain"})
            assert answer.status_code == 200, answer.text
            # Several large bodies at once: all accepted (read a few at a time, never refused for it).
            answers = await asyncio.gather(
                *(
                    client.post(
                        url,
                        content=echoed_body(f"job-par-{i}", 2),
                        headers={"Content-Type": "application/octet-stream"},
                    )
                    for i in range(8)
                )
            )
            assert [a.status_code for a in answers] == [200] * 8
            too_big = await client.post(
                url, content=b" " * (MAX_BODY_BYTES + 1), headers={"Content-Type": "text/plain"}
            )
            assert too_big.status_code == 413
        await wait_until(lambda: len(delivered) == len(CONTENT_TYPES) + 9)
        assert sorted(s.id for s in delivered) == sorted(
            [f"job-{i}" for i in range(len(CONTENT_TYPES))] + ["job-chunked"] + [f"job-par-{i}" for i in range(8)]
        )
        assert all(s.status is JobState.COMPLETED for s in delivered)
    finally:
        await server.stop()


async def test_a_burst_of_500_duplicate_deliveries_makes_one_or_two_status_calls(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=30.0) as (services, rec):
        sandbox = services.sandbox
        assert sandbox is not None and services.poller is not None and services.webhook_server is not None
        await services.poller.stop()  # only the webhook path may ask /status
        sandbox.faults.lose_webhooks = 10  # the burst below replaces the endpoint's own delivery
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        job_id = version.job_id
        assert job_id is not None
        await wait_until(
            lambda: sandbox.jobs[job_id].status is JobState.COMPLETED and not tasks_named(f"sandbox-webhook-{job_id}")
        )
        webhook_url = sandbox.jobs[job_id].webhook
        assert webhook_url and webhook_url.startswith(services.webhook_server.local_url)
        # aiohttp's client: httpx's pool spends seconds of CPU on 500 concurrent requests.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            async with session.get(f"{sandbox.base_url}/status/{job_id}") as answer:
                status = await answer.json()
            body = json.dumps({**status, "input": {"padding": "p" * 20_000}, "webhook": webhook_url}).encode()
            before = sandbox.request_count("status")

            async def deliver(i: int) -> int:
                content_type = CONTENT_TYPES[i % len(CONTENT_TYPES)]
                headers = {"Content-Type": content_type} if content_type else {}
                async with session.post(webhook_url, data=body, headers=headers) as answer:
                    return answer.status

            answers = await asyncio.gather(*(deliver(i) for i in range(500)))
        assert answers == [200] * 500
        final = await wait_terminal(services, 0, version.id)
        await wait_until(lambda: not tasks_named(f"webhook-delivery-{job_id[:40]}"))
        calls = sandbox.request_count("status") - before
        assert 1 <= calls <= 2, f"{calls} /status calls for 500 deliveries"
        assert final.status is VersionStatus.COMPLETED
        assert len(rec.terminal_changes(final.id)) == 1
        assert services.webhook_server.deliveries == 500
        assert sum("confirming with RunPod" in line for line in rec.logs()) == calls
        assert sum("Webhook received for job" in line for line in rec.logs()) == 1  # one line, not 500
