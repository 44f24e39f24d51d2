"""Widget tests: a qasync event loop installed as the running asyncio loop, never exec()'d.

qtbot's waits process Qt events, and with them asyncio callbacks, tasks, httpx calls and executor
results (docs/development.md, "Async Qt in tests"). Never call loop.stop() or QApplication.exit():
that would make every later exec() return at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import qasync
from PySide6.QtWidgets import QApplication


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    loop = qasync.QEventLoop(qapp, already_running=True)
    # A plain bounded pool, as the app uses (qasync's own QThreadExecutor outlives the test).
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="test-worker")
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        deadline = loop.time() + 5.0
        while any(not t.done() for t in pending) and loop.time() < deadline:
            qapp.processEvents()
        executor.shutdown(wait=True, cancel_futures=True)
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)


@pytest.fixture
def gui_ctx(qloop: asyncio.AbstractEventLoop, qtbot, tmp_path):  # type: ignore[no-untyped-def]
    """A real AppContext on a fresh library, running the sandbox (fast timings), services started.

    The library has two actors with six images each (tests.library_factory.make_library), already
    synced to the sandbox bucket.
    """
    from actor_trainer.runtime import Services
    from actor_trainer.core.settings import Settings
    from actor_trainer.gui.context import AppContext
    from tests.integration.e2e_support import sandbox_config
    from tests.library_factory import make_library

    root = make_library(tmp_path / "lib")
    config = sandbox_config(root)
    services = Services(config)
    ctx = AppContext(Settings(), config, services)

    async def start() -> None:
        await services.start()
        for actor in services.library.load_actors():
            scan = services.library.scan_training_data(actor.id)
            await services.storage.sync(actor.id, scan.files)
        await ctx.load_library()

    started = qloop.create_task(start())
    qtbot.waitUntil(started.done, timeout=15000)
    started.result()
    yield ctx
    stopped = qloop.create_task(ctx.shutdown(timeout_s=3.0))
    qtbot.waitUntil(stopped.done, timeout=15000)
