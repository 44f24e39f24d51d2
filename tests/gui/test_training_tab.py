"""The ActorTrainingTab against a real library, the sandbox endpoint and the local bucket.

Everything a user would see: the header and data box after choosing an actor, the thumbnail
strip, Auto-adjust, why Start is disabled (the same checks the orchestrator makes), one job per
click, and parameters remembered per actor.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import TrainingParameters
from actor_trainer.gui.training.training_images_strip import KindRole
from actor_trainer.gui.training.training_tab import ActorTrainingTab
from tests.library_factory import write_png
from tests.waits import QT_WAIT_MS


def open_tab(ctx: Any, qtbot: QtBot) -> ActorTrainingTab:
    widget = ActorTrainingTab(ctx)
    qtbot.addWidget(widget)
    widget.resize(900, 800)
    widget.show()
    return widget


@pytest.fixture
def tab(gui_ctx: Any, qtbot: QtBot) -> ActorTrainingTab:
    """The tab over the full context: whether a run can start is the orchestrator's preflight."""
    return open_tab(gui_ctx, qtbot)


@pytest.fixture
def light_tab(light_ctx: Any, qtbot: QtBot) -> ActorTrainingTab:
    """The tab over the light context (no service started), for what needs no preflight answer."""
    return open_tab(light_ctx, qtbot)


def select(ctx: Any, qtbot: QtBot, tab: ActorTrainingTab, actor_id: int) -> None:
    """Choose an actor and wait until the tab has checked whether training can start."""
    ctx.select_actor(actor_id)
    qtbot.waitUntil(lambda: tab.start.has_answer, timeout=QT_WAIT_MS)


def folder(ctx: Any, actor_id: int) -> Path:
    return Path(ctx.library.training_data_folder(actor_id))


def editor(tab: ActorTrainingTab, name: str) -> Any:
    """The input widget of one parameter (a spin box, combo box or line edit)."""
    return tab.form.fields[name].editor


def type_into(qtbot: QtBot, spin: QSpinBox, text: str) -> None:
    line = spin.lineEdit()
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)


def test_empty_state_asks_for_an_actor(light_ctx: Any, light_tab: ActorTrainingTab, qtbot: QtBot) -> None:
    assert light_tab.header.empty.isVisible() and not light_tab.header.card.isVisible()
    assert not light_tab.data_box.isVisible() and not light_tab.parameters_card.isVisible()
    assert not light_tab.can_start()
    assert light_tab.disabled_reason() == "No actor selected."
    assert light_tab.start.reason_label.isVisible() and "No actor selected" in light_tab.start.reason_label.text()
    assert not light_tab.start.button.isEnabled()
    with qtbot.waitSignal(light_tab.changeActorRequested, timeout=QT_WAIT_MS):
        qtbot.mouseClick(light_tab.header.choose_button, Qt.MouseButton.LeftButton)


