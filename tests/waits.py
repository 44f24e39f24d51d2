"""How long a test waits, in one place, and waiting on conditions instead of sleeping.

`QT_WAIT_MS` bounds every `qtbot.waitUntil` / `qtbot.waitSignal` of the suite; `WAIT_S` bounds the
asyncio polls. A wait returns as soon as its condition holds, so a generous bound costs nothing when
the code works; it only decides how long a broken test hangs before it fails (on a loaded 2-core CI
machine a sandbox run with its webhook server can take several seconds).

A test that checks that something does NOT happen waits for a positive sign that the moment has
passed (a later event, the server's own record that it finished) and then checks; never a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

QT_WAIT_MS = 20_000
WAIT_S = QT_WAIT_MS / 1000


async def wait_until(predicate: Callable[[], bool], within: float = WAIT_S, interval: float = 0.02) -> None:
    """Poll `predicate` until it holds; fail the test after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within:g} s")
        await asyncio.sleep(interval)


def tasks_named(name: str) -> list[asyncio.Task[object]]:
    """The running loop's unfinished tasks called `name` (the sandbox names its job, worker and
    webhook tasks `sandbox-job-<id>`, `sandbox-worker-<id>`, `sandbox-webhook-<id>`)."""
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]
