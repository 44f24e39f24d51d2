"""ngrok as it is now (issue 9, item 9), with real pyngrok 9 against the stand-in agent: the auth
token reaches the agent through its environment, never its command line; an agent older than 3.30
(no /api/endpoints) is refused with what to do; ERR_NGROK_334 and the session limits become
sentences that say how to fix them."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pyngrok import process
from pyngrok.exception import PyngrokNgrokError

from actor_trainer.core.events import EventBus
from actor_trainer.core.tunnel import (
    MIN_AGENT_VERSION,
    TunnelService,
    TunnelState,
    agent_version,
    tunnel_error_from,
)
from actor_trainer.core.tunnel_errors import AgentTooOldError, EndpointOnlineError, SessionLimitError
from actor_trainer.sandbox.ngrok_agent import VERSION_ENV
from tests.fixtures.ngrok import FAIL_ENV, FakeNgrok, echo_upstream, fake_ngrok_fixture  # noqa: F401


@pytest_asyncio.fixture
async def service(fake_ngrok: FakeNgrok) -> AsyncIterator[TunnelService]:
    svc = TunnelService(
        EventBus(),
        auth_token=fake_ngrok.token,
        ngrok_path=fake_ngrok.path,
        config_path=fake_ngrok.config_path,
        label="sandbox tunnel (simulated)",
    )
    try:
        yield svc
    finally:
        await svc.stop()


def what_ps_shows(pid: int) -> tuple[bytes, bytes, str]:
    """The agent's command line and environment, and every process's arguments as `ps` lists them."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return cmdline, environ, ps


def test_pyngrok_is_9_or_newer() -> None:
    assert int(importlib.metadata.version("pyngrok").split(".")[0]) >= 9
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"pyngrok>=9"' in pyproject


@pytest.mark.asyncio
async def test_the_token_is_in_the_agents_environment_not_its_command_line(
    service: TunnelService, fake_ngrok: FakeNgrok
) -> None:
    async with echo_upstream() as upstream:
        await service.start(upstream.port)
        pid = service.agent_pid
        assert pid is not None and service.state is TunnelState.RUNNING
        cmdline, environ, ps = await asyncio.to_thread(what_ps_shows, pid)
        assert b"start" in cmdline and fake_ngrok.token.encode() not in cmdline
        assert f"NGROK_AUTHTOKEN={fake_ngrok.token}".encode() in environ
        assert fake_ngrok.token not in ps
        # The app's own environment is as it was (the variable was set only while the agent started).
        assert "NGROK_AUTHTOKEN" not in os.environ


@pytest.mark.asyncio
async def test_an_agent_older_than_3_30_is_refused_with_what_to_do(
    service: TunnelService, fake_ngrok: FakeNgrok, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert agent_version(fake_ngrok.path)[:2] >= MIN_AGENT_VERSION  # type: ignore[index]
    monkeypatch.setenv(VERSION_ENV, "3.19.1")
    os.utime(fake_ngrok.path)  # a "new" binary: the version is asked again
    with pytest.raises(AgentTooOldError) as raised:
        await service.start(9)
    message = str(raised.value)
    assert "version 3.19.1" in message and "3.30 or newer" in message and "update" in message
    assert service.state is TunnelState.ERROR
    assert not process.is_process_running(str(fake_ngrok.path))


@pytest.mark.asyncio
async def test_endpoint_already_online_is_a_sentence_with_the_fix(
    service: TunnelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAIL_ENV, "endpoint_online")
    async with echo_upstream() as upstream:
        with pytest.raises(EndpointOnlineError) as raised:
            await service.start(upstream.port)
    message = str(raised.value)
    assert "ERR_NGROK_334" in message and "another copy of this app" in message
    assert "dashboard.ngrok.com/agents" in message
    assert service.state is TunnelState.ERROR


def test_session_limit_errors_say_what_to_stop() -> None:
    for code in ("ERR_NGROK_108", "ERR_NGROK_348"):
        error = tunnel_error_from(
            PyngrokNgrokError(
                "The ngrok process errored on start.", [], f"authentication failed: limited.\r\n\r\n{code}\r\n"
            )
        )
        assert isinstance(error, SessionLimitError)
        assert code in str(error) and "another copy of this app" in str(error) and "/agents" in str(error)
    endpoints = tunnel_error_from(PyngrokNgrokError("x", [], "ERR_NGROK_324"))
    assert isinstance(endpoints, SessionLimitError) and "ERR_NGROK_324" in str(endpoints)
