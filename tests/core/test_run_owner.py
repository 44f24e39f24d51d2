"""Whether the process that runs a sandbox job is still there (core/run_owner.py), over real
sockets: the owner's own endpoint, a port nothing listens on, a server that never answers."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from actor_trainer.core.models import RunOwner
from actor_trainer.core.run_owner import OwnerState, owner_state, pid_exists
from actor_trainer.sandbox.server import SandboxEndpoint


async def _nothing(*_args: object) -> dict[str, object]:
    return {}


def _owner(url: str, token: str = "t" * 32, pid: int | None = None) -> RunOwner:
    return RunOwner(pid=os.getpid() if pid is None else pid, token=token, url=url)


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections and never answers (a hung owner)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v2/sandbox"


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v2/sandbox"


@pytest.mark.asyncio
async def test_the_owners_endpoint_answering_with_its_token_is_alive() -> None:
    endpoint = SandboxEndpoint(_nothing)
    url = await endpoint.start()
    try:
        me = _owner("http://127.0.0.1:1/v2/sandbox", token="m" * 32)
        assert await owner_state(_owner(url, token=endpoint.owner_token), me) is OwnerState.ALIVE
        # Another sandbox now on that port (the owner went, a new one took the port): gone.
        assert await owner_state(_owner(url, token="x" * 32), me) is OwnerState.GONE
        assert await owner_state(me, me) is OwnerState.MINE
    finally:
        await endpoint.stop()


@pytest.mark.asyncio
async def test_nothing_listening_or_a_dead_pid_is_gone() -> None:
    assert await owner_state(_owner(_closed_port_url()), None) is OwnerState.GONE
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()
    if sys.platform != "win32":
        assert pid_exists(child.pid) is False and pid_exists(os.getpid()) is True
        assert await owner_state(_owner("http://127.0.0.1:1/v2/sandbox", pid=child.pid), None) is OwnerState.GONE


@pytest.mark.asyncio
async def test_an_owner_that_does_not_answer_in_time_is_unknown(silent_url: str) -> None:
    assert await owner_state(_owner(silent_url), None, timeout_s=0.3) is OwnerState.UNKNOWN