def test_selecting_an_actor_fills_header_data_box_and_strip(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(gui_ctx, qtbot, tab, 0)
    header = tab.header
    assert header.card.isVisible() and not header.empty.isVisible()
    assert header.name_label.text() == "0000_european_16_male"
    assert header.meta_label.text() == "16 • male • european"
    assert header.description_label.text() == "A lanky teenager in a green hoodie."
    assert not header.validated_badge.isVisible()
    assert "Ctrl+O" in header.change_button.toolTip()
    with qtbot.waitSignal(tab.changeActorRequested, timeout=QT_WAIT_MS):
        qtbot.mouseClick(header.change_button, Qt.MouseButton.LeftButton)

    box = tab.data_box
    qtbot.waitUntil(lambda: box.scan is not None and box.state_key == "synced", timeout=QT_WAIT_MS)
    assert box.sync_badge.text() == "✓ Synced"
    assert box.counts_label.text() == "6 images in the folder · 6 of 6 files in the bucket"
    assert box.recommended_label.text() == "Recommended for 6 images: 1500 steps"
    assert not box.unsupported_label.isVisible()
    model = box.strip.images
    assert model.rowCount() == 6
    # The strip's tiles turn from placeholders into real thumbnails (decoded off the GUI thread).
    qtbot.waitUntil(lambda: all(model.is_loaded(r) for r in range(6)), timeout=QT_WAIT_MS)
    assert tab.form.derived_label.text().startswith("≈ 334 epochs")
    assert editor(tab, "trigger").placeholderText() == "0000_european_16_male"
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    assert tab.disabled_reason() is None and tab.start.button.isEnabled()
    assert tab.start.sandbox_note.isVisible()
    assert tab.start.sandbox_note.text() == "SANDBOX — simulated run, no GPU is used"
    assert "Ctrl+Enter" in tab.start.button.toolTip()


def test_unsupported_files_are_flagged_in_the_strip(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    (folder(gui_ctx, 0) / "notes.pdf").write_bytes(b"%PDF-1.4")
    (folder(gui_ctx, 0) / "setup.docx").write_bytes(b"PK")
    select(gui_ctx, qtbot, tab, 0)
    box = tab.data_box
    qtbot.waitUntil(lambda: box.scan is not None, timeout=QT_WAIT_MS)
    assert box.unsupported_label.isVisible()
    assert box.unsupported_label.text() == "⚠ 2 unsupported files are ignored: notes.pdf, setup.docx"
    model = box.strip.images
    kinds = [model.index(r).data(KindRole) for r in range(model.rowCount())]
    assert kinds == ["image"] * 6 + ["unsupported"] * 2
    assert "notes.pdf" in model.index(6).data(Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)  # ignored files do not block a run


def test_auto_adjust_on_six_images(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(gui_ctx, qtbot, tab, 0)
    qtbot.waitUntil(lambda: tab.data_box.scan is not None, timeout=QT_WAIT_MS)
    steps = editor(tab, "max_train_steps")
    type_into(qtbot, steps, "1800")
    tab.form.auto_adjust_button.click()
    dialog = tab.form.auto_adjust_dialog
    assert dialog is not None and dialog.proposal is not None
    assert dialog.proposal.tier == "1–15 images"
    assert dialog.title.text() == "Auto-adjust for 6 training images"
    changes = dialog.changes_text()
    assert "learning_rate: 0.0004 → 0.0002" in changes and "lr_scheduler: constant → cosine" in changes
    assert all(c.reason for c in dialog.proposal.changes)
    assert "keep your 1800" in dialog.kept_boxes["max_train_steps"].text()
    dialog.apply_button.click()
    params = tab.form.parameters()
    assert params is not None
    assert (params.max_train_steps, params.learning_rate, params.num_repeats) == (1800, 2e-4, 2)
    assert steps.value() == 1800
    assert tab.form.derived_label.text().startswith("≈ 150 epochs")  # ceil(1800 / (6 × 2))


def test_invalid_warmup_disables_start_with_the_reason(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(gui_ctx, qtbot, tab, 0)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    tab.form.advanced_toggle.click()
    type_into(qtbot, editor(tab, "lr_warmup_steps"), "2500")
    assert tab.form.fields["lr_warmup_steps"].message.text() == "Warmup steps (2500) exceeds steps (2000)"
    assert not tab.can_start() and not tab.start.button.isEnabled()
    assert tab.disabled_reason() == "Warmup steps (2500) exceeds steps (2000)"
    assert tab.start.reason_label.isVisible()
    type_into(qtbot, editor(tab, "lr_warmup_steps"), "200")
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)


def test_no_training_data_is_the_reason(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(gui_ctx, qtbot, tab, 1)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    shutil.rmtree(folder(gui_ctx, 1))
    folder(gui_ctx, 1).mkdir()
    gui_ctx.reload_library()
    qtbot.waitUntil(lambda: "has no training images" in (tab.disabled_reason() or ""), timeout=QT_WAIT_MS)
    assert not tab.start.button.isEnabled()
    assert "has no training images" in tab.start.reason_label.text()
    assert "Add PNG, JPEG or WebP images" in tab.start.hint_label.text()
    qtbot.waitUntil(lambda: tab.data_box.empty_label.isVisible(), timeout=QT_WAIT_MS)
    assert tab.data_box.counts_label.text().startswith("0 images in the folder")


def test_unsynced_data_is_the_reason_until_sync_now(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(gui_ctx, qtbot, tab, 0)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    write_png(folder(gui_ctx, 0) / "img_new.png", (1, 2, 3))
    gui_ctx.refresh_sync(0)
    qtbot.waitUntil(lambda: "not in the bucket yet" in (tab.disabled_reason() or ""), timeout=QT_WAIT_MS)
    assert "Sync now" in tab.start.reason_label.text()  # a link that syncs
    box = tab.data_box
    qtbot.waitUntil(lambda: box.sync_badge.text() == "✗ 1 file to upload", timeout=QT_WAIT_MS)
    progress: list[Any] = []
    gui_ctx.bridge.syncProgress.connect(progress.append)
    with qtbot.waitSignal(gui_ctx.syncRunning, timeout=QT_WAIT_MS) as started:
        tab.start.reason_label.linkActivated.emit("sync-now")
    assert started.args == [0, True]
    assert not box.sync_button.isEnabled()  # one sync at a time
    qtbot.waitUntil(lambda: box.state_key == "synced", timeout=QT_WAIT_MS)
    assert box.sync_button.isEnabled() and not box.progress.isVisible()
    assert progress and progress[-1].files_done == progress[-1].files_total == 1
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    assert box.counts_label.text() == "7 images in the folder · 7 of 7 files in the bucket"


def test_two_quick_clicks_make_one_job(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(gui_ctx, qtbot, tab, 0)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    tab.description.setPlainText("Sharper jawline captions")
    started: list[tuple[int, str]] = []
    tab.trainingStarted.connect(lambda actor_id, ref: started.append((actor_id, ref)))
    qtbot.mouseClick(tab.start.button, Qt.MouseButton.LeftButton)
    assert not tab.start.button.isEnabled()  # disabled at once
    qtbot.mouseClick(tab.start.button, Qt.MouseButton.LeftButton)
    assert tab.start_training() is False  # the menu action cannot add one either
    qtbot.waitUntil(lambda: bool(started), timeout=QT_WAIT_MS)
    sandbox = gui_ctx.services.sandbox
    assert sandbox.request_count("run") == 1
    actor_id, ref = started[0]
    version = gui_ctx.library.get_version(0, ref)
    assert actor_id == 0 and version.name == "V1"
    assert version.description == "Sharper jawline captions"
    assert tab.description.toPlainText() == ""
    qtbot.waitUntil(lambda: gui_ctx.library.get_version(0, ref).status.is_terminal, timeout=QT_WAIT_MS)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    assert sandbox.request_count("run") == 1 and len(started) == 1
    qtbot.waitUntil(lambda: gui_ctx.parameters.remembered(0) == TrainingParameters(), timeout=QT_WAIT_MS)


def test_run_in_flight_is_the_reason_and_can_be_overridden(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    gui_ctx.services.sandbox.faults.stuck_in_queue = True
    select(gui_ctx, qtbot, tab, 0)
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    assert not tab.start.allow_concurrent.isVisible()
    with qtbot.waitSignal(tab.trainingStarted, timeout=QT_WAIT_MS):
        tab.start_training()
    qtbot.waitUntil(lambda: "Start anyway?" in (tab.disabled_reason() or ""), timeout=QT_WAIT_MS)
    assert tab.disabled_reason() == "V1 is queued — Start anyway?"
    assert not tab.start.button.isEnabled()
    checkbox = tab.start.allow_concurrent
    assert checkbox.isVisible() and not checkbox.isChecked()
    checkbox.click()
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    assert "V1 is still queued" in tab.start.reason_label.text()
    with qtbot.waitSignal(tab.trainingStarted, timeout=QT_WAIT_MS) as second:
        tab.start_training()
    assert gui_ctx.library.get_version(0, second.args[1]).name == "V2"
    assert gui_ctx.services.sandbox.request_count("run") == 2


def test_parameters_are_remembered_per_actor(light_ctx: Any, light_tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(light_ctx, qtbot, light_tab, 0)
    type_into(qtbot, editor(light_tab, "max_train_steps"), "1800")
    light_tab.description.setPlainText("for actor 0")
    select(light_ctx, qtbot, light_tab, 1)
    assert light_tab.form.parameters() == TrainingParameters()  # actor 1 has nothing remembered
    assert light_tab.description.toPlainText() == ""
    qtbot.waitUntil(
        lambda: (light_ctx.parameters.remembered(0) or TrainingParameters()).max_train_steps == 1800, timeout=QT_WAIT_MS
    )
    select(light_ctx, qtbot, light_tab, 0)
    assert editor(light_tab, "max_train_steps").value() == 1800
    assert light_tab.description.toPlainText() == "for actor 0"

    # A new window (a restart) gets them from the remembered file.
    fresh = ActorTrainingTab(light_ctx)
    qtbot.addWidget(fresh)
    params = fresh.form.parameters()
    assert params is not None and params.max_train_steps == 1800


def test_load_parameters_fills_the_form(gui_ctx: Any, tab: ActorTrainingTab, qtbot: QtBot) -> None:
    select(gui_ctx, qtbot, tab, 0)
    tab.load_parameters(
        TrainingParameters(
            max_train_steps=40, network_dim=4, network_alpha=4, learning_rate=2.5e-4, optimizer_type="prodigy"
        )
    )
    assert editor(tab, "max_train_steps").value() == 40
    assert editor(tab, "learning_rate").text() == "0.00025"
    assert editor(tab, "optimizer_type").currentText() == "prodigy"
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
