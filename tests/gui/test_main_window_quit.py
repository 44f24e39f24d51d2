"""Quitting the real main window (Ctrl+Q) while runs are in flight asks first and says what happens
to them; with nothing in flight it quits at once. A real AppContext on the sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import TrainingParameters, VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.shell.main_window import MainWindow
from tests.gui.contexts import close_context, open_context
from tests.gui.test_main_window import window_opener
from tests.waits import QT_WAIT_MS

ACTOR_0 = "0000_european_16_male"


@pytest.fixture
def slow_ctx(qloop: asyncio.AbstractEventLoop, qtbot: Any, tmp_path: Path) -> Iterator[AppContext]:
    """The full context with a simulated run long enough to quit in the middle of it."""
    ctx = open_context(qloop, qtbot, tmp_path / "lib", start=True, sandbox_duration_s=120.0)
    yield ctx
    close_context(qloop, qtbot, ctx)


def test_ctrl_q_mid_run_asks_saying_the_sandbox_run_stops_with_the_app(slow_ctx: AppContext, qtbot: QtBot) -> None:
    opener = window_opener(slow_ctx, qtbot)
    window: MainWindow = next(opener)()
    try:
        asked: list[tuple[str, str]] = []
        answer = [False]

        def confirm(title: str, text: str) -> bool:
            asked.append((title, text))
            return answer[0]

        window.confirm_quit = confirm
        closes: list[bool] = []
        window.closeRequested.connect(lambda: closes.append(True))
        slow_ctx.tasks.start("test-submit", slow_ctx.orchestrator.submit(0, TrainingParameters(max_train_steps=200)))
        qtbot.waitUntil(
            lambda: any(v.status is VersionStatus.IN_PROGRESS for _n, v in window.runs_in_flight()), timeout=QT_WAIT_MS
        )

        assert window.actions_.quit.shortcut().toString() == "Ctrl+Q"
        window.actions_.quit.trigger()  # "Keep the app open"
        assert len(asked) == 1 and closes == [] and window.isVisible()
        title, text = asked[0]
        assert title == "Quit with 1 run(s) in flight?"
        assert f"Stops with the app: V1 of {ACTOR_0}." in text
        assert "interrupted: the sandbox stopped with the app" in text
        assert "RunPod" not in text  # nothing goes on anywhere: it is the sandbox

        answer[0] = True
        with qtbot.waitSignal(window.closeRequested, timeout=QT_WAIT_MS):
            window.actions_.quit.trigger()
        assert len(asked) == 2 and not window.isVisible()
    finally:
        next(opener, None)


def test_quit_with_nothing_in_flight_does_not_ask(slow_ctx: AppContext, qtbot: QtBot) -> None:
    opener = window_opener(slow_ctx, qtbot)
    window: MainWindow = next(opener)()
    try:
        asked: list[str] = []
        window.confirm_quit = lambda title, text: asked.append(title) or False
        qtbot.waitUntil(lambda: not slow_ctx.tasks.running_names(), timeout=QT_WAIT_MS)
        with qtbot.waitSignal(window.closeRequested, timeout=QT_WAIT_MS):
            window.actions_.quit.trigger()
        assert asked == [] and window.runs_in_flight() == []
    finally:
        next(opener, None)


def test_runs_of_a_real_endpoint_go_on_at_runpod(slow_ctx: AppContext, qtbot: QtBot) -> None:
    """A run without a sandbox owner (a RunPod endpoint's) is said to go on and be picked up."""
    from actor_trainer.core.events import VersionChanged
    from actor_trainer.core.models import TrainingVersion

    opener = window_opener(slow_ctx, qtbot)
    window: MainWindow = next(opener)()
    try:
        remote = TrainingVersion(id="job-1", name="V7", status=VersionStatus.IN_PROGRESS, endpoint="abc123")
        slow_ctx.events.emit(VersionChanged(actor_id=1, version=remote))
        qtbot.waitUntil(lambda: bool(window.runs_in_flight()), timeout=QT_WAIT_MS)
        question = window.quit_question()
        assert question is not None
        assert "Goes on at RunPod (and is billed) while the app is closed: V7 of 0001_african_34_female." in question[1]
        assert "picks these runs up again" in question[1] and "Stops with the app" not in question[1]
    finally:
        next(opener, None)
