"""The Versions panel against the light AppContext (no service started), on histories written into the library folder:
columns, details, empty states, keys, Train again and Mark as good. Live runs are in
test_versions_panel_runs.py; the helpers here serve both."""

from __future__ import annotations

import json
import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import Progress, TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.versions.versions_model import Column, format_number
from actor_trainer.gui.versions.versions_panel import VersionsPanel
from actor_trainer.gui.widgets.status_style import StatusBadge, good_colour, is_dark, status_colour, status_word
from tests.library_factory import completed_version
from tests.waits import QT_WAIT_MS

FAST = TrainingParameters(max_train_steps=40, network_dim=4, network_alpha=4)

TRACEBACK = (
    'Traceback (most recent call last):\n  File "/app/train.py", line 88, in train\n    loss.backward()\n'
    "torch.OutOfMemoryError: CUDA out of memory"
)


# --- helpers ------------------------------------------------------------------------------------


def write_versions(ctx: AppContext, actor_id: int, records: list[dict[str, Any]]) -> None:
    path = ctx.library.versions_file(actor_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"versions": records}, indent=2), encoding="utf-8")


def static_history() -> list[dict[str, Any]]:
    """V1 completed, V2 failed with a traceback, V3 completed with a lower learning rate."""
    return [
        completed_version(
            "job-3",
            "V3",
            description="Tighter crop, lower rate",
            parameters={"learning_rate": 0.00025, "max_train_steps": 2500, "network_dim": 16, "network_alpha": 8},
            timestamp="2026-01-17T09:00:00Z",
            completedAt="2026-01-17T10:05:30Z",
        ),
        {
            "id": "job-2",
            "name": "V2",
            "status": "failed",
            "loraUrl": None,
            "parameters": {"learning_rate": 0.0004, "max_train_steps": 2000, "network_dim": 8},
            "timestamp": "2026-01-16T09:00:00Z",
            "failedAt": "2026-01-16T09:12:00Z",
            "imageCount": 6,
            "isGood": False,
            "endpoint": "ep-123",
            "error": {
                "message": "OutOfMemoryError: CUDA out of memory\nTried to allocate 2.00 GiB",
                "details": {"error_type": "OutOfMemoryError", "error_traceback": TRACEBACK},
            },
        },
        completed_version("job-1", "V1", timestamp="2026-01-15T10:30:00Z", completedAt="2026-01-15T11:10:00Z"),
    ]


def make_panel(qtbot: QtBot, ctx: AppContext) -> VersionsPanel:
    panel = VersionsPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1000, 760)
    panel.show()
    return panel


def choose(qtbot: QtBot, ctx: AppContext, panel: VersionsPanel, actor_id: int) -> None:
    with qtbot.waitSignal(panel.versionsLoaded, timeout=QT_WAIT_MS):
        ctx.select_actor(actor_id)


def cell(panel: VersionsPanel, row: int, column: Column) -> str:
    return str(panel.model.index(row, column).data())


def names(panel: VersionsPanel) -> list[str]:
    return [v.name for v in panel.model.versions()]


def button(panel: VersionsPanel, name: str) -> QWidget:
    return panel.details.buttons[name]


def submit(qtbot: QtBot, ctx: AppContext, params: TrainingParameters = FAST) -> TrainingVersion:
    task = ctx.tasks.start("test-submit", ctx.orchestrator.submit(0, params, description="live run"))
    qtbot.waitUntil(task.done, timeout=QT_WAIT_MS)
    return task.result()


def find(panel: VersionsPanel, name: str) -> TrainingVersion | None:
    return next((v for v in panel.model.versions() if v.name == name), None)


def wait_status(qtbot: QtBot, panel: VersionsPanel, name: str, status: VersionStatus) -> TrainingVersion:
    def reached() -> bool:
        version = find(panel, name)
        return version is not None and version.status is status

    qtbot.waitUntil(reached, timeout=QT_WAIT_MS)
    found = find(panel, name)
    assert found is not None
    return found


