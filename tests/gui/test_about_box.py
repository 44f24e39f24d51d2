"""Help → About (issue 11, item 6): version and build, Qt and Python versions, library and log folders."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from actor_trainer import __version__
from actor_trainer.core.settings import log_dir
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.shell.main_window import MainWindow
from tests.gui.test_main_window import window_opener
from tests.waits import QT_WAIT_MS


@pytest.fixture
def open_window(light_ctx: AppContext, qtbot: QtBot) -> Iterator[Callable[..., MainWindow]]:
    yield from window_opener(light_ctx, qtbot)


def test_about_names_the_version_build_qt_python_library_and_logs(
    open_window: Callable[..., MainWindow], light_ctx: AppContext, qtbot: QtBot
) -> None:
    window = open_window()
    about = next(a for a in window.findChildren(type(window.actions()[0])) if a.text() == "About Actor Trainer")
    about.trigger()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "aboutBox") is not None, timeout=QT_WAIT_MS)
    box = window.findChild(QMessageBox, "aboutBox")
    assert box is not None
    text = box.text()
    assert f"Version {__version__}, run from the source" in text  # no build_info.json outside a frozen build
    assert f"Qt {qVersion()}" in text and f"Python {platform.python_version()}" in text
    assert str(light_ctx.config.data_dir) in text and str(log_dir()) in text
    box.close()
