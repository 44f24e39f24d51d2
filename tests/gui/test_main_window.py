"""The main window against a real AppContext (the light one; the full sandboxed one where a test
starts a run): docks, title, layout memory, the actor selector shortcuts, run notifications, error
boxes, the status bar and the theme switch."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QModelIndex, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from actor_trainer.core.events import VersionChanged
from actor_trainer.core.models import TrainingParameters, TrainingVersion
from actor_trainer.core.settings import Settings
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.selector.actor_list_model import ActorRoles
from actor_trainer.gui.shell.main_window import MainWindow, window_settings_path
from actor_trainer.gui.shell.theme import ThemeManager
from tests.waits import QT_WAIT_MS

ACTOR_0 = "0000_european_16_male"
ACTOR_1 = "0001_african_34_female"


def window_opener(ctx: AppContext, qtbot: QtBot) -> Iterator[Callable[..., MainWindow]]:
    """Opens main windows on `ctx`; closes and deletes them after the test, once the widgets'
    background reads have finished (qtbot.addWidget would delete them too early)."""
    windows: list[MainWindow] = []

    def open_(show: bool = True, **kwargs: object) -> MainWindow:
        kwargs.setdefault("choose_actor_on_start", False)
        win = MainWindow(ctx, **kwargs)  # type: ignore[arg-type]
        windows.append(win)
        if show:
            win.show()
            qtbot.waitExposed(win, timeout=QT_WAIT_MS)
            qtbot.waitUntil(lambda: win.panels_made, timeout=QT_WAIT_MS)  # made after the first paint
        return win

    yield open_
    qtbot.waitUntil(lambda: not ctx.tasks.running_names(), timeout=QT_WAIT_MS)
    for win in windows:
        if shiboken6.isValid(win):
            win.allow_close()
            win.close()
            win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def open_window(light_ctx: AppContext, qtbot: QtBot) -> Iterator[Callable[..., MainWindow]]:
    """Windows over the light context (no service started): everything but a run."""
    yield from window_opener(light_ctx, qtbot)


@pytest.fixture
def window(open_window: Callable[..., MainWindow]) -> MainWindow:
    return open_window()


@pytest.fixture
def run_window(gui_ctx: AppContext, qtbot: QtBot) -> Iterator[MainWindow]:
    """A window over the full context, for the tests that start a run."""
    opener = window_opener(gui_ctx, qtbot)
    yield next(opener)()
    next(opener, None)


def test_window_shows_training_tab_docks_and_status_bar(window: MainWindow) -> None:
    assert window.centralWidget() is window.training_tab
    assert window.side_dock.isVisible() and window.tunnel_dock.isVisible()
    assert window.dockWidgetArea(window.side_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.dockWidgetArea(window.tunnel_dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert [window.side_tabs.tabText(i) for i in range(window.side_tabs.count())] == ["Console", "Versions"]
    assert window.status.endpoint_text() == "SANDBOX"
    assert window.status.runs_text() == "No runs in flight"
    assert "Tunnel stopped" in window.status.tunnel_text()
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Actor", "Run", "View", "Help"]
    # Docks can be toggled from the View menu.
    window.side_dock.toggleViewAction().trigger()
    assert not window.side_dock.isVisible()


def test_title_names_sandbox_actor_and_run_state(window: MainWindow, light_ctx: AppContext, qtbot: QtBot) -> None:
    assert "[SANDBOX]" in window.windowTitle()
    assert "no actor chosen" in window.windowTitle()
    assert not window.actions_.start_training.isEnabled()
    light_ctx.select_actor(0)
    qtbot.waitUntil(lambda: window.windowTitle() == f"{ACTOR_0} — idle — Actor Trainer [SANDBOX]", timeout=QT_WAIT_MS)
    assert window.actions_.start_training.isEnabled()
    # The window system appends the display name to a title that does not end with it (Qt's
    # formatWindowTitle): the title ends with it, so the app's name shows once.
    assert window.windowTitle().endswith(QGuiApplication.applicationDisplayName())
    assert window.windowTitle().count("Actor Trainer") == 1


def test_geometry_docks_and_tab_are_restored_by_a_new_window(
    open_window: Callable[..., MainWindow], light_ctx: AppContext, qtbot: QtBot
) -> None:
    first = open_window()
    # The offscreen screen is 800 px square and the window's minimum width is larger, so restoring
    # clamps the width to the screen: the height tells the restored geometry from the default.
    first.resize(first.width(), 700)
    assert first.height() == 700
    first.tunnel_dock.hide()
    first.show_versions()
    light_ctx.select_actor(1)
    with qtbot.waitSignal(first.closeRequested, timeout=QT_WAIT_MS):
        first.close()
    assert not first.isVisible()
    assert window_settings_path().is_file()

    second = open_window()
    assert second.height() == 700
    assert not second.tunnel_dock.isVisible()
    assert second.side_dock.isVisible()
    assert second.side_tabs.currentIndex() == 1
    assert second.last_actor_id() == 1


def test_a_new_window_reselects_the_last_actor(
    open_window: Callable[..., MainWindow], light_ctx: AppContext, qtbot: QtBot
) -> None:
    first = open_window()
    light_ctx.select_actor(1)
    first.close()
    light_ctx.select_actor(None)
    # Choosing on start: the last actor comes back, and no selector opens.
    second = open_window(choose_actor_on_start=True)
    qtbot.waitUntil(lambda: light_ctx.current_actor_id == 1, timeout=QT_WAIT_MS)
    assert second.selector is None


def test_first_start_opens_the_selector(open_window: Callable[..., MainWindow], qtbot: QtBot) -> None:
    win = open_window(choose_actor_on_start=True)
    qtbot.waitUntil(lambda: win.selector is not None and win.selector.isVisible(), timeout=QT_WAIT_MS)
    win.selector.reject()  # type: ignore[union-attr]


def _choose(dialog_index_of: object, actor_id: int) -> QModelIndex:
    proxy = dialog_index_of.proxy()  # type: ignore[attr-defined]
    for row in range(proxy.rowCount()):
        index = proxy.index(row, 0)
        if index.data(ActorRoles.IdRole) == actor_id:
            return index
    raise AssertionError(f"actor {actor_id} not in the selector")


def test_ctrl_o_opens_the_selector_and_choosing_selects(
    window: MainWindow, light_ctx: AppContext, qtbot: QtBot
) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=QT_WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.selector is not None and window.selector.isVisible(), timeout=QT_WAIT_MS)
    dialog = window.selector
    assert dialog is not None
    view = dialog.view()
    index = _choose(dialog, 1)
    view.setCurrentIndex(index)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: light_ctx.current_actor_id == 1, timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: ACTOR_1 in window.windowTitle(), timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: window.selector is None, timeout=QT_WAIT_MS)


def test_ctrl_f_opens_the_selector_with_the_search_focused(window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=QT_WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.selector is not None and window.selector.isVisible(), timeout=QT_WAIT_MS)
    dialog = window.selector
    assert dialog is not None
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.search_box(), timeout=QT_WAIT_MS)
    qtbot.keyClicks(dialog.search_box(), "african")
    dialog.apply_pending_search()
    assert dialog.count_text() == "1 of 2 actors"
    dialog.reject()


def test_a_finished_run_notifies_once_and_updates_title_and_status(
    run_window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    gui_ctx.select_actor(0)
    qtbot.waitUntil(lambda: "idle" in run_window.windowTitle(), timeout=QT_WAIT_MS)
    notes: list[tuple[str, str]] = []
    run_window.notifier.notified.connect(lambda title, message: notes.append((title, message)))
    titles: list[str] = []
    run_window.windowTitleChanged.connect(titles.append)
    finals: list[TrainingVersion] = []
    gui_ctx.bridge.versionChanged.connect(lambda _a, v: finals.append(v) if v.status.is_terminal else None)

    params = TrainingParameters(max_train_steps=200)
    gui_ctx.tasks.start("test-submit", gui_ctx.orchestrator.submit(0, params, description="notify test"))
    qtbot.waitUntil(lambda: bool(notes), timeout=QT_WAIT_MS)
    title, message = notes[0]
    assert title == f"V1 of {ACTOR_0} completed"
    assert "LoRA is ready" in message
    # In flight, the title said so; at the end it is idle again and nothing is counted.
    assert any("V1" in t and "[SANDBOX]" in t for t in titles)
    qtbot.waitUntil(
        lambda: run_window.windowTitle() == f"{ACTOR_0} — idle — Actor Trainer [SANDBOX]", timeout=QT_WAIT_MS
    )
    qtbot.waitUntil(lambda: run_window.status.in_flight_count() == 0, timeout=QT_WAIT_MS)
    # No tray offscreen: the in-app toast shows it.
    assert run_window.notifier.toast.isVisible()
    assert run_window.notifier.toast.title_text() == title
    qtbot.waitUntil(lambda: run_window.status.last_webhook_text().startswith("Last webhook:"), timeout=QT_WAIT_MS)

    # The same record written again (e.g. marked as good) does not notify a second time.
    gui_ctx.events.emit(VersionChanged(actor_id=0, version=finals[-1]))
    qtbot.mouseClick(run_window.notifier.toast, Qt.MouseButton.LeftButton)
    assert not run_window.notifier.toast.isVisible()
    assert len(notes) == 1


def test_runs_in_flight_are_counted_across_actors(run_window: MainWindow, gui_ctx: AppContext, qtbot: QtBot) -> None:
    gui_ctx.select_actor(1)
    counts: list[int] = []
    gui_ctx.bridge.versionChanged.connect(lambda *_: counts.append(run_window.status.in_flight_count()))
    gui_ctx.tasks.start("test-submit", gui_ctx.orchestrator.submit(0, TrainingParameters(max_train_steps=200)))
    qtbot.waitUntil(lambda: run_window.status.in_flight_count() == 1, timeout=QT_WAIT_MS)
    assert run_window.status.runs_text() == "Runs in flight: 1"
    assert ACTOR_0 in run_window.status._runs.toolTip()
    # The title follows the current actor (1), which has no run.
    assert run_window.windowTitle().startswith(f"{ACTOR_1} — idle — ")
    qtbot.waitUntil(lambda: run_window.status.in_flight_count() == 0, timeout=QT_WAIT_MS)
    assert run_window.status.runs_text() == "No runs in flight"


def test_errors_show_one_non_modal_box_each(window: MainWindow, light_ctx: AppContext, qtbot: QtBot) -> None:
    light_ctx.errorRaised.emit("Sync failed", "The bucket refused the upload.", "Check the credentials.")
    light_ctx.errorRaised.emit("Sync failed", "The bucket refused the upload.", "Check the credentials.")
    boxes = window.open_messages()
    assert len(boxes) == 1
    box = boxes[0]
    qtbot.waitUntil(box.isVisible, timeout=QT_WAIT_MS)
    assert box.text() == "The bucket refused the upload."
    assert box.informativeText() == "Check the credentials."
    assert not box.isModal()
    box.button(QMessageBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not window.open_messages(), timeout=QT_WAIT_MS)


def test_status_messages_reach_the_status_bar(window: MainWindow, light_ctx: AppContext) -> None:
    light_ctx.statusMessage.emit("Synced: 6 uploaded")
    assert window.status.currentMessage() == "Synced: 6 uploaded"


def test_theme_menu_switches_palette_and_saves_the_choice(open_window: Callable[..., MainWindow], qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    theme = ThemeManager(app, "light")
    try:
        win = open_window(theme=theme)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 128
        win.actions_.theme["dark"].trigger()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 128
        assert win.actions_.theme["dark"].isChecked()
        qtbot.waitUntil(lambda: Settings.path().is_file() and Settings.load().theme == "dark", timeout=QT_WAIT_MS)
    finally:
        theme.set_mode("light")
        theme.deleteLater()


def test_open_library_refuses_a_folder_without_actors_json(window: MainWindow, tmp_path, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    restarts: list[object] = []
    window.restartRequested.connect(restarts.append)
    assert not window.open_library(tmp_path, confirm=False)
    assert any("no actors.json" in box.text() for box in window.open_messages())
    assert restarts == []


def test_open_library_saves_the_choice_and_asks_for_a_restart(
    window: MainWindow, light_ctx: AppContext, tmp_path, qtbot: QtBot
) -> None:  # type: ignore[no-untyped-def]
    from tests.library_factory import make_library

    other = make_library(tmp_path / "other")
    with qtbot.waitSignal(window.restartRequested, timeout=QT_WAIT_MS) as blocker:
        assert window.open_library(other, confirm=False)
    assert blocker.args == [other]
    assert Settings.load().data_dir == str(other)


def test_ctrl_return_starts_training_and_shows_the_console(
    run_window: MainWindow, gui_ctx: AppContext, qtbot: QtBot
) -> None:
    run_window.show_versions()
    gui_ctx.select_actor(0)
    qtbot.waitUntil(run_window.training_tab.can_start, timeout=QT_WAIT_MS)
    run_window.activateWindow()
    qtbot.waitUntil(run_window.isActiveWindow, timeout=QT_WAIT_MS)
    with qtbot.waitSignal(run_window.training_tab.trainingStarted, timeout=QT_WAIT_MS) as blocker:
        qtbot.keyClick(run_window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args[0] == 0
    assert run_window.side_tabs.currentIndex() == 0  # the console, where the run is followed
    qtbot.waitUntil(lambda: run_window.status.in_flight_count() == 0, timeout=QT_WAIT_MS)


def test_f5_rereads_the_library(window: MainWindow, light_ctx: AppContext, qtbot: QtBot) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=QT_WAIT_MS)
    with qtbot.waitSignal(light_ctx.libraryReloaded, timeout=QT_WAIT_MS):
        qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.status.currentMessage() == "Refreshing the library…"


def test_status_bar_follows_the_webhook_mode_and_endpoint(
    light_ctx: AppContext, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from actor_trainer.gui.shell.status_bar import AppStatusBar

    monkeypatch.setattr(light_ctx, "config", dataclasses.replace(light_ctx.config, webhook_mode="poll"))
    polling = AppStatusBar(light_ctx)
    qtbot.addWidget(polling)
    assert polling.tunnel_text() == "Webhooks: poll only"
    assert "0.3 s" in polling._tunnel.toolTip()
    assert polling._webhook.isHidden()

    monkeypatch.setattr(
        light_ctx,
        "config",
        dataclasses.replace(
            light_ctx.config,
            sandbox=False,
            endpoint_label="abc123xyz",
            webhook_mode="public",
            public_url="https://hooks.example.org",
        ),
    )
    real = AppStatusBar(light_ctx)
    qtbot.addWidget(real)
    assert real.endpoint_text() == "Endpoint: abc123xyz"
    assert real.tunnel_text() == "Webhooks: public URL"
    assert real._tunnel.toolTip() == "https://hooks.example.org"
    qtbot.waitUntil(lambda: not light_ctx.tasks.running_names(), timeout=QT_WAIT_MS)
