"""The Versions panel following real sandbox runs: a run appears and progresses live, its LoRA
downloads with its metadata, a failed run is retried, a stuck one cancelled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.versions.versions_model import Column
from actor_trainer.sandbox.worker import make_worker
from tests.gui.test_versions_panel import (
    FAST,
    TRACEBACK,
    Confirm,
    button,
    cell,
    choose,
    make_panel,
    names,
    submit,
    wait_status,
    write_versions,
)
from tests.library_factory import completed_version
from tests.waits import QT_WAIT_MS


@pytest.mark.slow
def test_live_run_appears_progresses_and_completes(qtbot: QtBot, gui_ctx: AppContext) -> None:
    write_versions(gui_ctx, 0, [completed_version("job-1", "V1")])
    # A slower simulated worker, so the in-progress steps are seen between polls.
    assert gui_ctx.services.sandbox is not None
    gui_ctx.services.sandbox.worker = make_worker(gui_ctx.services.storage, duration_s=2.0)
    panel = make_panel(qtbot, gui_ctx)
    choose(qtbot, gui_ctx, panel, 0)
    panel.select_version("V1")

    gui_ctx.tasks.start("test-submit", gui_ctx.orchestrator.submit(0, FAST, description="live run"))
    qtbot.waitUntil(lambda: names(panel) == ["V2", "V1"], timeout=QT_WAIT_MS)
    qtbot.waitUntil(
        lambda: re.fullmatch(r"in progress \d+/40", cell(panel, 0, Column.STATUS)) is not None, timeout=QT_WAIT_MS
    )
    assert "running" in panel.count.text()
    version = wait_status(qtbot, panel, "V2", VersionStatus.COMPLETED)
    assert cell(panel, 0, Column.STATUS) == "completed"
    assert version.loraUrl and version.loraUrl.startswith("file://")
    assert panel.selected_version().name == "V1"  # type: ignore[union-attr]  # the selection survived
    panel.select_version("V2")
    assert panel.details.sandbox_note.isVisible()
    assert "random weights" in panel.details.sandbox_note.text()
    assert button(panel, "markGood").isEnabled()
    opened: list[QUrl] = []
    panel.details.open_url = opened.append
    qtbot.mouseClick(panel.details.open_button, Qt.MouseButton.LeftButton)  # a file:// LoRA opens
    assert [u.toString() for u in opened] == [version.loraUrl]
    qtbot.mouseClick(panel.details.job_id.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == version.id == panel.details.job_id.edit.text()
    assert gui_ctx.services.sandbox is not None
    assert version.id in gui_ctx.services.sandbox.jobs  # the job id exactly as /run returned it


def test_download_lora_shows_rank_steps_and_simulation(qtbot: QtBot, gui_ctx: AppContext, tmp_path: Path) -> None:
    panel = make_panel(qtbot, gui_ctx)
    choose(qtbot, gui_ctx, panel, 0)
    submit(qtbot, gui_ctx)
    wait_status(qtbot, panel, "V1", VersionStatus.COMPLETED)
    panel.select_version("V1")
    dest = tmp_path / "downloads" / "actor 0000 V1.safetensors"
    asked: list[str] = []
    panel.version_actions.choose_destination = lambda v: asked.append(v.name) or dest  # type: ignore[func-returns-value]

    with qtbot.waitSignal(panel.version_actions.downloadStarted, timeout=QT_WAIT_MS) as started:
        qtbot.mouseClick(button(panel, "downloadLora"), Qt.MouseButton.LeftButton)
    dialog = started.args[0]
    qtbot.addWidget(dialog)
    progress: list[tuple[int, int]] = []
    dialog.progressed.connect(lambda done, total: progress.append((done, total)))
    qtbot.waitUntil(lambda: dialog.info is not None, timeout=QT_WAIT_MS)
    assert asked == ["V1"]
    assert progress and progress[-1] == (dest.stat().st_size, dest.stat().st_size)
    assert dest.is_file() and dest.stat().st_size > 0
    values = dialog.table_values()
    assert values["Rank (network_dim)"] == "4"
    assert values["Rank (from tensors)"] == "4"
    assert values["Steps"] == "40"
    assert values["Size"] == f"{dest.stat().st_size:,} bytes"
    assert values["Tensor dtypes"]
    assert "Simulation" in values
    assert dialog.banner.isVisible() and dialog.banner.text().startswith("SIMULATION")
    assert not dialog.bar.isVisible()


def test_retry_a_failed_run_ends_completed(qtbot: QtBot, gui_ctx: AppContext) -> None:
    sandbox = gui_ctx.services.sandbox
    assert sandbox is not None
    sandbox.faults.fail_with = {
        "error_type": "OutOfMemoryError",
        "error_message": "CUDA out of memory",
        "error_traceback": TRACEBACK,
    }
    panel = make_panel(qtbot, gui_ctx)
    choose(qtbot, gui_ctx, panel, 0)
    submit(qtbot, gui_ctx)
    wait_status(qtbot, panel, "V1", VersionStatus.FAILED)
    panel.select_version("V1")
    assert cell(panel, 0, Column.ERROR) == "OutOfMemoryError: CUDA out of memory"
    retry = button(panel, "retryRun")
    assert retry.isVisible() and retry.isEnabled()

    sandbox.faults.fail_with = None
    qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
    version = wait_status(qtbot, panel, "V1", VersionStatus.COMPLETED)
    assert names(panel) == ["V1"]  # RunPod requeued the same job: no new version
    assert version.attempts and version.attempts[0]["status"] == "failed"
    assert "1 earlier attempt" in panel.details.attempts.text()
    assert not panel.details.error_box.isVisible()


def test_cancel_a_stuck_run_ends_cancelled(qtbot: QtBot, gui_ctx: AppContext) -> None:
    sandbox = gui_ctx.services.sandbox
    assert sandbox is not None
    sandbox.faults.stuck_in_queue = True
    panel = make_panel(qtbot, gui_ctx)
    confirm = Confirm(True)
    panel.version_actions.confirm = confirm
    choose(qtbot, gui_ctx, panel, 0)
    submit(qtbot, gui_ctx)
    wait_status(qtbot, panel, "V1", VersionStatus.QUEUED)
    panel.select_version("V1")
    cancel, check = button(panel, "cancelRun"), button(panel, "checkStatus")
    assert cancel.isEnabled() and check.isEnabled()
    assert not button(panel, "markGood").isEnabled()

    qtbot.mouseClick(check, Qt.MouseButton.LeftButton)  # still queued: checking changes nothing
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    wait_status(qtbot, panel, "V1", VersionStatus.CANCELLED)
    assert confirm.questions and confirm.questions[0].startswith("Cancel V1?")
    assert sandbox.request_count("cancel") == 1
    assert cell(panel, 0, Column.STATUS) == "cancelled"
    assert not cancel.isVisible() and button(panel, "retryRun").isVisible()
    assert panel.details.findChild(QLabel, "detailsTitle").text() == "V1"  # type: ignore[union-attr]


def test_cancel_declined_does_nothing(qtbot: QtBot, gui_ctx: AppContext) -> None:
    sandbox = gui_ctx.services.sandbox
    assert sandbox is not None
    sandbox.faults.stuck_in_queue = True
    panel = make_panel(qtbot, gui_ctx)
    panel.version_actions.confirm = Confirm(False)
    choose(qtbot, gui_ctx, panel, 0)
    submit(qtbot, gui_ctx)
    wait_status(qtbot, panel, "V1", VersionStatus.QUEUED)
    panel.select_version("V1")
    qtbot.mouseClick(button(panel, "cancelRun"), Qt.MouseButton.LeftButton)
    assert sandbox.request_count("cancel") == 0
    assert panel.selected_version().status is VersionStatus.QUEUED  # type: ignore[union-attr]


def test_download_cancelled_leaves_no_file(qtbot: QtBot, gui_ctx: AppContext, tmp_path: Path) -> None:
    panel = make_panel(qtbot, gui_ctx)
    choose(qtbot, gui_ctx, panel, 0)
    submit(qtbot, gui_ctx)
    wait_status(qtbot, panel, "V1", VersionStatus.COMPLETED)
    panel.select_version("V1")
    dest = tmp_path / "out" / "lora.safetensors"
    dialog = panel.version_actions.download_selected(dest)
    assert dialog is not None
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=QT_WAIT_MS)
    assert "cancelled" in dialog.headline.text()
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []  # no temp file left behind
    assert dialog.info is None and not dialog.table.isVisible()
