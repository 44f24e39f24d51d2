"""The webhook port under hostile clients (issue 9, item 7): hundreds of idle sockets on 127.0.0.1,
a slowloris request head, a flood of rejected requests. The server stays reachable for a real
delivery, idle sockets are closed after the header timeout, the log stays bounded."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.events import EventBus, LogEvent
from actor_trainer.core.webhook_guard import MAX_CONNECTIONS
from actor_trainer.core.webhook_server import WebhookServer
from actor_trainer.core.webhook_tokens import new_webhook_token, token_matches, webhook_token_hash
from tests.waits import wait_until

pytestmark = pytest.mark.asyncio

IDLE_SOCKETS = 300
CAP = 32
HEADER_TIMEOUT_S = 1.0
LINES_PER_MINUTE = 10


class Running:
    def __init__(self, cap: int = CAP) -> None:
        self.token = new_webhook_token()
        self.delivered: list[JobStatus] = []
        self.logs: list[str] = []
        bus = EventBus()
        bus.subscribe(lambda e: self.logs.append(e.message) if isinstance(e, LogEvent) else None)
        digests = [webhook_token_hash(self.token)]

        async def on_delivery(tok: str, status: JobStatus) -> None:
            self.delivered.append(status)

        self.server = WebhookServer(
            is_known_token=lambda t: token_matches(t, digests),
            on_delivery=on_delivery,
            events=bus,
            max_connections=cap,
            header_timeout_s=HEADER_TIMEOUT_S,
            reject_lines_per_minute=LINES_PER_MINUTE,
        )

    async def deliver(self, job_id: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                f"{self.server.local_url}/api/training-webhook/{self.token}",
                content=json.dumps({"id": job_id, "status": "COMPLETED"}),
            )


@pytest_asyncio.fixture(params=[CAP, MAX_CONNECTIONS], ids=["cap32", "default-cap"])
async def running(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    run = Running(request.param)
    await run.server.start()
    try:
        yield run
    finally:
        await run.server.stop()


def open_idle(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        socks.append(s)
    return socks


def closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset by the server's abort
        return True


async def test_300_idle_sockets_neither_block_a_delivery_nor_stay_open(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="actor_trainer")
    guard = running.server.guard
    assert guard is not None
    socks = await asyncio.to_thread(open_idle, running.server.port, IDLE_SOCKETS)
    try:
        # The server accepted them all (the kernel did), but never holds more than the cap.
        cap = running.server.max_connections
        await wait_until(lambda: sum(closed_by_server(s) for s in socks) >= IDLE_SOCKETS - cap)
        assert guard.open_connections <= cap and guard.peak <= cap
        # Reachable for a real delivery while the idle ones are still open.
        answer = await running.deliver("job-through-the-flood")
        assert answer.status_code == 200
        await wait_until(lambda: [s.id for s in running.delivered] == ["job-through-the-flood"])
        # Every idle socket is closed after the header timeout.
        await wait_until(lambda: all(closed_by_server(s) for s in socks), within=HEADER_TIMEOUT_S + 10)
        await wait_until(lambda: guard.open_connections == 0)
    finally:
        for s in socks:
            s.close()
    # A bounded log: at most the per-minute lines and one summary, however many were refused.
    refused = [line for line in running.logs if line.startswith("Webhook server:")]
    assert 1 <= len(refused) <= LINES_PER_MINUTE
    running.server.rejects.flush()
    summary = [line for line in running.logs if "more refused than shown" in line]
    assert len(summary) == 1 and "idle connection" in summary[0]
    assert running.server.rejects.lines_written <= LINES_PER_MINUTE + 1
    assert len([r for r in caplog.records if r.name.startswith("actor_trainer")]) <= LINES_PER_MINUTE + 1


async def test_a_request_head_sent_byte_by_byte_is_cut_off(running: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.server.port)
    started = asyncio.get_running_loop().time()
    head = f"POST /api/training-webhook/{running.token} HTTP/1.1\r\nHost: x\r\n".encode()
    closed = False
    try:
        for byte in head * 50:  # far longer than the timeout at 20 ms a byte
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.02)
            if reader.at_eof():
                closed = True
                break
            try:
                closed = await asyncio.wait_for(reader.read(1), 0.001) == b""
            except TimeoutError:
                pass
            if closed:
                break
    except (ConnectionError, OSError):
        closed = True
    finally:
        writer.close()
    elapsed = asyncio.get_running_loop().time() - started
    assert closed, "the trickled head was never cut off"
    assert HEADER_TIMEOUT_S * 0.9 <= elapsed < HEADER_TIMEOUT_S + 5
    assert (await running.deliver("job-after")).status_code == 200


async def test_a_flood_of_rejected_requests_logs_a_bounded_number_of_lines(running: Running) -> None:
    # Fewer connections at once than the cap: this is about the log, not the cap.
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=8)) as client:
        url = f"{running.server.local_url}/api/training-webhook/{new_webhook_token()}"
        answers = await asyncio.gather(*(client.post(url, content=b"{}") for _ in range(200)))
    assert {a.status_code for a in answers} == {404}
    running.server.rejects.flush()
    rejected = [line for line in running.logs if line.startswith("Webhook rejected")]
    assert len(rejected) == LINES_PER_MINUTE
    summary = [line for line in running.logs if "more refused than shown" in line]
    assert len(summary) == 1 and f"{200 - LINES_PER_MINUTE} × HTTP 404" in summary[0]
    assert (await running.deliver("job-after")).status_code == 200


async def test_a_kept_alive_connection_idle_between_requests_is_closed(running: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.server.port)
    try:
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        # Then nothing: the server closes it after the keep-alive timeout.
        rest = await asyncio.wait_for(reader.read(), HEADER_TIMEOUT_S + 10)
        assert reader.at_eof() and b"HTTP/1.1" not in rest
    finally:
        writer.close()


async def test_malformed_http_logs_a_bounded_number_of_lines(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for i in range(60):
        reader, writer = await asyncio.open_connection("127.0.0.1", running.server.port)
        writer.write(
            b"GARBAGE \x00\x01 NOT HTTP\r\n\r\n" if i % 2 else b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n"
        )
        await writer.drain()
        await reader.read()
        writer.close()
    assert (await running.deliver("job-after")).status_code == 200
    running.server.rejects.flush()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) <= LINES_PER_MINUTE + 1, [r.getMessage() for r in loud]
    assert not any(r.exc_info for r in loud)  # no tracebacks
    assert any("malformed request" in r.getMessage() for r in loud)