class Confirm:
    """Answers the panel's questions and remembers them."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    def __call__(self, title: str, question: str) -> bool:
        self.questions.append(question)
        return self.answers.pop(0) if self.answers else True


# --- status style -------------------------------------------------------------------------------


def test_status_words_and_colours(qapp: Any) -> None:
    running = TrainingVersion(
        id="j", name="V1", status=VersionStatus.IN_PROGRESS, progress=Progress(step=340, total=2000)
    )
    assert status_word(running) == "in progress 340/2000"
    # No total from the worker: the planned steps stand in.
    assert status_word(running.model_copy(update={"progress": Progress(step=12)})) == "in progress 12/2000"
    assert status_word(VersionStatus.TIMED_OUT) == "timed out"
    assert status_word(VersionStatus.QUEUED) == "queued"
    words = {status_word(s) for s in VersionStatus}
    assert len(words) == len(VersionStatus)  # every state has its own word

    light = QPalette()
    light.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.white)
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.black)
    assert not is_dark(light) and is_dark(dark)
    failed_light, failed_dark = status_colour(VersionStatus.FAILED, light), status_colour(VersionStatus.FAILED, dark)
    # Readable on each base: darker than mid-grey on a light theme, lighter on a dark one.
    assert failed_light.lightness() < 128 < failed_dark.lightness()
    assert status_colour(VersionStatus.COMPLETED, light) != status_colour(VersionStatus.FAILED, light)
    assert good_colour(light) == status_colour(VersionStatus.COMPLETED, light)

    badge = StatusBadge()
    badge.set_status(running)
    assert badge.text() == "in progress 340/2000"
    assert badge.sizeHint().width() > badge.fontMetrics().horizontalAdvance(badge.text())
    assert format_number(0.0004) == "0.0004" and format_number(2.5e-4) == "0.00025" and format_number(1e-5) == "1e-5"


# --- static history -----------------------------------------------------------------------------


def test_lists_versions_newest_first_with_columns(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())
    light_ctx.library.mark_good(0, "job-1")
    panel = make_panel(qtbot, light_ctx)
    choose(qtbot, light_ctx, panel, 0)

    assert names(panel) == ["V3", "V2", "V1"]
    assert panel.model.headerData(Column.LR, Qt.Orientation.Horizontal) == "LR"
    assert cell(panel, 0, Column.STATUS) == "completed"
    assert cell(panel, 0, Column.LR) == "0.00025"
    assert cell(panel, 0, Column.DIM_ALPHA) == "16/8"
    assert cell(panel, 0, Column.STEPS) == "2500"
    assert cell(panel, 0, Column.IMAGES) == "6"
    assert cell(panel, 0, Column.DURATION) == "1 h 05 min"
    assert cell(panel, 0, Column.DESCRIPTION) == "Tighter crop, lower rate"
    assert re.fullmatch(r"2026-01-1[67] \d\d:00", cell(panel, 0, Column.STARTED))  # local time
    assert cell(panel, 1, Column.STATUS) == "failed"
    assert cell(panel, 1, Column.ERROR) == "OutOfMemoryError: CUDA out of memory"  # first line only
    assert cell(panel, 1, Column.DURATION) == "12 min 00 s"
    assert cell(panel, 2, Column.NAME) == "V1  ✓ Good"
    assert cell(panel, 2, Column.LR) == "0.0004"
    assert panel.count.text() == "3 versions"
    # Nothing was selected: the newest is, and its details show.
    assert panel.selected_version() is not None and panel.selected_version().name == "V3"  # type: ignore[union-attr]
    assert panel.details.title.text() == "V3"
    assert panel.details.parameter_text("learning_rate") == "0.00025"
    assert panel.details.parameter_text("network_alpha") == "8"
    assert panel.details.parameter_text("optimizer_type") == "adamw8bit"
    assert panel.details.lora_url.edit.text().startswith("s3://bucket/")
    assert not panel.details.open_button.isEnabled()  # s3:// is in the bucket: Copy, not Open
    assert "S3 bucket" in panel.details.lora_note.text()


def test_failed_version_details_and_mark_good_refused(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())
    panel = make_panel(qtbot, light_ctx)
    choose(qtbot, light_ctx, panel, 0)
    assert panel.select_version("V2")
    details = panel.details

    assert details.error_box.isVisible()
    assert details.error_box.message.text().startswith("OutOfMemoryError: CUDA out of memory")
    assert not details.error_box.details.isVisible()  # collapsed until asked
    qtbot.mouseClick(details.error_box.toggle, Qt.MouseButton.LeftButton)
    assert details.error_box.details.isVisible()
    assert "loss.backward()" in details.error_box.details.toPlainText()
    assert details.error_box.details.font().fixedPitch() or "mono" in details.error_box.details.font().family().lower()
    assert details.job_id.edit.text() == "job-2"
    assert details.endpoint.text() == "ep-123"
    assert not details.sandbox_note.isVisible()

    mark = button(panel, "markGood")
    assert not mark.isEnabled()
    assert mark.toolTip() == "V2 is failed; only a completed version can be marked good."
    assert button(panel, "retryRun").isVisible() and button(panel, "retryRun").isEnabled()
    assert not button(panel, "cancelRun").isVisible()
    assert not button(panel, "downloadLora").isEnabled()

    # Were it triggered anyway, the library's refusal is shown, and nothing is written.
    errors: list[tuple[str, str, str]] = []
    light_ctx.errorRaised.connect(lambda *args: errors.append(args))
    panel.version_actions.mark_good.setEnabled(True)
    panel.version_actions.mark_good.trigger()
    qtbot.waitUntil(lambda: bool(errors), timeout=QT_WAIT_MS)
    assert errors[0][0] == "Cannot mark as good"
    assert "only a completed version" in errors[0][1]
    assert json.loads(light_ctx.library.actors_file.read_text())[0]["validated_lora_model"] is None


def test_empty_states_and_keys(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())
    panel = make_panel(qtbot, light_ctx)
    assert panel.stack.currentWidget() is panel.empty
    assert panel.empty.text() == "Choose an actor to see its training history"

    choose(qtbot, light_ctx, panel, 1)
    assert panel.stack.currentWidget() is panel.empty
    assert panel.empty.text() == "No training runs yet — start one on the left"

    choose(qtbot, light_ctx, panel, 0)
    assert panel.stack.currentWidget() is panel.splitter
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    assert names(panel) == ["V3", "V2", "V1"]  # history is never deleted from here
    assert len(json.loads(light_ctx.library.versions_file(0).read_text())["versions"]) == 3
    qtbot.keyClick(panel.table, Qt.Key.Key_Down)
    assert panel.selected_version().name == "V2"  # type: ignore[union-attr]
    qtbot.keyClick(panel.table, Qt.Key.Key_Return)
    focused = QApplication.focusWidget()
    assert focused is not None and panel.details.isAncestorOf(focused)

    light_ctx.select_actor(None)
    assert panel.empty.text() == "Choose an actor to see its training history"


def test_train_again_emits_the_parameters(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())
    panel = make_panel(qtbot, light_ctx)
    choose(qtbot, light_ctx, panel, 0)
    panel.select_version("V3")
    with qtbot.waitSignal(panel.trainAgainRequested, timeout=QT_WAIT_MS) as blocker:
        qtbot.mouseClick(button(panel, "trainAgain"), Qt.MouseButton.LeftButton)
    params = blocker.args[0]
    assert isinstance(params, TrainingParameters)
    assert (params.learning_rate, params.max_train_steps, params.network_dim, params.network_alpha) == (
        0.00025,
        2500,
        16,
        8,
    )
    # The context menu offers the same actions as the buttons.
    texts = [a.text() for a in panel.context_menu().actions() if not a.isSeparator()]
    assert "Train again with these parameters" in texts and "✓ Mark as good" in texts


# --- mark as good -------------------------------------------------------------------------------


def validated(ctx: AppContext) -> dict[str, Any] | None:
    actors = json.loads(ctx.library.actors_file.read_text(encoding="utf-8"))
    return next(a for a in actors if a["id"] == 0)["validated_lora_model"]


def test_mark_good_writes_actors_json_and_is_idempotent(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())
    panel = make_panel(qtbot, light_ctx)
    confirm = Confirm()
    panel.version_actions.confirm = confirm
    choose(qtbot, light_ctx, panel, 0)
    panel.select_version("V3")
    mark = button(panel, "markGood")
    assert mark.isEnabled()

    with qtbot.waitSignal(panel.version_actions.markedGood, timeout=QT_WAIT_MS):
        qtbot.mouseClick(mark, Qt.MouseButton.LeftButton)
    record = validated(light_ctx)
    assert record is not None and record["version_id"] == "job-3" and record["version_name"] == "V3"
    assert cell(panel, 0, Column.NAME) == "V3  ✓ Good"
    assert panel.details.good_badge.isVisible()
    # On the good version the button is disabled and says why; the library call stays idempotent.
    assert not mark.isEnabled() and "is the validated model" in mark.toolTip()
    light_ctx.library.mark_good(0, "job-3")
    assert confirm.questions == []
    on_disk = json.loads(light_ctx.library.versions_file(0).read_text())["versions"]
    assert [v["isGood"] for v in on_disk] == [True, False, False]
    # The library summary (selector badge, header) follows.
    qtbot.waitUntil(
        lambda: light_ctx.summary(0) is not None and light_ctx.summary(0).actor.validated_lora_model is not None,
        timeout=QT_WAIT_MS,
    )  # type: ignore[union-attr]


def test_marking_another_asks_then_moves_the_mark(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())
    light_ctx.library.mark_good(0, "job-1")
    panel = make_panel(qtbot, light_ctx)
    confirm = Confirm(False, True)
    panel.version_actions.confirm = confirm
    choose(qtbot, light_ctx, panel, 0)
    panel.select_version("V3")

    qtbot.mouseClick(button(panel, "markGood"), Qt.MouseButton.LeftButton)  # answered No
    assert confirm.questions == ["V1 is the validated model. Mark V3 as good instead?"]
    assert validated(light_ctx)["version_name"] == "V1"  # type: ignore[index]

    with qtbot.waitSignal(panel.version_actions.markedGood, timeout=QT_WAIT_MS):
        qtbot.mouseClick(button(panel, "markGood"), Qt.MouseButton.LeftButton)  # answered Yes
    assert len(confirm.questions) == 2
    assert validated(light_ctx)["version_name"] == "V3"  # type: ignore[index]
    assert cell(panel, 0, Column.NAME) == "V3  ✓ Good"
    assert cell(panel, 2, Column.NAME) == "V1"
    assert panel.selected_version().name == "V3"  # type: ignore[union-attr]
