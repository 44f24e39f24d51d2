"""The first start's note (issue 11, item 6): the library is the demo's copy, and how to open another."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from actor_trainer.gui.context import AppContext
from actor_trainer.gui.shell.main_window import MainWindow
from tests.gui.test_main_window import window_opener
from tests.waits import QT_WAIT_MS


@pytest.fixture
def open_window(light_ctx: AppContext, qtbot: QtBot) -> Iterator[Callable[..., MainWindow]]:
    yield from window_opener(light_ctx, qtbot)


def test_the_first_run_note_says_where_the_library_is_and_how_to_open_another(
    open_window: Callable[..., MainWindow], light_ctx: AppContext, qtbot: QtBot
) -> None:
    window = open_window()
    folder = light_ctx.config.data_dir
    box = window.show_first_run_note(folder, len(light_ctx.summaries()))
    qtbot.waitUntil(box.isVisible, timeout=QT_WAIT_MS)
    assert box.objectName() == "firstRunNote"
    assert not box.isModal(), "the note must not block the window"
    assert str(folder) in box.text()
    assert f"({len(light_ctx.summaries())} actors)" in box.text()
    assert "Open library…" in box.informativeText() and "Ctrl+Shift+O" in box.informativeText()
    # The menu action the note names exists under that name.
    assert any(action.text() == "Open library…" for action in window.findChildren(type(window.actions()[0])))
    box.button(QMessageBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not window.findChildren(QMessageBox, "firstRunNote"), timeout=QT_WAIT_MS)
