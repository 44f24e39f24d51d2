"""The webhook server over real HTTP: checks, answering first, the delivery test, clean shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.events import Event, EventBus, LogEvent, LogLevel, WebhookReceived
from actor_trainer.core.models import JobState
from actor_trainer.core.tunnel import TunnelService
from actor_trainer.core.webhook_server import (
    Rejected,
    WebhookServer,
    WebhookUnreachableError,
    WebhookWrongServerError,
    check_declared_length,
    check_token,
    json_depth,
    parse_json,
    parse_status,
    test_delivery,
)
from actor_trainer.core.webhook_tokens import (
    new_webhook_token,
    token_matches,
    token_preview,
    webhook_token_hash,
    webhook_url,
)
from tests.fixtures.ngrok import FakeNgrok, fake_ngrok_fixture  # noqa: F401  (registers the fixture)

SECRET_INPUT = "input-marker-that-must-never-be-logged"


def status_body(job_id: str = "job-1", state: str = "COMPLETED") -> dict[str, object]:
    return {
        "id": job_id,
        "status": state,
        "delayTime": 12,
        "executionTime": 3400,
        "output": {"status": "success", "loraUrl": "s3://bucket/actor_0001_V1.safetensors"},
        "input": {"training_config": {"request_id": SECRET_INPUT}},
        "webhook": "https://example.invalid/api/training-webhook/xyz",
    }


# --- the plain check functions ---------------------------------------------------------------------


def test_tokens_are_long_urlsafe_and_compared_by_digest() -> None:
    token = new_webhook_token()
    assert len(token) >= 43 and token.replace("-", "").replace("_", "").isalnum()
    assert token_matches(token, ["0" * 64, webhook_token_hash(token)])
    assert not token_matches(token + "x", [webhook_token_hash(token)])
    assert not token_matches(token, [])
    assert token_preview(token) == token[:4] + "…"
    assert webhook_url("https://a.example/", token) == f"https://a.example/api/training-webhook/{token}"


def status_of(call: object, *args: object) -> int:
    with pytest.raises(Rejected) as raised:
        call(*args)  # type: ignore[operator]
    return raised.value.status


def test_check_functions_answer_with_the_right_status() -> None:
    token = new_webhook_token()
    check_token(token, lambda t: t == token)
    assert status_of(check_token, token, lambda t: False) == 404
    assert status_of(check_token, "short", lambda t: True) == 404  # not our format: not even looked up
    assert status_of(check_token, "a" * 30 + "!", lambda t: True) == 404

    check_declared_length(None, 10)
    check_declared_length(10, 10)
    assert status_of(check_declared_length, 11, 10) == 413

    assert parse_json(b'{"a": 1}') == {"a": 1}
    assert json_depth(parse_json(b"[" * 64 + b"]" * 64)) == 64
    assert status_of(parse_json, b'{"a": ' + b"[" * 64 + b"]" * 64 + b"}") == 400
    for bad_json in (b"", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000):
        assert status_of(parse_json, bad_json) == 400

    parsed = parse_status(status_body())
    assert parsed.id == "job-1" and parsed.status is JobState.COMPLETED
    for bad_status in ([], "COMPLETED", {"id": "x"}, {"id": "", "status": "COMPLETED"}, {"id": "x", "status": "DONE"}):
        assert status_of(parse_status, bad_status) == 422


# --- the server ------------------------------------------------------------------------------------


@dataclass
class Harness:
    server: WebhookServer
    token: str
    events: list[Event]
    delivered: list[tuple[str, JobStatus]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    fail_next: bool = False

    async def post(
        self,
        token: str | None = None,
        body: object = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        method: str = "POST",
    ) -> httpx.Response:
        content = raw if raw is not None else json.dumps(status_body() if body is None else body).encode()
        async with httpx.AsyncClient(base_url=self.server.local_url, timeout=10) as client:
            return await client.request(
                method,
                f"/api/training-webhook/{token or self.token}",
                content=content,
                headers={"Content-Type": content_type},
            )

    def received(self) -> list[WebhookReceived]:
        return [e for e in self.events if isinstance(e, WebhookReceived)]


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    token = new_webhook_token()
    digests = [webhook_token_hash(token)]
    holder: list[Harness] = []

    async def on_delivery(tok: str, status: JobStatus) -> None:
        h = holder[0]
        h.delivered.append((tok, status))
        if h.fail_next:
            h.fail_next = False
            raise RuntimeError("the orchestrator broke")
        await h.release.wait()

    server = WebhookServer(
        is_known_token=lambda t: token_matches(t, digests), on_delivery=on_delivery, events=bus, stop_grace_s=0.3
    )
    h = Harness(server=server, token=token, events=events)
    holder.append(h)
    await server.start()
    try:
        yield h
    finally:
        h.release.set()
        await server.stop()


async def wait_for(predicate: object, within_s: float = 5) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def delivered_after_a_good_one(h: Harness) -> None:
    """Send one valid delivery and wait until it is applied: what was rejected before it had its
    chance to be applied too, so only the good one may be in `delivered`."""
    h.release.set()
    assert (await h.post(body=status_body("job-good"))).status_code == 200
    await wait_for(lambda: len(h.delivered) >= 1)
    assert [s.id for _, s in h.delivered] == ["job-good"] and h.server.deliveries == 1


@pytest.mark.asyncio
async def test_a_valid_delivery_is_answered_at_once_and_applied_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert harness.server.local_url == f"http://127.0.0.1:{harness.server.port}"
    started = time.perf_counter()
    answer = await harness.post()
    # on_delivery is still blocked on `release`: the 200 did not wait for it.
    assert time.perf_counter() - started < 2
    assert answer.status_code == 200 and answer.json() == {"received": True}
    await wait_for(lambda: len(harness.delivered) == 1)
    token, status = harness.delivered[0]
    assert token == harness.token
    assert status.id == "job-1" and status.status is JobState.COMPLETED
    assert status.result() is not None and status.result().lora_url() == "s3://bucket/actor_0001_V1.safetensors"
    assert harness.server.deliveries == 1 and harness.server.last_delivery_at is not None
    assert [(e.job_id, e.accepted) for e in harness.received()] == [("job-1", True)]

    # What the app logs (the test's own httpx client logs URLs; RunPod is the client in real life).
    app_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    everything = app_logs + "\n".join(repr(e) for e in harness.events)
    assert harness.token not in everything
    assert harness.token[:4] + "…" in everything
    assert SECRET_INPUT not in everything
    harness.release.set()


@pytest.mark.asyncio
async def test_an_unknown_token_is_404_and_changes_nothing(harness: Harness) -> None:
    for token in (new_webhook_token(), "x", harness.token[:-1] + ("A" if harness.token[-1] != "A" else "B")):
        answer = await harness.post(token)
        assert answer.status_code == 404
    assert harness.server.deliveries == 0 and harness.server.last_delivery_at is None
    await delivered_after_a_good_one(harness)
    assert [e.accepted for e in harness.received()] == [False, False, False, True]


@pytest.mark.asyncio
async def test_bad_requests_are_rejected_with_the_right_status(harness: Harness) -> None:
    h = harness
    assert (await h.post(raw=b"x" * (h.server.max_body_bytes + 1))).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(h.server.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    async with httpx.AsyncClient(base_url=h.server.local_url) as client:
        chunked = await client.post(
            f"/api/training-webhook/{h.token}", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert chunked.status_code == 413
    assert (await h.post(raw=b'{"id": "job-1", "status": ')).status_code == 400
    assert (await h.post(raw=b"\xff\xfe\x00")).status_code == 400
    unprocessable = await h.post(body={"id": "job-1", "status": "SOMETHING"})
    assert unprocessable.status_code == 422 and "status" in unprocessable.json()["error"]
    assert (await h.post(body=[1, 2, 3])).status_code == 422
    assert (await h.post(method="GET")).status_code == 405
    assert (await h.post(method="PUT")).status_code == 405
    assert h.server.deliveries == 0
    await delivered_after_a_good_one(h)
    assert [e.accepted for e in h.received()][-1:] == [True]
    assert not any(e.accepted for e in h.received()[:-1])


@pytest.mark.asyncio
async def test_health_answers_for_connection_tests(harness: Harness) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{harness.server.local_url}/api/health")
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "service": "actor-trainer-webhook"}


@pytest.mark.asyncio
async def test_a_failing_on_delivery_is_reported_and_the_server_keeps_working(harness: Harness) -> None:
    harness.fail_next = True
    harness.release.set()
    assert (await harness.post(body=status_body("job-a"))).status_code == 200
    await wait_for(lambda: any(isinstance(e, LogEvent) and e.level is LogLevel.ERROR for e in harness.events))
    error = next(e for e in harness.events if isinstance(e, LogEvent) and e.level is LogLevel.ERROR)
    assert "job-a" in error.message and "the orchestrator broke" in error.message
    assert (await harness.post(body=status_body("job-b", "FAILED"))).status_code == 200
    await wait_for(lambda: len(harness.delivered) == 2)
    assert [s.id for _, s in harness.delivered] == ["job-a", "job-b"]


@pytest.mark.asyncio
async def test_stop_is_bounded_cancels_stuck_work_and_closes_the_port(harness: Harness) -> None:
    cancelled = asyncio.Event()
    real = harness.server._on_delivery

    async def stuck(token: str, status: JobStatus) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    harness.server._on_delivery = stuck
    assert (await harness.post()).status_code == 200
    started = time.perf_counter()
    await harness.server.stop()
    assert time.perf_counter() - started < 5
    assert cancelled.is_set()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", harness.server.port), timeout=2):
        pass
    harness.server._on_delivery = real
    await harness.server.stop()  # idempotent


@pytest.mark.asyncio
async def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = WebhookServer(
            is_known_token=lambda t: False, on_delivery=_never, events=EventBus(), port=taken.getsockname()[1]
        )
        with pytest.raises(Exception, match="could not listen") as raised:
            await server.start()
        assert "port" in raised.value.hint  # type: ignore[attr-defined]


async def _never(token: str, status: JobStatus) -> None:
    raise AssertionError("not expected")


# --- the delivery test, direct and through the stand-in tunnel -------------------------------------


@pytest.mark.asyncio
async def test_delivery_test_direct_and_through_the_tunnel(harness: Harness, fake_ngrok: FakeNgrok) -> None:
    assert await test_delivery(harness.server.local_url, harness.server) > 0

    tunnel = TunnelService(
        EventBus(), auth_token=fake_ngrok.token, ngrok_path=fake_ngrok.path, config_path=fake_ngrok.config_path
    )
    try:
        public = await tunnel.start(harness.server.port)
        seconds = await test_delivery(public + "/", harness.server, timeout_s=5)
        assert 0 < seconds < 5
        # A real delivery through the tunnel reaches on_delivery too.
        async with httpx.AsyncClient() as client:
            answer = await client.post(webhook_url(public, harness.token), json=status_body("job-t"))
        assert answer.status_code == 200
        await wait_for(lambda: [s.id for _, s in harness.delivered] == ["job-t"])

        await tunnel.stop()
        with pytest.raises(WebhookUnreachableError) as raised:
            await test_delivery(public, harness.server, timeout_s=3)
        assert "tunnel" in raised.value.hint
    finally:
        await tunnel.stop()
    assert harness.server._probes == {}


@pytest.mark.asyncio
async def test_delivery_test_tells_when_another_server_answers(harness: Harness, fake_ngrok: FakeNgrok) -> None:
    async def other(request: web.Request) -> web.Response:
        return web.Response(status=404, text="not here")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", other)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        with pytest.raises(WebhookWrongServerError, match="HTTP 404"):
            await test_delivery(f"http://127.0.0.1:{runner.addresses[0][1]}", harness.server)
    finally:
        await runner.cleanup()

    # A tunnel whose upstream is not listening: ngrok's own 502 names the failure.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    tunnel = TunnelService(
        EventBus(), auth_token=fake_ngrok.token, ngrok_path=fake_ngrok.path, config_path=fake_ngrok.config_path
    )
    try:
        public = await tunnel.start(dead_port)
        with pytest.raises(WebhookWrongServerError, match="ERR_NGROK_8012"):
            await test_delivery(public, harness.server, timeout_s=5)
    finally:
        await tunnel.stop()
