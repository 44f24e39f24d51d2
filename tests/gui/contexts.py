"""Building the AppContext a widget test runs on (the fixtures are in conftest.py).

The light context is a real AppContext whose Services are never started: the library, settings,
events and bridge, task runner, actor model, current versions and the sync against the local
bucket all work; nothing listens on a port, polls or runs a job, and whatever needs the RunPod
client or the orchestrator fails loudly ("Services.start() was not awaited"). The full context
starts them (the sandbox endpoint with fast timings, the webhook server, the poller, the tunnel
service), for the tests that drive a run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from actor_trainer.gui.context import AppContext
from tests.waits import QT_WAIT_MS


def open_context(
    loop: asyncio.AbstractEventLoop, qtbot: Any, root: Path, *, start: bool, sync: bool = True, **overrides: object
) -> AppContext:
    """An AppContext on a fresh library in `root` (two actors, six images each; with `sync`, already
    in the sandbox bucket), sandbox configuration with `overrides`; services started if `start`."""
    from actor_trainer.core.settings import Settings
    from actor_trainer.runtime import Services
    from tests.integration.e2e_support import sandbox_config
    from tests.library_factory import make_library

    config = sandbox_config(make_library(root), **overrides)
    services = Services(config)
    ctx = AppContext(Settings(), config, services)

    async def open_() -> None:
        if start:
            await services.start()
        if sync:  # the bucket is a local folder: no service is needed to fill it
            for actor in services.library.load_actors():
                scan = services.library.scan_training_data(actor.id)
                await services.storage.sync(actor.id, scan.files)
        await ctx.load_library()

    opened = loop.create_task(open_())
    qtbot.waitUntil(opened.done, timeout=QT_WAIT_MS)
    opened.result()
    return ctx


def close_context(loop: asyncio.AbstractEventLoop, qtbot: Any, ctx: AppContext) -> None:
    stopped = loop.create_task(ctx.shutdown(timeout_s=3.0))
    qtbot.waitUntil(stopped.done, timeout=QT_WAIT_MS)
    stopped.result()
