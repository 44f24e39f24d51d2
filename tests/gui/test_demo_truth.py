"""Issue 10, item 6: the demo library tells the truth.

The demo's completed versions point at real files in the sandbox's bucket (Download works); a
version keeps its loss history, so a relaunched app draws an earlier run's curve; the chart shows
the last step, a legend and whole axis labels; "random weights" is said only where a LoRA exists."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from actor_trainer.core.lora_file import read_lora_info
from actor_trainer.core.models import TrainingParameters, VersionStatus
from actor_trainer.core.storage.local import path_from_file_url
from actor_trainer.gui.console.console_panel import ConsolePanel
from actor_trainer.gui.console.loss_chart import LossChart
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.versions.versions_panel import VersionsPanel
from actor_trainer.sandbox.demo_bucket import DEMO_BUCKET_URL
from tests.gui.contexts import close_context
from tests.waits import QT_WAIT_MS

DATA = Path(__file__).resolve().parents[2] / "data"
FAST = TrainingParameters(max_train_steps=60, network_dim=4, network_alpha=4)


def start_context(loop: asyncio.AbstractEventLoop, qtbot: QtBot, root: Path, **overrides: object) -> AppContext:
    """An AppContext whose services started on the library at `root` (as the app does)."""
    from actor_trainer.core.settings import Settings
    from actor_trainer.runtime import Services
    from tests.integration.e2e_support import sandbox_config

    services = Services(sandbox_config(root, **overrides))
    ctx = AppContext(Settings(), services.config, services)

    async def open_() -> None:
        await services.start()
        await ctx.load_library()

    opened = loop.create_task(open_())
    qtbot.waitUntil(opened.done, timeout=QT_WAIT_MS)
    opened.result()
    return ctx


@pytest.fixture
def demo_root(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(DATA, root)
    return root


@pytest.fixture
def demo_ctx(qloop: asyncio.AbstractEventLoop, qtbot: QtBot, demo_root: Path) -> Iterator[AppContext]:
    ctx = start_context(qloop, qtbot, demo_root)
    yield ctx
    close_context(qloop, qtbot, ctx)


def test_demo_versions_point_at_real_loras_and_download_works(
    demo_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    library = demo_ctx.library
    completed = [
        (a.id, v)
        for a in library.load_actors()
        for v in library.load_versions(a.id)
        if v.status is VersionStatus.COMPLETED
    ]
    assert len(completed) >= 5
    for _actor, version in completed:
        assert version.loraUrl and version.loraUrl.startswith("file://"), version.loraUrl
        info = read_lora_info(path_from_file_url(version.loraUrl))
        assert info.rank == version.parameters.network_dim and info.is_simulation
    for actor in library.load_actors():
        for version in library.load_versions(actor.id):
            assert not (version.outputUrl or "").startswith(DEMO_BUCKET_URL)
    validated = library.get_actor(0).validated_lora_model
    assert validated is not None and validated.lora_url == library.get_version(0, "V3").loraUrl
    # A failed run left no file behind, and none was invented.
    failed = library.get_version(0, "V1")
    assert failed.status is VersionStatus.FAILED and failed.loraUrl is None
    assert failed.outputUrl is not None and not path_from_file_url(failed.outputUrl).exists()

    # Download LoRA on actor 0000's good version, as the versions panel does it.
    panel = VersionsPanel(demo_ctx)
    qtbot.addWidget(panel)
    panel.show()
    demo_ctx.select_actor(0)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=QT_WAIT_MS)
    panel.select_version("V3")
    dest = tmp_path / "saved" / "ana.safetensors"
    dialog = panel.version_actions.download_selected(dest)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.info is not None, timeout=QT_WAIT_MS)
    assert dest.is_file() and dialog.info.rank == 16  # type: ignore[union-attr]
    assert panel.details.sandbox_note.isVisible()


def test_seeding_is_idempotent_on_the_next_start(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, demo_root: Path
) -> None:
    from actor_trainer.sandbox.demo_bucket import seed_demo_bucket

    first = start_context(qloop, qtbot, demo_root)
    url = first.library.get_version(0, "V3").loraUrl
    mtime = path_from_file_url(url or "").stat().st_mtime_ns
    close_context(qloop, qtbot, first)
    second = start_context(qloop, qtbot, demo_root)
    try:
        assert second.library.get_version(0, "V3").loraUrl == url
        assert path_from_file_url(url or "").stat().st_mtime_ns == mtime
        assert seed_demo_bucket(second.library, second.services.storage).files_written == 0
    finally:
        close_context(qloop, qtbot, second)


def test_a_relaunched_app_draws_an_earlier_runs_curve(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, gui_ctx: AppContext
) -> None:
    from actor_trainer.sandbox.worker import make_worker

    assert gui_ctx.services.sandbox is not None
    gui_ctx.services.sandbox.worker = make_worker(gui_ctx.services.storage, duration_s=2.5)  # several polls
    ended: list[Any] = []
    gui_ctx.bridge.versionChanged.connect(lambda _a, v: ended.append(v) if v.status.is_terminal else None)
    gui_ctx.tasks.start("run", gui_ctx.orchestrator.submit(0, FAST, description="curve"))
    qtbot.waitUntil(lambda: bool(ended), timeout=QT_WAIT_MS * 2)
    saved = gui_ctx.library.get_version(0, ended[-1].key)
    assert saved.status is VersionStatus.COMPLETED
    history = saved.lossHistory or []
    assert len(history) >= 3 and [s for s, _ in history] == sorted({s for s, _ in history})

    # "Relaunch": a new context on the same library, with no progress seen in this session.
    relaunched = start_context(qloop, qtbot, gui_ctx.library.root)
    try:
        console = ConsolePanel(relaunched)
        qtbot.addWidget(console)
        console.resize(520, 700)
        console.show()
        relaunched.select_actor(0)
        qtbot.waitUntil(lambda: console.shown_version() is not None, timeout=QT_WAIT_MS)
        assert [(s, pytest.approx(v)) for s, v in console.loss_chart.points()] == [
            (s, pytest.approx(v)) for s, v in history
        ]
    finally:
        close_context(qloop, qtbot, relaunched)


def test_the_chart_shows_the_last_step_a_legend_and_whole_labels(qtbot: QtBot) -> None:
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.resize(420, 150)
    chart.set_points([(s, 0.3 - s / 20000) for s in range(25, 1800, 25)] + [(1800, 0.2)], total=2000)
    chart.show()
    chart.grab()  # paints
    labels = chart.x_labels()
    texts = [t for t, _ in labels]
    assert "1,800" in texts  # the last step has its label
    for _text, rect in labels:
        assert rect.left() >= 0 and rect.right() <= chart.width(), (_text, rect)  # nothing cut at the edges
    rects = [r for _, r in labels]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    assert chart.legend_rect() is not None
    assert chart.legend() == ("reported", "smoothed")
    # At the run's end (last step = total) the right-hand label is the last step, whole.
    chart.set_points([(s, 0.3 - s / 20000) for s in range(25, 2001, 25)], total=2000)
    chart.grab()
    last_text, last_rect = max(chart.x_labels(), key=lambda item: item[1].right())
    assert last_text == "2,000" and last_rect.right() <= chart.width()


def test_random_weights_only_where_a_lora_exists(demo_ctx: AppContext, qtbot: QtBot) -> None:
    console = ConsolePanel(demo_ctx)
    qtbot.addWidget(console)
    console.show()
    demo_ctx.select_actor(0)
    qtbot.waitUntil(lambda: console.shown_version() is not None, timeout=QT_WAIT_MS)
    versions = {v.name: v for v in demo_ctx.library.load_versions(0)}
    console._show(versions["V1"])  # failed: no LoRA
    assert "random weights" not in console.status_detail()
    console._show(versions["V3"])  # completed: a LoRA with random weights
    assert "random weights" in console.status_detail()


def test_version_details_say_random_weights_only_with_a_lora(demo_ctx: AppContext, qtbot: QtBot) -> None:
    panel = VersionsPanel(demo_ctx)
    qtbot.addWidget(panel)
    panel.show()
    demo_ctx.select_actor(0)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=QT_WAIT_MS)
    panel.select_version("V1")  # failed: no LoRA
    note = panel.details.sandbox_note
    assert note.isVisible() and "random weights" not in note.text() and "SANDBOX" in note.text()
    panel.select_version("V3")  # completed: its LoRA has random weights
    assert note.isVisible() and "random weights" in note.text()
