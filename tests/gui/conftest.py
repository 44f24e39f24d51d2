"""Widget tests: a qasync event loop installed as the running asyncio loop, never exec()'d.

qtbot's waits process Qt events, and with them asyncio callbacks, tasks, httpx calls and executor
results (docs/development.md, "Async Qt in tests"). Never call loop.stop() or QApplication.exit():
that would make every later exec() return at once.

Two contexts (tests/gui/contexts.py): `light_ctx` for widgets that need no running service,
`gui_ctx` with the services started where a test drives a run (submit, cancel, retry, check,
preflight, tunnel, connection tests). Both are real AppContexts on a fresh library.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from actor_trainer.gui.context import AppContext
from tests.gui.contexts import close_context, open_context


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
def gui_ctx(qloop: asyncio.AbstractEventLoop, qtbot: Any, tmp_path: Path) -> Iterator[AppContext]:
    """The full context, for tests that drive a run (tests/gui/contexts.py)."""
    ctx = open_context(qloop, qtbot, tmp_path / "lib", start=True)
    yield ctx
    close_context(qloop, qtbot, ctx)


@pytest.fixture
def light_ctx(qloop: asyncio.AbstractEventLoop, qtbot: Any, tmp_path: Path) -> Iterator[AppContext]:
    """The light context: the same AppContext over Services that are never started (contexts.py)."""
    ctx = open_context(qloop, qtbot, tmp_path / "lib", start=False)
    yield ctx
    close_context(qloop, qtbot, ctx)
