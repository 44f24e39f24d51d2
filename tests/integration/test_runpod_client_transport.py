"""RunPodClient when the network or the server misbehaves: refused connections, timeouts, junk."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.runpod_errors import RunPodBadResponseError, RunPodNetworkError, SubmissionUncertainError

BODY = {"input": {"training_config": {"model_name": "actor_0007_V2"}}}


@pytest.mark.asyncio
async def test_connection_refused_is_a_network_error_after_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed now: every connection is refused.
    async with RunPodClient(f"http://127.0.0.1:{port}/v2/x", "k", max_attempts=3, backoff_base=0.01) as client:
        with pytest.raises(RunPodNetworkError) as status_err:
            await client.status("job-e1")
        assert "3 attempts" in status_err.value.message
        # /run may be retried here (nothing was sent), and the error is certain: no job exists.
        with pytest.raises(RunPodNetworkError) as run_err:
            await client.run(BODY)
        assert "No job was submitted" in run_err.value.hint


# --- misbehaving servers -------------------------------------------------------------------------


class OddServer:
    """Answers /run and /status slowly (or /run with junk, `junk_run`), /health with text, /cancel with
    a wrong shape."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.junk_run = False

    async def slow(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 2)[-2] if "status" in request.path else "run"
        self.hits[name] = self.hits.get(name, 0) + 1
        if name == "run" and self.junk_run:
            return web.json_response({"accepted": True})
        await asyncio.sleep(0.5)
        return web.json_response({"id": "x-e1", "status": "IN_QUEUE"})

    async def text(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>gateway</html>", content_type="text/html")

    async def wrong_shape(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


@pytest_asyncio.fixture
async def odd_server() -> AsyncIterator[tuple[OddServer, str]]:
    odd = OddServer()
    app = web.Application()
    app.router.add_post("/v2/odd/run", odd.slow)
    app.router.add_get("/v2/odd/status/{id}", odd.slow)
    app.router.add_get("/v2/odd/health", odd.text)
    app.router.add_post("/v2/odd/cancel/{id}", odd.wrong_shape)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield odd, f"http://127.0.0.1:{port}/v2/odd"
    await runner.cleanup()


@pytest.mark.asyncio
async def test_timeout_on_run_is_uncertain_and_not_retried(odd_server: tuple[OddServer, str]) -> None:
    odd, url = odd_server
    async with RunPodClient(url, "k", timeout=0.2, max_attempts=3, backoff_base=0.01) as client:
        with pytest.raises(SubmissionUncertainError) as err:
            await client.run(BODY)
        assert "check" in err.value.hint
        assert odd.hits == {"run": 1}
        with pytest.raises(RunPodNetworkError):
            await client.status("job-e1")  # a timed-out status is only a network error, retried
        assert odd.hits["status"] == 3


@pytest.mark.asyncio
async def test_non_json_and_wrong_shape_are_bad_responses(odd_server: tuple[OddServer, str]) -> None:
    odd, url = odd_server
    odd.junk_run = True
    async with RunPodClient(url, "k", backoff_base=0.01) as client:
        with pytest.raises(RunPodBadResponseError, match="not JSON"):
            await client.health()
        with pytest.raises(RunPodBadResponseError, match="unexpected shape"):
            await client.cancel("job-e1")
        # On /run an unreadable success may still hide a created job: that is uncertain, not "bad".
        with pytest.raises(SubmissionUncertainError, match="unreadable"):
            await client.run(BODY)
    assert odd.hits == {"run": 1}
