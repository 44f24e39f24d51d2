"""Issue 10, item 11: a search or filter that matches no actor says so and offers "Clear filters"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from actor_trainer.gui.context import AppContext
from actor_trainer.gui.selector.actor_selector import ActorSelectorDialog
from tests.waits import QT_WAIT_MS


def test_no_match_says_so_and_clear_filters_brings_everyone_back(light_ctx: AppContext, qtbot: QtBot) -> None:
    dialog = ActorSelectorDialog(light_ctx.actor_model, light_ctx.thumbnails, search_delay_ms=10)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
    assert dialog.no_match_text() is None and dialog.view().isVisible()

    qtbot.keyClicks(dialog.search_box(), "nobody-by-this-name")
    dialog.apply_pending_search()
    assert dialog.count_text() == "0 of 2 actors"
    assert dialog.no_match_text() == "No actor matches the search and filters."
    assert not dialog.view().isVisible()
    clear = dialog.findChild(QPushButton, "noMatchClear")
    assert clear is not None and clear.isVisible() and clear.text() == "Clear filters"

    qtbot.mouseClick(clear, Qt.MouseButton.LeftButton)
    assert dialog.search_box().text() == ""
    assert dialog.count_text() == "2 of 2 actors"
    assert dialog.no_match_text() is None and dialog.view().isVisible()
    dialog.reject()
