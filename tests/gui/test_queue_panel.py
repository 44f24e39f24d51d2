"""The Queue panel (gui/queue/): Add to queue with parameters and the doctor's verdict per actor,
the runner working through the entries in the sandbox, the summary, and the edits (reorder, pause,
remove, retry) written to the library's queue file. Real library, sandbox endpoint, bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.queue import EntryState, QueueStore
from actor_trainer.gui.queue.add_dialog import AUTO, ONE_SET
from actor_trainer.gui.queue.queue_panel import QueuePanel
from tests.waits import QT_WAIT_MS

FAST = TrainingParameters(max_train_steps=30, network_dim=4, network_alpha=4)


def _panel(ctx: Any, qtbot: QtBot, *, start_runner: bool) -> QueuePanel:
    panel = QueuePanel(ctx, start_runner=start_runner)
    qtbot.addWidget(panel)
    panel.resize(700, 400)
    panel.show()
    return panel


def _states(ctx: Any) -> list[tuple[int, EntryState]]:
    return [(e.actor_id, e.state) for e in QueueStore(ctx.library.root).load().visible()]


def test_add_to_queue_runs_both_actors_and_sums_up(gui_ctx: Any, qtbot: QtBot) -> None:
    (Path(gui_ctx.library.training_data_folder(1)) / "broken.png").write_bytes(b"")  # the doctor blocks actor 1
    gui_ctx.select_actor(0)
    gui_ctx.parameters.set(0, FAST)  # the form's current values: "one set for all"
    panel = _panel(gui_ctx, qtbot, start_runner=True)
    dialog = panel.add_actors([0, 1])
    qtbot.waitUntil(lambda: len(dialog.planned) == 2, timeout=QT_WAIT_MS)  # "own" parameters first
    mode = dialog.mode
    mode.setCurrentIndex(mode.findData(ONE_SET))
    # Actor 1's own parameters are the defaults: FAST for both means the new plan is shown.
    qtbot.waitUntil(lambda: [p.params for p in dialog.planned] == [FAST, FAST], timeout=QT_WAIT_MS)
    assert [p.blocked for p in dialog.planned] == [False, True]
    verdict = dialog.table.item(1, 3)
    assert verdict is not None and verdict.text().startswith("⛔ ")
    assert "1 of them have problems that block training" in dialog.status.text()

    with qtbot.waitSignal(panel.summaryReady, timeout=QT_WAIT_MS * 2) as summary:
        dialog.add_button.click()
    title, text, ok = summary.args
    assert title == "Queue finished" and text.startswith("1 completed, 1 failed — ") and ok is False
    assert _states(gui_ctx) == [(0, EntryState.DONE), (1, EntryState.FAILED)]
    entries = QueueStore(gui_ctx.library.root).load().visible()
    assert "block training" in (entries[1].error or "")
    assert gui_ctx.services.sandbox.request_count("run") == 1  # the blocked actor cost nothing
    assert [v.name for v in gui_ctx.library.load_versions(0)] == ["V1"]
    qtbot.waitUntil(
        lambda: panel.model.rowCount() == 2 and "Last batch: 1 completed" in panel.status.text(), timeout=QT_WAIT_MS
    )
    assert panel.model.data(panel.model.index(1, 1)) == "failed"
    assert panel.retry_button.isEnabled()


def test_auto_adjusted_parameters_per_actor(gui_ctx: Any, qtbot: QtBot) -> None:
    panel = _panel(gui_ctx, qtbot, start_runner=False)
    dialog = panel.add_actors([0, 1])
    dialog.mode.setCurrentIndex(dialog.mode.findData(AUTO))
    qtbot.waitUntil(
        lambda: len(dialog.planned) == 2 and dialog.planned[0].params != TrainingParameters(), timeout=QT_WAIT_MS
    )
    assert all(p.verdict and not p.blocked for p in dialog.planned)  # six clean pictures each


def test_reorder_pause_remove_retry_edit_the_queue_file(light_ctx: Any, qtbot: QtBot) -> None:
    store = QueueStore(light_ctx.library.root)
    for actor_id in (0, 1, 0):
        store.add(actor_id, f"actor {actor_id}", FAST)
    panel = _panel(light_ctx, qtbot, start_runner=True)
    assert "services have started" in panel.controller.runner_text  # the light context runs nothing
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=QT_WAIT_MS)

    panel.view.selectRow(2)
    assert panel.up_button.isEnabled() and not panel.down_button.isEnabled()
    panel.up_button.click()
    qtbot.waitUntil(lambda: [a for a, _ in _states(light_ctx)] == [0, 0, 1], timeout=QT_WAIT_MS)

    panel.pause_button.click()
    qtbot.waitUntil(lambda: store.load().paused and panel.pause_button.text() == "Resume", timeout=QT_WAIT_MS)
    assert "PAUSED" in panel.status.text()

    first = store.load().visible()[0].id
    store.update_entry(first, lambda e: setattr(e, "state", EntryState.FAILED))
    qtbot.waitUntil(
        lambda: panel.model.rowCount() == 3 and panel.model.entries[0].state is EntryState.FAILED, timeout=QT_WAIT_MS
    )  # an edit made elsewhere (the CLI) shows at the next look
    panel.view.selectRow(0)
    panel.retry_button.click()
    qtbot.waitUntil(lambda: store.load().visible()[0].state is EntryState.WAITING, timeout=QT_WAIT_MS)

    panel.view.selectRow(0)
    panel.remove_button.click()
    qtbot.waitUntil(lambda: len(store.load().visible()) == 2, timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=QT_WAIT_MS)

    panel.concurrent.setValue(3)
    panel.concurrent.editingFinished.emit()
    qtbot.waitUntil(lambda: store.load().max_concurrent == 3, timeout=QT_WAIT_MS)


def test_the_window_docks_the_queue_and_notifies_its_summary(light_ctx: Any, qtbot: QtBot) -> None:
    from actor_trainer.core.queue import QueueFinished, QueueSummary
    from tests.gui.test_main_window import window_opener

    opener = window_opener(light_ctx, qtbot)
    window = next(opener)()
    try:
        dock = window.queue_dock
        assert dock.objectName() == "queueDock" and dock.windowTitle() == "Queue"
        assert window.tabifiedDockWidgets(window.side_dock) == [dock]
        with qtbot.waitSignal(window.notifier.notified, timeout=QT_WAIT_MS) as note:
            light_ctx.events.emit(QueueFinished(summary=QueueSummary(completed=8, failed=1, seconds=11_520)))
        assert note.args == ["Queue finished", "8 completed, 1 failed — 3 h 12 min"]
    finally:
        next(opener, None)


def test_add_actors_goes_through_the_selector_with_several_selected(light_ctx: Any, qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QPushButton

    panel = _panel(light_ctx, qtbot, start_runner=False)
    panel.add_button.click()
    selector = panel.selector
    assert selector is not None
    qtbot.waitUntil(lambda: selector.proxy().rowCount() == 2, timeout=QT_WAIT_MS)
    selector.select_all_shown()
    assert selector.selected_actor_ids() == [0, 1]
    choose = next(b for b in selector.findChildren(QPushButton) if b.text() == "Choose")
    choose.click()
    qtbot.waitUntil(lambda: panel.add_dialog is not None, timeout=QT_WAIT_MS)
    dialog = panel.add_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: len(dialog.planned) == 2, timeout=QT_WAIT_MS)
    assert [p.actor.id for p in dialog.planned] == [0, 1]
    dialog.add_button.click()
    qtbot.waitUntil(lambda: len(QueueStore(light_ctx.library.root).load().visible()) == 2, timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=QT_WAIT_MS)
