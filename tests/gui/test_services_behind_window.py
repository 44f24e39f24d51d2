"""The window opens before the services run (issue 11, item 3): while they start, the status bar
says so, Start Training is disabled with that reason, and what needs them waits; once they run,
Start opens. A service that cannot start is shown in the window, not as a crash."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.settings import Settings
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.shell.main_window import MainWindow
from actor_trainer.runtime import Services
from tests.gui.test_main_window import window_opener
from tests.integration.e2e_support import sandbox_config
from tests.library_factory import make_library
from tests.waits import QT_WAIT_MS

ROOT = Path(__file__).resolve().parents[2]


class GatedServices(Services):
    """The real services, whose start waits at a gate first: a slow-starting service the test
    releases when it has seen the window. With `fail`, the start raises that error instead."""

    def __init__(self, *args: Any, fail: ActorTrainerError | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.fail = fail
        self.reached_gate = False

    async def _start(self, *, serve_webhooks: bool, poll: bool) -> None:
        self.reached_gate = True
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        await super()._start(serve_webhooks=serve_webhooks, poll=poll)


def _open(loop: asyncio.AbstractEventLoop, qtbot: QtBot, root: Path, **kwargs: Any) -> AppContext:
    """As the app does (actor_trainer/app.py): the library read, the services built but not started."""
    config = sandbox_config(make_library(root))
    services = GatedServices(config, **kwargs)
    services.starting_soon()
    ctx = AppContext(Settings(), config, services)

    async def read() -> None:
        for actor in services.library.load_actors():  # the bucket is a local folder: filled without services
            await services.storage.sync(actor.id, services.library.scan_training_data(actor.id).files)
        await ctx.load_library()

    done = loop.create_task(read())
    qtbot.waitUntil(done.done, timeout=QT_WAIT_MS)
    done.result()
    return ctx


@pytest.fixture
def gated(qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path) -> Iterator[AppContext]:
    ctx = _open(qloop, qtbot, tmp_path / "lib")
    yield ctx
    ctx.services.gate.set()  # type: ignore[attr-defined]
    stopped = qloop.create_task(ctx.shutdown(timeout_s=3.0))
    qtbot.waitUntil(stopped.done, timeout=QT_WAIT_MS)


def test_the_window_is_shown_before_the_services_and_start_waits_for_them(
    gated: AppContext, qloop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> None:
    services: GatedServices = gated.services  # type: ignore[assignment]
    opener = window_opener(gated, qtbot)
    window: MainWindow = next(opener)()
    starting = qloop.create_task(gated.start_services())
    qtbot.waitUntil(lambda: services.reached_gate, timeout=QT_WAIT_MS)

    # On screen, with the actors read from the library files, while the services have not started.
    assert window.isVisible() and len(gated.summaries()) == 2
    assert not services.is_ready and services.runs is None and services.webhook_server is None
    assert "Starting services…" in window.status.services_text()
    gated.select_actor(0)
    tab = window.training_tab
    qtbot.waitUntil(lambda: tab.disabled_reason() == "Starting services…", timeout=QT_WAIT_MS)
    assert not tab.start.button.isEnabled()
    assert "Starting services…" in tab.start.reason_label.text()
    # An action that needs them waits for them instead of failing: a tunnel check asked now
    # answers once they run.
    answers: list[Any] = []
    gated.check_endpoint(None, api_root="", api_key=None, on_done=answers.append, on_error=answers.append)
    assert gated.tasks.is_running("check-endpoint")

    with qtbot.waitSignal(gated.servicesReady, timeout=QT_WAIT_MS):
        services.gate.set()
    qtbot.waitUntil(starting.done, timeout=QT_WAIT_MS)
    starting.result()
    assert services.is_ready and services.runs is not None
    assert window.status.services_text() == ""
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)  # the training data is in the bucket
    assert tab.start.button.isEnabled()
    qtbot.waitUntil(lambda: bool(answers), timeout=QT_WAIT_MS)
    assert not isinstance(answers[0], BaseException), answers[0]
    next(opener, None)


def test_services_that_cannot_start_are_shown_in_the_window(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path
) -> None:
    error = ActorTrainerError("The webhook port 8787 is in use.", "Close the other program or choose another port.")
    ctx = _open(qloop, qtbot, tmp_path / "lib", fail=error)
    services: GatedServices = ctx.services  # type: ignore[assignment]
    opener = window_opener(ctx, qtbot)
    window: MainWindow = next(opener)()
    ctx.select_actor(0)
    starting = qloop.create_task(ctx.start_services())
    with qtbot.waitSignal(ctx.servicesFailed, timeout=QT_WAIT_MS) as failed:
        services.gate.set()
    qtbot.waitUntil(starting.done, timeout=QT_WAIT_MS)
    assert starting.exception() is error
    assert failed.args == [error.message, error.hint]
    assert "Services could not start" in window.status.services_text()
    tab = window.training_tab
    qtbot.waitUntil(lambda: tab.disabled_reason() == error.message, timeout=QT_WAIT_MS)
    assert not tab.start.button.isEnabled()
    next(opener, None)
    stopped = qloop.create_task(ctx.shutdown(timeout_s=3.0))
    qtbot.waitUntil(stopped.done, timeout=QT_WAIT_MS)


@pytest.mark.slow
def test_the_app_logs_its_window_before_its_services(tmp_path: Path) -> None:
    """The real start-up (actor_trainer/app.py): "window shown", then "services ready"."""
    import os

    from actor_trainer.core.settings import log_dir

    library = make_library(tmp_path / "lib")
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        ACTOR_TRAINER_QUIT_AFTER_S="3",
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    done = subprocess.run(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(library)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = (log_dir() / "actor-trainer.log").read_text(encoding="utf-8").splitlines()
    shown = next(i for i, line in enumerate(lines) if "window shown" in line)
    ready = next(i for i, line in enumerate(lines) if "services ready" in line)
    assert shown < ready, lines
