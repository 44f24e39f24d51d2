"""The window paints before its panels exist (issue 11, item 3; gui/shell/docks.py): the docks stand in
their remembered places from the start, the panels fill them after the first paint (or when asked for),
and the panels' modules are not loaded with the window's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from actor_trainer.gui.context import AppContext
from actor_trainer.gui.shell.docks import PLACEHOLDER
from actor_trainer.gui.shell.main_window import MainWindow, window_settings_path
from tests.gui.test_main_window import open_window  # noqa: F401 (fixture)
from tests.waits import QT_WAIT_MS

PANEL_MODULES = (
    "actor_trainer.gui.training.training_tab",
    "actor_trainer.gui.console.console_panel",
    "actor_trainer.gui.versions.versions_panel",
    "actor_trainer.gui.tunnel.tunnel_panel",
    "actor_trainer.gui.queue.queue_panel",
    "actor_trainer.gui.selector.actor_selector",
    "pyngrok",
)


def test_remembered_docks_stand_before_the_panels_and_keep_their_places_when_filled(
    open_window: Callable[..., MainWindow], light_ctx: AppContext, qtbot: QtBot
) -> None:
    first = open_window()
    first.tunnel_dock.hide()
    first.show_versions()
    with qtbot.waitSignal(first.closeRequested, timeout=QT_WAIT_MS):
        first.close()

    second = open_window(show=False)
    assert not second.panels_made
    assert second.centralWidget().objectName() == PLACEHOLDER
    assert second.tunnel_dock.isHidden() and not second.side_dock.isHidden()
    assert [second.side_tabs.tabText(i) for i in range(second.side_tabs.count())] == ["Console", "Versions"]
    assert second.side_tabs.currentIndex() == 1
    assert "SANDBOX" in second.status.endpoint_text()  # the status bar is there at the first paint

    second.show()
    qtbot.waitUntil(lambda: second.panels_made, timeout=QT_WAIT_MS)  # nothing asked: the first paint did
    assert second.centralWidget() is second.training_tab
    assert second.side_tabs.widget(0) is second.console and second.side_tabs.widget(1) is second.versions
    assert second.side_tabs.currentIndex() == 1
    assert second.docks.tunnel_scroll.widget() is second.tunnel_panel
    assert second.queue_dock.widget() is second.queue_panel
    assert not second.tunnel_dock.isVisible() and second.side_dock.isVisible()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert second.findChild(QWidget, PLACEHOLDER) is None


def test_a_window_never_shown_makes_its_panels_when_one_is_asked_for(
    open_window: Callable[..., MainWindow], qtbot: QtBot
) -> None:
    first = open_window()
    with qtbot.waitSignal(first.closeRequested, timeout=QT_WAIT_MS):
        first.close()  # a layout to restore from now on
    window = open_window(show=False)
    assert not window.panels_made
    console = window.console
    assert window.panels_made and window.side_tabs.widget(0) is console
    assert window.centralWidget() is window.training_tab
    assert all(not action.icon().isNull() for action in window.actions_._icons)  # the menus' icons are drawn


def test_with_no_layout_to_restore_the_panels_are_made_before_the_window_shows(
    open_window: Callable[..., MainWindow],
) -> None:
    # The docks' default sizes come from the panels' size hints, as on the very first start.
    window = open_window(show=False)
    assert not window_settings_path().exists()
    assert window.panels_made and window.centralWidget() is window.training_tab


def test_the_window_module_loads_no_panel_module() -> None:
    code = (
        "import sys, actor_trainer.gui.shell.main_window\n"
        f"print(','.join(name for name in {PANEL_MODULES!r} if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_what_the_first_paint_needs_loads_neither_pillow_nor_botocore() -> None:
    """The context, the window and the services' modules are all imported before (or right after)
    the first paint; Pillow decodes off the loop later, botocore only where S3 is configured."""
    code = (
        "import sys, actor_trainer.gui.context, actor_trainer.gui.shell.main_window, actor_trainer.core.upload_urls\n"
        "print(','.join(name for name in ('PIL', 'botocore', 'boto3') if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
