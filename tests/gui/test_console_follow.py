"""Issue 10, item 7: the console log follows new lines unless the user scrolled up, and a run's
end notification never lies over the log (it takes its own room in the status bar)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QMainWindow, QStatusBar
from pytestqt.qtbot import QtBot

from actor_trainer.core.events import LogEvent, LogLevel
from actor_trainer.gui.console.console_log_view import ConsoleLogView
from actor_trainer.gui.shell.notifications import Toast
from tests.waits import QT_WAIT_MS


def add(view: ConsoleLogView, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        view.add_event(LogEvent(level=LogLevel.INFO, message=f"line {i}"))


def at_bottom(view: ConsoleLogView) -> bool:
    bar = view.view.verticalScrollBar()
    return bar.maximum() > 0 and bar.value() == bar.maximum()


def test_the_log_follows_new_lines_unless_the_user_scrolled_up(qtbot: QtBot, tmp_path: Path) -> None:
    view = ConsoleLogView(tmp_path / "console.log")
    qtbot.addWidget(view)
    view.resize(400, 240)
    view.show()
    add(view, 200)
    qtbot.waitUntil(lambda: at_bottom(view), timeout=QT_WAIT_MS)
    add(view, 50, 200)  # still following: the end stays in view
    qtbot.waitUntil(lambda: at_bottom(view), timeout=QT_WAIT_MS)
    last = view.view.indexAt(QPoint(5, view.view.viewport().height() - 3))
    assert last.data(Qt.ItemDataRole.DisplayRole) is not None or view.following

    bar = view.view.verticalScrollBar()
    bar.triggerAction(bar.SliderAction.SliderToMinimum)  # the user scrolls up to read
    assert not view.following
    add(view, 50, 250)
    qtbot.wait(50)  # layout passes run; the position must not move
    assert bar.value() == 0

    bar.triggerAction(bar.SliderAction.SliderToMaximum)  # back at the end: following again
    assert view.following
    add(view, 50, 300)
    qtbot.waitUntil(lambda: at_bottom(view), timeout=QT_WAIT_MS)


def test_lines_that_arrive_while_hidden_are_followed_when_shown(qtbot: QtBot, tmp_path: Path) -> None:
    view = ConsoleLogView(tmp_path / "console.log")
    qtbot.addWidget(view)
    view.resize(400, 240)
    view.show()
    add(view, 20)
    view.hide()
    add(view, 300, 20)
    view.show()
    qtbot.waitUntil(lambda: at_bottom(view), timeout=QT_WAIT_MS)


def test_the_in_app_note_lives_in_the_status_bar_and_covers_nothing(qtbot: QtBot, tmp_path: Path) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setStatusBar(QStatusBar(window))
    log = ConsoleLogView(tmp_path / "console.log")
    window.setCentralWidget(log)
    window.resize(900, 500)
    window.show()
    add(log, 100)
    toast = Toast(window)
    toast.show_note("V1 of Ana completed", "The LoRA is ready. Try it, then mark it as good in Versions.")
    qtbot.waitUntil(toast.isVisible, timeout=QT_WAIT_MS)
    assert toast.in_status_bar and toast.parentWidget() is window.statusBar()
    note = QRect(toast.mapTo(window, QPoint(0, 0)), toast.size())
    central = QRect(log.mapTo(window, QPoint(0, 0)), log.size())
    assert not note.intersects(central)
    assert toast.title_text() == "V1 of Ana completed"
    qtbot.mouseClick(toast, Qt.MouseButton.LeftButton)
    assert not toast.isVisible()
