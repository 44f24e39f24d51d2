"""The estimate under Start Training (issue 13, item 2): before any history it is the GPU class's
default, the run records it, and once the run has finished the line learns from it and says how
close the earlier estimate came. Real library, sandbox endpoint, bucket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.training.training_tab import ActorTrainingTab
from tests.gui.contexts import close_context, open_context
from tests.waits import QT_WAIT_MS


@pytest.fixture
def ctx(qloop: asyncio.AbstractEventLoop, qtbot: Any, tmp_path: Path) -> Iterator[AppContext]:
    context = open_context(qloop, qtbot, tmp_path / "lib", start=True, sandbox_duration_s=0.8, gpu_class="AMPERE_80")
    yield context
    close_context(qloop, qtbot, context)


def test_the_estimate_line_learns_from_a_finished_run(ctx: AppContext, qtbot: QtBot) -> None:
    tab = ActorTrainingTab(ctx)
    qtbot.addWidget(tab)
    tab.show()
    ctx.select_actor(0)
    label = tab.start.estimate_label
    qtbot.waitUntil(lambda: label.isVisible() and "on the endpoint" in label.text(), timeout=QT_WAIT_MS)
    assert label.text().startswith("≈ ") and "$" in label.text()
    assert "Default for A100 80 GB, no history yet" in label.toolTip()

    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    with qtbot.waitSignal(tab.trainingStarted, timeout=QT_WAIT_MS) as started:
        assert tab.start.start_training() is True
    ref = started.args[1]
    version = ctx.library.get_version(0, ref)
    assert version.estimate is not None and "no history yet" in version.estimate.basis  # recorded at submit

    qtbot.waitUntil(lambda: ctx.library.get_version(0, ref).status is VersionStatus.COMPLETED, timeout=QT_WAIT_MS)
    done = ctx.library.get_version(0, ref)
    assert done.executionTime is not None and done.actual_seconds is not None
    tab.start.recheck()
    qtbot.waitUntil(lambda: "From 1 run on this endpoint at 512 px, batch 1" in label.toolTip(), timeout=QT_WAIT_MS)
    assert "earlier estimates, the last run: within ±" in label.text()
