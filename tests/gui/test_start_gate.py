"""Start and the dataset doctor (issue 13, item 1): while a finding blocks training, Start asks
"Start anyway?" first; "Don't start" sends nothing, "Start anyway" sends one run and records in the
version what it overrode (`forced`, like the CLI's --force). Real library, sandbox endpoint, bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from actor_trainer.gui.training.training_tab import ActorTrainingTab
from tests.waits import QT_WAIT_MS


def _answer(button_text: str, seen: list[str]) -> None:
    """Click `button_text` in the "Start anyway?" box once it is open (it runs its own modal loop)."""

    def click() -> None:
        boxes = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "confirmForced" and w.isVisible()
        ]
        if not boxes:
            QTimer.singleShot(10, click)
            return
        box = boxes[0]
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text() == button_text)
        button.click()

    QTimer.singleShot(0, click)


def test_blocking_findings_make_start_ask_and_forced_is_recorded(gui_ctx: Any, qtbot: QtBot) -> None:
    (Path(gui_ctx.library.training_data_folder(0)) / "empty.png").write_bytes(b"")
    tab = ActorTrainingTab(gui_ctx)
    qtbot.addWidget(tab)
    tab.resize(900, 800)
    tab.show()
    gui_ctx.select_actor(0)
    gui_ctx.sync_now(0)  # the empty file is uploaded like any other: only the doctor sees the problem
    qtbot.waitUntil(lambda: tab.start.dataset_blocked() is not None and tab.can_start(), timeout=QT_WAIT_MS)
    assert "1 problem(s) that block training" in tab.start.reason_label.text()
    sandbox = gui_ctx.services.sandbox

    seen: list[str] = []
    _answer("Don't start", seen)
    assert tab.start.start_training() is False
    assert seen and "empty.png is an empty file" in seen[0]
    assert sandbox.request_count("run") == 0 and gui_ctx.library.load_versions(0) == []

    _answer("Start anyway", seen)
    with qtbot.waitSignal(tab.trainingStarted, timeout=QT_WAIT_MS) as started:
        assert tab.start.start_training() is True
    assert len(seen) == 2 and sandbox.request_count("run") == 1
    ref = started.args[1]

    def forced() -> list[dict[str, Any]]:
        extra = gui_ctx.library.get_version(0, ref).model_extra or {}
        value = extra.get("forced")
        return value if isinstance(value, list) else []

    qtbot.waitUntil(lambda: bool(forced()), timeout=QT_WAIT_MS)
    assert [(r["check"], r["code"], r["file"]) for r in forced()] == [("dataset_doctor", "empty_file", "empty.png")]


def test_a_clean_set_starts_without_asking(gui_ctx: Any, qtbot: QtBot) -> None:
    tab = ActorTrainingTab(gui_ctx)
    qtbot.addWidget(tab)
    tab.show()
    gui_ctx.select_actor(0)
    qtbot.waitUntil(lambda: tab.data_box.dataset_check.report is not None and tab.can_start(), timeout=QT_WAIT_MS)
    assert tab.start.dataset_blocked() is None
    with qtbot.waitSignal(tab.trainingStarted, timeout=QT_WAIT_MS):
        assert tab.start.start_training() is True  # no box: nothing clicks one, and the run is sent
    assert not [w for w in QApplication.topLevelWidgets() if w.objectName() == "confirmForced" and w.isVisible()]


def test_unusual_values_need_a_confirmation_which_the_version_records(gui_ctx: Any, qtbot: QtBot) -> None:
    """Issue 10, item 4: a value outside the realistic range asks first (the GUI's --force)."""
    from actor_trainer.core.models import TrainingParameters

    tab = ActorTrainingTab(gui_ctx)
    qtbot.addWidget(tab)
    tab.show()
    gui_ctx.select_actor(0)
    tab.load_parameters(TrainingParameters(network_dim=256, network_alpha=128, max_train_steps=40))
    qtbot.waitUntil(lambda: tab.data_box.dataset_check.report is not None and tab.can_start(), timeout=QT_WAIT_MS)
    asked: list[list[str]] = []
    tab.start.confirm_unusual = lambda unusual: asked.append([u.field for u in unusual]) is not None and False
    assert tab.start.start_training() is False  # "Change them": nothing sent, nothing written
    assert asked == [["network_dim"]] and gui_ctx.library.load_versions(0) == []

    tab.start.confirm_unusual = lambda unusual: asked.append([u.field for u in unusual]) is None
    with qtbot.waitSignal(tab.trainingStarted, timeout=QT_WAIT_MS) as started:
        assert tab.start.start_training() is True
    ref = started.args[1]

    def forced() -> list[dict[str, Any]]:
        value = (gui_ctx.library.get_version(0, ref).model_extra or {}).get("forced")
        return value if isinstance(value, list) else []

    qtbot.waitUntil(lambda: bool(forced()), timeout=QT_WAIT_MS)
    assert [(r["field"], r["value"]) for r in forced()] == [("network_dim", 256)]
