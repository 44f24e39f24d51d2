"""Parts of the app shell on their own: one instance per library (real local sockets), the error
dialog and the hooks that feed it (log file, no secrets), the icons and the themes."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import QDir, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QPlainTextEdit, QPushButton
from pytestqt.qtbot import QtBot

from actor_trainer.app_logging import configure_logging
from actor_trainer.gui.shell.error_dialog import ErrorReporter
from actor_trainer.gui.shell.single_instance import SingleInstance, instance_name
from actor_trainer.gui.shell.theme import SANDBOX_BG, ThemeManager
from actor_trainer.gui.widgets import icons
from tests.waits import QT_WAIT_MS

T = TypeVar("T")


def _run(loop: asyncio.AbstractEventLoop, qtbot: QtBot, coro: Coroutine[Any, Any, T]) -> T:
    task = loop.create_task(coro)
    qtbot.waitUntil(task.done, timeout=QT_WAIT_MS)
    return task.result()


# --- one instance per library ---------------------------------------------------------------------


def test_second_instance_asks_the_first_to_raise(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path
) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    first = SingleInstance(library)
    second = SingleInstance(tmp_path / "lib" / ".." / "lib")  # the same folder, spelled differently
    other = SingleInstance(tmp_path)
    try:
        assert _run(qloop, qtbot, first.acquire()).first
        assert first.listening
        with qtbot.waitSignal(first.raiseRequested, timeout=QT_WAIT_MS):
            check = _run(qloop, qtbot, second.acquire())
        assert not check.first and check.answered
        assert not second.listening
        assert _run(qloop, qtbot, other.acquire()).first  # another library is independent
    finally:
        for instance in (first, second, other):
            instance.close()
    # Once the first is gone, the library is free again.
    third = SingleInstance(library)
    try:
        assert _run(qloop, qtbot, third.acquire()).first
    finally:
        third.close()


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes leave no socket file behind")
def test_a_stale_socket_file_is_taken_over(qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    path = Path(QDir.tempPath()) / instance_name(library)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # what a crashed instance leaves: a socket file nobody listens on
    stale.close()
    assert path.exists()
    instance = SingleInstance(library)
    try:
        assert _run(qloop, qtbot, instance.acquire(timeout_s=1.0)).first
        assert instance.listening
    finally:
        instance.close()
    assert not path.exists()


# --- unexpected errors -----------------------------------------------------------------------------


def test_errors_share_one_dialog_with_details_and_copy(qtbot: QtBot, tmp_path: Path) -> None:
    reporter = ErrorReporter(tmp_path)
    first = reporter.report("Unexpected error (a bug)", "KeyError: 'x'", "Traceback one")
    qtbot.waitUntil(first.isVisible, timeout=QT_WAIT_MS)
    second = reporter.report("Unexpected error (a bug)", "ValueError: bad", "Traceback two")
    assert second is first
    assert first.error_count() == 2
    assert first.message_text() == "ValueError: bad"
    assert "Traceback one" in first.details_text() and "Traceback two" in first.details_text()
    details = first.findChild(QPlainTextEdit, "errorDetails")
    toggle = first.findChild(QPushButton, "detailsToggle")
    assert details is not None and toggle is not None
    assert not details.isVisible()
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    assert details.isVisible()
    first.copy_to_clipboard()
    assert "Traceback two" in QGuiApplication.clipboard().text()
    first.close()
    qtbot.waitUntil(lambda: reporter.dialog is None, timeout=QT_WAIT_MS)
    third = reporter.report("Again", "OSError: disk", "Traceback three")
    assert third is not first and third.error_count() == 1
    third.close()


def test_the_exception_hook_logs_and_shows_without_secrets(qapp: QApplication, qtbot: QtBot, tmp_path: Path) -> None:
    from actor_trainer.gui.shell.hooks import make_excepthook

    logs = configure_logging(0, folder=tmp_path)
    try:
        logs.redact("rpa_SUPERSECRETKEY123")
        reporter = ErrorReporter(tmp_path)
        hook = make_excepthook(qapp, reporter, logs)
        try:
            raise RuntimeError("request failed with Authorization: Bearer rpa_SUPERSECRETKEY123")
        except RuntimeError as exc:
            hook(type(exc), exc, exc.__traceback__)
        dialog = reporter.dialog
        assert dialog is not None
        assert dialog.message_text().startswith("RuntimeError: request failed")
        assert "SUPERSECRET" not in dialog.message_text() + dialog.details_text()
        assert "[redacted]" in dialog.message_text()
        for handler in logs.handlers:
            handler.flush()
        text = (tmp_path / "actor-trainer.log").read_text(encoding="utf-8")
        assert "unhandled exception" in text and "RuntimeError" in text
        assert "SUPERSECRET" not in text
        dialog.close()
    finally:
        logs.close()
        logging.getLogger().setLevel(logging.WARNING)


# --- icons and themes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", icons.ICON_NAMES)
def test_every_icon_renders_in_the_asked_colour(qapp: QApplication, name: str) -> None:
    if name == "app":
        image = icons.app_icon().pixmap(48, 48).toImage()
    else:
        image = icons.pixmap(name, 48, "#ff0000").toImage()
    assert not image.isNull() and image.width() >= 48
    colours = {
        image.pixelColor(x, y).name()
        for x in range(image.width())
        for y in range(image.height())
        if image.pixelColor(x, y).alpha() == 255
    }
    assert colours, f"{name} drew nothing"
    if name != "app":
        assert "#ff0000" in colours


def test_theme_modes_switch_palettes(qapp: QApplication) -> None:
    theme = ThemeManager(qapp, "dark")
    try:
        assert theme.is_dark
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 80
        assert SANDBOX_BG in qapp.styleSheet()
        theme.set_mode("light")
        assert not theme.is_dark
        assert qapp.palette().color(QPalette.ColorRole.Base) == QColor("#ffffff")
        theme.set_mode("nonsense")  # unknown: follow the system (offscreen reports no dark scheme)
        assert theme.mode == "system"
        assert theme.is_dark == (QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark)
    finally:
        theme.set_mode("light")
        theme.deleteLater()
