"""Runs that end, or whose sandbox went, somewhere else (docs/architecture.md, "The sandbox"):
the poller announces a followed run the library says is over and `train --wait`'s watcher ends;
at start-up a sandbox run whose owner is gone is interrupted at once, and one whose owner does not
answer is left alone. Real services on the sandbox, real sockets."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from actor_trainer.commands.run_cmds import _RunWatcher
from actor_trainer.core.library import Library
from actor_trainer.core.models import VersionStatus
from actor_trainer.runtime import Services
from tests.integration.e2e_support import FAST_PARAMS, running, sandbox_config
from tests.library_factory import make_library
from tests.waits import wait_until

POLL_S = 0.5


@pytest.mark.asyncio
async def test_a_run_completed_by_another_process_ends_the_wait_within_one_poll(tmp_path: Path) -> None:
    async with running(tmp_path, sandbox_duration_s=60.0, poll_seconds=POLL_S) as (services, recorder):
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        watcher = _RunWatcher(services)
        waiting = asyncio.create_task(watcher.wait(0, version.key))
        await wait_until(lambda: services.poller is not None and services.poller.checks_made > 0)
        assert not waiting.done()

        # Another process (another window, `actor-trainer status`) records the end in the library.
        other = Library(services.library.root)

        def complete(v: object) -> None:
            v.loraUrl = v.outputUrl  # type: ignore[attr-defined]
            v.move_to(VersionStatus.COMPLETED)  # type: ignore[attr-defined]

        await asyncio.to_thread(other.update_version, 0, version.key, complete)
        loop = asyncio.get_running_loop()
        written_at = loop.time()
        final = await asyncio.wait_for(waiting, timeout=10)
        assert final.status is VersionStatus.COMPLETED
        assert loop.time() - written_at < 2 * POLL_S + 2.0  # one interval, plus a loaded machine's slack
        # The poller announced it to everyone listening (the console, the title), not only the watcher.
        await wait_until(lambda: bool(recorder.terminal_changes(version.key)))
        assert recorder.terminal_changes(version.key)[-1].status is VersionStatus.COMPLETED
        assert any("ended elsewhere: completed" in line for line in recorder.logs())


@pytest.mark.asyncio
async def test_start_up_interrupts_a_dead_sandboxs_run_and_leaves_an_unanswering_one_alone(tmp_path: Path) -> None:
    with socket.socket() as silent, socket.socket() as closed:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        # (the `closed` socket is closed here: nothing listens on its port any more)
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/v2/sandbox"

        def in_flight(job_id: str, url: str) -> dict[str, object]:
            return {
                "id": job_id,
                "requestId": f"req-{job_id}",
                "name": "V1",
                "status": "in_progress",
                "endpoint": "SANDBOX",
                "runpodStatus": "IN_PROGRESS",
                "timestamp": "2026-01-15T10:30:00Z",
                "progress": {"phase": "training", "step": 12, "total": 40},
                "outputUrl": f"file:///nowhere/{job_id}.safetensors",
                "owner": {"pid": os.getpid(), "token": "o" * 32, "url": url},
            }

        root = make_library(
            tmp_path / "lib",
            versions={
                0: [in_flight("hung-job", silent_url)],
                1: [in_flight("dead-job", f"http://127.0.0.1:{closed_port}/v2/sandbox")],
            },
        )
        services = Services(sandbox_config(root, poll_seconds=30.0))
        await services.start()
        try:
            library = services.library
            await wait_until(lambda: library.get_version(1, "dead-job").status is VersionStatus.FAILED)
            dead = library.get_version(1, "dead-job")
            assert dead.error is not None and dead.error.message.startswith(
                "Interrupted: the sandbox stopped with the app"
            )
            assert dead.runpodStatus is None  # the details no longer say IN_PROGRESS
            assert services.poller is not None
            await wait_until(lambda: services.poller is not None and services.poller.checks_made >= 2)
            hung = library.get_version(0, "hung-job")
            assert hung.status is VersionStatus.IN_PROGRESS and hung.error is None  # never touched
        finally:
            await services.stop()


@pytest.mark.asyncio
async def test_a_run_of_another_window_cancelled_there_is_announced_here(tmp_path: Path) -> None:
    """Two apps on one library (here: two Services in one process, each with its own sandbox): the
    second follows the first's run through the first's endpoint, and learns that it was cancelled."""
    async with running(tmp_path, sandbox_duration_s=60.0, poll_seconds=POLL_S) as (owner, _):
        version = await owner.require_orchestrator().submit(0, FAST_PARAMS)
        other = Services(sandbox_config(owner.library.root, poll_seconds=POLL_S))
        seen: list[VersionStatus] = []
        other.events.subscribe(
            lambda e: (
                seen.append(e.version.status)
                if getattr(e, "version", None) is not None and e.version.key == version.key
                else None
            )
        )
        await other.start()
        try:
            assert other.poller is not None
            checks = other.poller.checks_made
            await wait_until(lambda: other.poller is not None and other.poller.checks_made > checks + 1)
            assert other.library.get_version(0, version.key).status is VersionStatus.IN_PROGRESS  # not touched
            cancelled = await owner.require_runs().cancel(0, version.key)
            assert cancelled.status is VersionStatus.CANCELLED
            await wait_until(lambda: VersionStatus.CANCELLED in seen)
        finally:
            await other.stop()
