"""The main window (docs/architecture.md, "The window"): the training tab in the centre, Console | Versions in a
right dock, the tunnel panel in a bottom dock, the status bar, menus and shortcuts.

Closing the window does not quit Qt: it saves the layout, hides, and emits `closeRequested`; the app's
start-up coroutine then shuts the services down (bounded) and ends the loop, so a quit request from
the desktop (a session logout, Cmd+Q) cannot stop the event loop half-way through shutdown.

Closing (Ctrl+Q, the window's close button) while runs are in flight asks first (`confirm_quit`),
saying what happens to them: on a RunPod endpoint they go on and are picked up at the next start;
in the sandbox the simulated worker lives in this app and stops with it, and the next start marks
those runs interrupted (docs/architecture.md, "The sandbox").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QPaintEvent, QShowEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from actor_trainer.core.library import ActorSummary
from actor_trainer.core.models import TrainingParameters, TrainingVersion
from actor_trainer.core.settings import config_dir
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.shell.current_run import CurrentRunTracker
from actor_trainer.gui.shell.docks import CONSOLE_TAB, VERSIONS_TAB, WindowDocks, WindowPanels, build_panels
from actor_trainer.gui.shell.main_menus import MenuActions, build_menus
from actor_trainer.gui.shell.notifications import RunNotifier
from actor_trainer.gui.shell.quit_guard import QuitGuard
from actor_trainer.gui.shell.status_bar import AppStatusBar
from actor_trainer.gui.shell.theme import ThemeManager
from actor_trainer.gui.widgets import icons

if TYPE_CHECKING:  # the panels' modules load after the first paint (gui/shell/docks.py)
    from actor_trainer.gui.console.console_panel import ConsolePanel
    from actor_trainer.gui.queue.queue_panel import QueuePanel
    from actor_trainer.gui.selector.actor_selector import ActorSelectorDialog
    from actor_trainer.gui.training.training_tab import ActorTrainingTab
    from actor_trainer.gui.tunnel.tunnel_panel import TunnelPanel
    from actor_trainer.gui.versions.versions_panel import VersionsPanel

LAYOUT_VERSION = 1


def window_settings_path() -> Path:
    """Where the window layout and the last actor are remembered (an INI file in the config folder)."""
    return config_dir() / "window.ini"


class MainWindow(QMainWindow):
    #: the user closed the window: the app should shut down
    closeRequested = Signal()
    #: relaunch the app after shutdown, on this library folder (None: the same one)
    restartRequested = Signal(object)

    def __init__(
        self,
        ctx: AppContext,
        theme: ThemeManager | None = None,
        parent: QWidget | None = None,
        *,
        choose_actor_on_start: bool = True,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.ctx = ctx
        self.theme = theme
        self._choose_on_start = choose_actor_on_start
        self._first_show_done = False
        self._painted = False
        self._after_paint_done = False
        self._close_requested = False
        self._may_close = False
        self._selector: ActorSelectorDialog | None = None
        self._messages: dict[tuple[str, str], QMessageBox] = {}
        self._settings = QSettings(str(settings_path or window_settings_path()), QSettings.Format.IniFormat)
        self.setWindowIcon(icons.app_icon())
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        # The right dock runs the full height; the tunnel dock sits under the training tab only.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        # The first paint shows the menus, the status bar (services state) and the docks in their
        # remembered places; the panels fill them right after it (gui/shell/docks.py).
        self._panels: WindowPanels | None = None
        self.setCentralWidget(WindowDocks.placeholder(self))
        self.docks = WindowDocks(self)
        self.side_tabs, self.side_dock = self.docks.side_tabs, self.docks.side_dock
        self.tunnel_dock, self.queue_dock = self.docks.tunnel_dock, self.docks.queue_dock
        self.status = AppStatusBar(ctx, self)
        self.setStatusBar(self.status)
        self.notifier = RunNotifier(ctx, self)
        self.run_state = CurrentRunTracker(ctx, self)
        self.actions_: MenuActions = build_menus(self)
        #: Ask before quitting with runs in flight: confirm_quit(title, text) -> True to quit.
        self.confirm_quit: Callable[[str, str], bool] = self._ask_quit
        self.quit_guard = QuitGuard(ctx, self)

        ctx.currentActorChanged.connect(self._on_current_actor)
        ctx.errorRaised.connect(self.show_error)
        self.run_state.stateChanged.connect(lambda _text: self._update_title())
        if theme is not None:
            theme.themeChanged.connect(lambda _dark: self.actions_.retint())

        self.resize(1360, 860)
        # Below this the cards, the docks and the versions' main columns no longer fit side by
        # side; 1280×720 works (issue 10, item 8: tests/gui/test_layout_1280.py).
        self.setMinimumSize(1024, 600)
        self.restore_layout()
        if not self.docks.restored:  # no layout to restore: the default sizes come from the panels themselves
            _ = self.panels
        self._update_title()
        self._update_actions()

    # --- public API ------------------------------------------------------------------------------

    def open_actor_selector(self, *, focus_search: bool = False) -> ActorSelectorDialog:
        """Open the actor selector (window-modal, never blocking the loop); choosing selects."""
        if self._selector is not None and self._selector.isVisible():
            self._selector.raise_()
            self._selector.activateWindow()
            if focus_search:
                self._selector.search_box().setFocus(Qt.FocusReason.ShortcutFocusReason)
            return self._selector
        from actor_trainer.gui.selector.actor_selector import ActorSelectorDialog

        dialog = ActorSelectorDialog(
            self.ctx.actor_model, self.ctx.thumbnails, self, current_actor_id=self.ctx.current_actor_id
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.actorChosen.connect(self.ctx.select_actor)
        dialog.destroyed.connect(self._selector_gone)
        self._selector = dialog
        dialog.open()
        if focus_search:
            dialog.search_box().setFocus(Qt.FocusReason.ShortcutFocusReason)
            dialog.search_box().selectAll()
        return dialog

    @property
    def selector(self) -> ActorSelectorDialog | None:
        """The actor selector while it is open."""
        return self._selector

    def show_console(self) -> None:
        self.side_dock.show()
        self.side_tabs.setCurrentIndex(CONSOLE_TAB)

    def show_versions(self) -> None:
        self.side_dock.show()
        self.side_tabs.setCurrentIndex(VERSIONS_TAB)

    def bring_to_front(self) -> None:
        """Show, un-minimize, raise and activate (another launch on this library asked for it)."""
        if self._close_requested:
            return
        self.setWindowState((self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        self.show()
        self.raise_()
        self.activateWindow()

    def show_error(self, title: str, message: str, hint: str) -> None:
        """A non-modal message box (one per distinct error while it is open)."""
        key = (title, message)
        if key in self._messages:
            self._messages[key].raise_()
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("errorMessage")
        box.setInformativeText(hint)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: self._messages.pop(key, None))
        self._messages[key] = box
        box.show()

    def show_first_run_note(self, folder: Path, actors: int) -> QMessageBox:
        """The first start's note (non-modal): where the library is, that it is the demo's copy, and how to
        open the studio's own library instead (issue 11, item 6)."""
        box = QMessageBox(
            QMessageBox.Icon.Information,
            tr("Welcome to Actor Trainer"),
            tr("Your library is in {folder}: a copy of the demo library ({count} actors) to try the app on.").format(
                folder=folder, count=actors
            ),
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setObjectName("firstRunNote")
        box.setInformativeText(
            tr(
                "To work on your studio's library instead, use File → Open library… (Ctrl+Shift+O). "
                "The demo copy stays where it is; nothing in it is billed."
            )
        )
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        return box

    def open_messages(self) -> list[QMessageBox]:
        return list(self._messages.values())

    def open_library(self, folder: Path, *, confirm: bool = True) -> bool:
        """Switch to the library in `folder`: the app restarts on it. False when it is not one."""
        folder = folder.expanduser()
        if not (folder / "actors.json").is_file():
            self.show_error(
                tr("Not an Actor Trainer library"),
                tr("{folder} holds no actors.json.").format(folder=folder),
                tr("Choose the folder that contains actors.json and the actors folder."),
            )
            return False
        if folder.resolve() == self.ctx.config.data_dir.resolve():
            self.ctx.statusMessage.emit(tr("That library is already open."))
            return True

        def restart() -> None:
            self.ctx.settings.data_dir = str(folder)
            self.ctx.tasks.start(
                "save-settings",
                asyncio.to_thread(self.ctx.settings.save),
                on_done=lambda _r: self.request_restart(folder),
                on_error=lambda exc: self.ctx.report_error(exc, tr("Settings were not saved")),
                owner=self,
            )

        if not confirm:
            restart()
            return True
        box = QMessageBox(
            QMessageBox.Icon.Question,
            tr("Open another library"),
            tr("Actor Trainer restarts on {folder}.").format(folder=folder),
            QMessageBox.StandardButton.NoButton,
            self,
        )
        box.setInformativeText(
            tr("Runs in flight keep running at RunPod; they are picked up again when you come back to this library.")
        )
        go = box.addButton(tr("Restart on this library"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: restart() if box.clickedButton() is go else None)
        box.open()
        return True

    def request_restart(self, folder: Path | None = None) -> None:
        self.restartRequested.emit(folder)
        self.close()

    def allow_close(self) -> None:
        """Let the next close really close (the app calls this after shutdown)."""
        self._may_close = True

    # --- layout persistence ----------------------------------------------------------------------

    def save_layout(self) -> None:
        s = self._settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(LAYOUT_VERSION))
        s.setValue("window/sideTab", self.side_tabs.currentIndex())
        if self.ctx.current_actor_id is not None:
            s.setValue("session/lastActor", self.ctx.current_actor_id)
        s.sync()

    def restore_layout(self) -> None:
        s = self._settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.docks.restored = self.restoreState(state, LAYOUT_VERSION)
        tab = s.value("window/sideTab")
        if tab is not None and str(tab).isdigit():
            self.side_tabs.setCurrentIndex(int(str(tab)))

    def last_actor_id(self) -> int | None:
        value = self._settings.value("session/lastActor")
        return int(str(value)) if value is not None and str(value).isdigit() else None

    # --- Qt --------------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._first_show_done:
            self._first_show_done = True
            QTimer.singleShot(1000, self._after_first_paint)  # a window that never paints (minimised)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._after_first_paint)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._may_close:
            event.accept()
            return
        if not self._close_requested:
            question = self.quit_question()
            if question is not None and not self.confirm_quit(*question):
                event.ignore()
                return
        self.save_layout()
        for box in list(self._messages.values()):
            box.close()
        event.ignore()
        self.hide()
        if not self._close_requested:
            self._close_requested = True
            self.notifier.shutdown()
            self.closeRequested.emit()

    # --- quitting with runs in flight -----------------------------------------------------------

    def runs_in_flight(self) -> list[tuple[str, TrainingVersion]]:
        """Every run in flight in the library (actor name, version), as this window last saw it."""
        return self.quit_guard.runs()

    def quit_question(self) -> tuple[str, str] | None:
        """What to ask before quitting (title, text), or None when no run is in flight."""
        return self.quit_guard.question()

    def _ask_quit(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self)
        quit_button = box.addButton(tr("Quit"), QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton(tr("Keep the app open"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is quit_button

    # --- internals -------------------------------------------------------------------------------

    def _after_first_paint(self) -> None:
        """Choose the actor (the last one, or the selector's grid) and make the panels, in the order
        that gets the actor on screen first."""
        if self._after_paint_done:
            return
        self._after_paint_done = True
        last = self.last_actor_id() if self.ctx.current_actor_id is None and self._choose_on_start else None
        if last is not None and self.ctx.summary(last) is not None:
            _ = self.panels  # made first: they follow the actor's data as it arrives
            self.ctx.select_actor(last)
        elif self.ctx.current_actor_id is None and self._choose_on_start and self.ctx.summaries():
            self.open_actor_selector()  # the actor grid first; the panels behind it
        QTimer.singleShot(0, lambda: self.panels)

    # --- the panels (gui/shell/docks.py): made after the first paint, or when first asked for ------

    @property
    def panels_made(self) -> bool:
        return self._panels is not None

    @property
    def panels(self) -> WindowPanels:
        if self._panels is None:
            self._panels = panels = build_panels(self, self.ctx, self.docks)
            panels.training_tab.changeActorRequested.connect(lambda: self.open_actor_selector())
            panels.training_tab.trainingStarted.connect(lambda _actor, _ref: self.show_console())
            panels.versions.trainAgainRequested.connect(self._train_again)
            panels.queue_panel.summaryReady.connect(self.notifier.notify)
            self.actions_.retint()  # the menus' icons
        return self._panels

    @property
    def training_tab(self) -> ActorTrainingTab:
        return self.panels.training_tab

    @property
    def console(self) -> ConsolePanel:
        return self.panels.console

    @property
    def versions(self) -> VersionsPanel:
        return self.panels.versions

    @property
    def tunnel_panel(self) -> TunnelPanel:
        return self.panels.tunnel_panel

    @property
    def queue_panel(self) -> QueuePanel:
        return self.panels.queue_panel

    def _selector_gone(self) -> None:
        self._selector = None

    def _on_current_actor(self, summary: ActorSummary | None) -> None:
        if summary is not None:
            self._settings.setValue("session/lastActor", summary.actor.id)
        self._update_title()
        self._update_actions()

    def _train_again(self, params: object) -> None:
        if isinstance(params, TrainingParameters):
            self.training_tab.load_parameters(params)
            self.ctx.statusMessage.emit(tr("Parameters loaded: review them, then start training."))

    def _update_actions(self) -> None:
        self.actions_.set_actor_chosen(self.ctx.current_actor_id is not None)

    def app_title(self) -> str:
        """The app's name as the title ends: "Actor Trainer", or "Actor Trainer [SANDBOX]"."""
        name = tr("Actor Trainer")
        return f"{name} [{tr('SANDBOX')}]" if self.ctx.is_sandbox else name

    def _update_title(self) -> None:
        """ "actor — state — Actor Trainer [SANDBOX]". The display name is the same ending, so Qt (which
        appends it to a title that does not end with it) never adds the app's name a second time."""
        summary = self.ctx.current_summary
        parts: list[str] = []
        if summary is None:
            parts.append(tr("no actor chosen"))
        else:
            parts.append(summary.actor.name)
            if self.run_state.text:
                parts.append(self.run_state.text)
        app_title = self.app_title()
        if QGuiApplication.applicationDisplayName() != app_title:
            QGuiApplication.setApplicationDisplayName(app_title)
        self.setWindowTitle(" — ".join([*parts, app_title]))

    # used by the menus ------------------------------------------------------------------------------

    def choose_library_folder(self) -> None:
        dialog = QFileDialog(self, tr("Open a library folder"), str(self.ctx.config.data_dir.parent))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self.open_library(Path(path)))
        dialog.open()

    def set_theme(self, mode: str) -> None:
        if self.theme is not None:
            self.theme.set_mode(mode)
        self.ctx.settings.theme = mode  # type: ignore[assignment]
        self.ctx.tasks.start(
            "save-settings",
            asyncio.to_thread(self.ctx.settings.save),
            on_error=lambda exc: self.ctx.report_error(exc, tr("The theme was not saved")),
            owner=self,
        )
