"""The Console tab against a real sandboxed AppContext: runs followed live, abort, check, the log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from actor_trainer.core.events import LogLevel
from actor_trainer.core.models import Progress, TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.settings import log_dir
from actor_trainer.gui.console.console_log_model import ConsoleLine, ConsoleLogModel
from actor_trainer.gui.console.console_panel import ConsolePanel, pick_current_run
from actor_trainer.gui.console.run_progress import RunProgressWidget, StepRateEstimator
from actor_trainer.gui.context import AppContext
from actor_trainer.sandbox.worker import make_worker
from tests.waits import QT_WAIT_MS

FAST = TrainingParameters(max_train_steps=40, network_dim=4, network_alpha=4)


def open_panel(ctx: AppContext, qtbot: QtBot) -> ConsolePanel:
    console = ConsolePanel(ctx)
    qtbot.addWidget(console)
    console.resize(520, 700)
    console.show()
    ctx.select_actor(0)
    qtbot.waitUntil(lambda: not ctx.tasks.is_running(f"console-versions-{id(console)}"), timeout=QT_WAIT_MS)
    return console


@pytest.fixture
def panel(gui_ctx: AppContext, qtbot: QtBot) -> Iterator[ConsolePanel]:
    """The console over the full context (services started), for tests that drive a run."""
    yield open_panel(gui_ctx, qtbot)
    gui_ctx.services.sandbox.faults.stuck_in_queue = False  # type: ignore[union-attr]


@pytest.fixture
def light_panel(light_ctx: AppContext, qtbot: QtBot) -> ConsolePanel:
    """The console over the light context: the log, its filters, copy and clear need no service."""
    return open_panel(light_ctx, qtbot)


def submit(ctx: AppContext) -> None:
    ctx.tasks.start("t", ctx.orchestrator.submit(0, FAST))


def messages(console: ConsolePanel) -> list[str]:
    return [line.message for line in console.visible_lines()]


def test_without_an_actor_it_reads_idle(light_ctx: AppContext, qtbot: QtBot) -> None:
    console = ConsolePanel(light_ctx)
    qtbot.addWidget(console)
    assert console.status_text() == "Idle"
    assert console.status_detail() == "Choose an actor to see its runs."
    assert console.progress.bar.text() == "No run"


def test_no_run_yet_reads_idle(light_panel: ConsolePanel) -> None:
    assert light_panel.status_text() == "Idle"
    assert "No runs yet" in light_panel.status_detail()
    assert not light_panel._check_button.isEnabled()
    assert not light_panel._abort_button.isEnabled()
    assert light_panel.loss_chart.points() == []


@pytest.mark.slow
def test_a_run_is_followed_live_to_completed(gui_ctx: AppContext, panel: ConsolePanel, qtbot: QtBot) -> None:
    # A slower simulated run, so several training reports (with loss) arrive while it trains.
    sandbox = gui_ctx.services.sandbox
    assert sandbox is not None
    sandbox.worker = make_worker(gui_ctx.services.storage, duration_s=2.0)
    submit(gui_ctx)

    qtbot.waitUntil(lambda: panel.status_text() == "Training in progress — V1", timeout=QT_WAIT_MS)
    assert panel._abort_button.isEnabled() and panel._check_button.isEnabled()
    assert "SANDBOX" in panel._sandbox_badge.text() and panel._sandbox_badge.isVisible()
    assert "Simulated run" in panel.status_detail()

    qtbot.waitUntil(lambda: panel.status_text() == "Completed — V1", timeout=QT_WAIT_MS)
    bar = panel.progress.bar
    assert bar.maximum() == 40 and bar.value() == 40
    assert "40 / 40" in bar.text()
    points = panel.loss_chart.points()
    assert points, "the loss chart got no point"
    assert [s for s, _ in points] == sorted({s for s, _ in points})
    assert all(0 < step <= 40 and loss > 0 for step, loss in points)
    assert not panel._abort_button.isEnabled()

    shown = messages(panel)
    assert any(m.startswith("POST /run") for m in shown)
    assert any(m.startswith("V1 completed") for m in shown)
    levels = {line.level for line in panel.visible_lines()}
    assert {LogLevel.REQUEST, LogLevel.RESPONSE, LogLevel.SUCCESS} <= levels
    written = (log_dir() / "console.log").read_text(encoding="utf-8")
    assert "V1 completed" in written and "SUCCESS" in written


def test_abort_cancels_a_stuck_run_and_logs_runpods_answer(
    gui_ctx: AppContext, panel: ConsolePanel, qtbot: QtBot
) -> None:
    gui_ctx.services.sandbox.faults.stuck_in_queue = True  # type: ignore[union-attr]
    submit(gui_ctx)
    qtbot.waitUntil(
        lambda: panel.status_text() == "Queued — V1" and panel._abort_button.isEnabled(), timeout=QT_WAIT_MS
    )

    asked: list[tuple[str, str]] = []
    assert not panel.abort(confirm=lambda title, text: asked.append((title, text)) is not None)  # declined
    assert asked[0][0] == "Cancel V1?" and "GPU time used so far is billed" in asked[0][1]
    assert panel.shown_version() is not None and panel.shown_version().status is VersionStatus.QUEUED  # type: ignore[union-attr]

    assert panel.abort(confirm=lambda title, text: True)
    qtbot.waitUntil(lambda: panel.status_text() == "Cancelled — V1", timeout=QT_WAIT_MS)
    shown = messages(panel)
    assert any(m.startswith("POST /cancel/") for m in shown)
    assert "RunPod answered CANCELLED for V1." in shown
    assert not panel._abort_button.isEnabled()
    version = gui_ctx.library.load_versions(0)[0]
    assert version.status is VersionStatus.CANCELLED


def test_abort_asks_in_a_dialog_first(gui_ctx: AppContext, panel: ConsolePanel, qtbot: QtBot) -> None:
    gui_ctx.services.sandbox.faults.stuck_in_queue = True  # type: ignore[union-attr]
    submit(gui_ctx)
    qtbot.waitUntil(lambda: panel._abort_button.isEnabled(), timeout=QT_WAIT_MS)
    seen: list[str] = []

    def answer(button_text: str) -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(box.text())
        button = next(b for b in box.findChildren(QPushButton) if b.text() == button_text)
        button.click()

    QTimer.singleShot(0, lambda: answer("Keep running"))
    qtbot.mouseClick(panel._abort_button, Qt.MouseButton.LeftButton)
    assert seen and "billed" in seen[0]
    assert not gui_ctx.tasks.running_names() or not any(
        n.startswith("run-cancel") for n in gui_ctx.tasks.running_names()
    )
    assert panel.status_text() == "Queued — V1"

    QTimer.singleShot(0, lambda: answer("Cancel run"))
    qtbot.mouseClick(panel._abort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status_text() == "Cancelled — V1", timeout=QT_WAIT_MS)


def test_check_status_asks_runpod_and_the_endpoint_health(
    gui_ctx: AppContext, panel: ConsolePanel, qtbot: QtBot
) -> None:
    gui_ctx.services.sandbox.faults.stuck_in_queue = True  # type: ignore[union-attr]
    submit(gui_ctx)
    qtbot.waitUntil(
        lambda: panel._check_button.isEnabled() and panel.status_text() == "Queued — V1", timeout=QT_WAIT_MS
    )
    qtbot.mouseClick(panel._check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(m.startswith("Checked V1: queued") for m in messages(panel)), timeout=QT_WAIT_MS)
    assert any("RunPod: IN_QUEUE" in m for m in messages(panel))
    qtbot.waitUntil(
        lambda: any(line.level is LogLevel.RESPONSE and "queued" in line.message for line in panel.visible_lines()),
        timeout=QT_WAIT_MS,
    )
    assert "GET /health" in messages(panel)


def test_a_failed_run_says_why(gui_ctx: AppContext, panel: ConsolePanel, qtbot: QtBot) -> None:
    gui_ctx.services.sandbox.faults.fail_with = {  # type: ignore[union-attr]
        "error_type": "OutOfMemoryError",
        "error_message": "CUDA out of memory",
    }
    submit(gui_ctx)
    qtbot.waitUntil(lambda: panel.status_text().startswith("Failed — V1: "), timeout=QT_WAIT_MS)
    assert "CUDA out of memory" in panel.status_text()
    # The version record and the log line are two events: the line may come a moment later.
    qtbot.waitUntil(lambda: any(line.level is LogLevel.ERROR for line in panel.visible_lines()), timeout=QT_WAIT_MS)


def test_level_filter_hides_and_shows_lines(light_ctx: AppContext, light_panel: ConsolePanel, qtbot: QtBot) -> None:
    light_panel.clear()
    for level in (LogLevel.INFO, LogLevel.WARNING, LogLevel.ERROR, LogLevel.REQUEST, LogLevel.DEBUG):
        light_ctx.events.log(level, f"a {level.value} line")
    assert messages(light_panel) == ["a info line", "a warning line", "a error line", "a request line"]  # no debug

    light_panel.set_level_visible(LogLevel.INFO, False)
    light_panel.set_level_visible(LogLevel.REQUEST, False)
    assert messages(light_panel) == ["a warning line", "a error line"]
    assert light_panel.log.levels_button.text() == "4 of 7 levels"

    light_panel.set_level_visible(LogLevel.INFO, True)
    light_panel.set_level_visible(LogLevel.DEBUG, True)
    assert messages(light_panel) == ["a info line", "a warning line", "a error line", "a debug line"]


def test_this_actor_only(light_ctx: AppContext, light_panel: ConsolePanel) -> None:
    light_panel.clear()
    light_ctx.events.log(LogLevel.INFO, "about actor 0", actor_id=0)
    light_ctx.events.log(LogLevel.INFO, "about actor 1", actor_id=1)
    light_ctx.events.log(LogLevel.INFO, "about nobody")
    assert len(messages(light_panel)) == 3
    light_panel.log.actor_only.setChecked(True)
    assert messages(light_panel) == ["about actor 0"]
    light_ctx.select_actor(1)
    assert messages(light_panel) == ["about actor 1"]
    light_panel.log.actor_only.setChecked(False)
    assert len(messages(light_panel)) == 3


def test_copy_and_clear(light_ctx: AppContext, light_panel: ConsolePanel, qtbot: QtBot) -> None:
    light_panel.clear()
    light_ctx.events.log(LogLevel.INFO, "first line", actor_id=0)
    light_ctx.events.log(LogLevel.ERROR, "second line")
    qtbot.mouseClick(light_panel.log.copy_button, Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text().splitlines()
    assert len(copied) == 2
    assert copied[0].endswith("INFO     [actor 0] first line")
    assert copied[1].endswith("ERROR    second line")
    date, time_of_day = copied[0].split()[:2]
    assert len(date) == 10 and date[4] == "-" and len(time_of_day) == 8 and time_of_day[2] == ":"

    light_panel.log.select_rows([1])
    assert light_panel.copy_lines().endswith("second line")
    assert "first line" not in QApplication.clipboard().text()

    qtbot.mouseClick(light_panel.log.clear_button, Qt.MouseButton.LeftButton)
    assert light_panel.visible_lines() == [] and light_panel.log.model.rowCount() == 0
    light_ctx.events.log(LogLevel.INFO, "after clearing")
    assert messages(light_panel) == ["after clearing"]


def test_the_log_stays_bounded() -> None:
    model = ConsoleLogModel(max_lines=100)
    from actor_trainer.core.models import utc_now

    for i in range(1000):
        model.append(ConsoleLine(at=utc_now(), level=LogLevel.INFO, message=f"line {i}"))
    lines = model.lines()
    assert 100 <= len(lines) <= 110
    assert lines[-1].message == "line 999"


def test_the_current_run_is_the_newest_in_flight() -> None:
    def version(name: str, status: VersionStatus) -> TrainingVersion:
        return TrainingVersion(id=f"job-{name}", name=name, status=status)

    done, running, newer_done = (
        version("V1", VersionStatus.COMPLETED),
        version("V2", VersionStatus.IN_PROGRESS),
        version("V3", VersionStatus.FAILED),
    )
    assert pick_current_run([done, running, newer_done]) is running
    assert pick_current_run([done, newer_done]) is newer_done
    assert pick_current_run([]) is None


def test_eta_needs_two_reports_and_follows_the_rate(qtbot: QtBot) -> None:
    estimator = StepRateEstimator()
    assert estimator.eta(100, now=0.0) is None
    estimator.add(10, 0.0)
    assert estimator.eta(100, now=0.0) is None
    estimator.add(20, 5.0)  # 2 steps/s
    assert estimator.eta(100, now=5.0) == pytest.approx(40.0)
    assert estimator.eta(100, now=15.0) == pytest.approx(30.0)  # counts down between reports
    estimator.add(20, 9.0)  # a repeated poll answer changes nothing
    assert estimator.rate == pytest.approx(2.0)

    clock = [100.0]
    widget = RunProgressWidget(clock=lambda: clock[0])
    qtbot.addWidget(widget)
    run = TrainingVersion(
        id="job-1", name="V1", status=VersionStatus.IN_PROGRESS, parameters=TrainingParameters(max_train_steps=100)
    )
    widget.show_run(run)
    assert widget.eta_label.text() == "ETA —"
    widget.add_progress(Progress(phase="training", step=10, total=100, loss=0.5))
    assert widget.eta_label.text() == "ETA —"
    clock[0] = 110.0
    widget.add_progress(Progress(phase="training", step=30, total=100, loss=0.4))
    assert widget.eta_label.text() == "ETA 0:35"
    assert widget.bar.value() == 30 and widget.bar.text() == "30 / 100 steps (30%)"
    assert widget.phase_label.text() == "Phase: Training"
