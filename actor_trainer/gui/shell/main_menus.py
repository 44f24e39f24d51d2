"""The main window's menus and shortcuts: File, Actor, Run, View, Help.

`build_menus(window)` creates every action on the window (so shortcuts work wherever the focus
is inside it) and returns them in a `MenuActions`, which also enables the actor-dependent ones.
"""

from __future__ import annotations

import html
import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMessageBox

from actor_trainer import APP_NAME, __version__
from actor_trainer.core.build_info import build_info
from actor_trainer.core.settings import log_dir
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.shell.theme import THEME_MODES
from actor_trainer.gui.widgets import icons

if TYPE_CHECKING:
    from actor_trainer.gui.shell.main_window import MainWindow


@dataclass
class MenuActions:
    open_library: QAction
    settings: QAction
    quit: QAction
    change_actor: QAction
    find_actor: QAction
    sync_now: QAction
    refresh: QAction
    start_training: QAction
    check_status: QAction
    abort: QAction
    about: QAction
    open_log_folder: QAction
    user_guide: QAction | None = None
    theme: dict[str, QAction] = field(default_factory=dict)
    _icons: dict[QAction, str] = field(default_factory=dict)

    def set_actor_chosen(self, chosen: bool) -> None:
        for action in (self.sync_now, self.start_training, self.check_status, self.abort):
            action.setEnabled(chosen)

    def retint(self) -> None:
        """Redraw the line icons in the palette's current text colour (after a theme change)."""
        for action, name in self._icons.items():
            action.setIcon(icons.icon(name))


def build_menus(window: MainWindow) -> MenuActions:
    ctx = window.ctx
    bar = window.menuBar()
    registry: dict[QAction, str] = {}

    def action(
        text: str,
        slot: object,
        *,
        shortcut: QKeySequence | str | None = None,
        icon: str | None = None,
        tip: str | None = None,
    ) -> QAction:
        act = QAction(text, window)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if icon is not None:  # drawn by retint() once the window has painted (the menus are closed then)
            registry[act] = icon
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        act.triggered.connect(lambda _checked=False: slot())  # type: ignore[operator]
        window.addAction(act)
        return act

    # File
    file_menu = bar.addMenu(tr("&File"))
    open_library = action(
        tr("Open library…"),
        window.choose_library_folder,
        icon="folder",
        shortcut="Ctrl+Shift+O",
        tip=tr("Open another library folder (the app restarts on it)"),
    )
    preferences = QKeySequence(QKeySequence.StandardKey.Preferences)
    settings = action(
        tr("Settings…"),
        lambda: _open_settings(window),
        icon="settings",
        shortcut=preferences if not preferences.isEmpty() else "Ctrl+,",
    )
    settings.setMenuRole(QAction.MenuRole.PreferencesRole)
    quit_ = action(tr("Quit"), window.close, shortcut="Ctrl+Q")
    quit_.setMenuRole(QAction.MenuRole.QuitRole)
    file_menu.addActions([open_library, settings])
    file_menu.addSeparator()
    file_menu.addAction(quit_)

    # Actor
    actor_menu = bar.addMenu(tr("&Actor"))
    change_actor = action(tr("Change actor…"), lambda: window.open_actor_selector(), icon="user", shortcut="Ctrl+O")
    find_actor = action(
        tr("Find actor…"), lambda: window.open_actor_selector(focus_search=True), icon="search", shortcut="Ctrl+F"
    )
    sync_now = action(
        tr("Sync now"),
        lambda: _sync_now(window),
        icon="sync",
        tip=tr("Upload the actor's missing or changed training images to the bucket"),
    )
    refresh = action(
        tr("Refresh"),
        lambda: _refresh(window),
        icon="refresh",
        shortcut="F5",
        tip=tr("Re-read the library and compare the actor's images with the bucket"),
    )
    actor_menu.addActions([change_actor, find_actor])
    actor_menu.addSeparator()
    actor_menu.addActions([sync_now, refresh])
    # Issue 12: the current actor's versions side by side, same prompt and seed (gui/compare/).
    compare = action(
        tr("Compare versions…"),
        lambda: _compare_versions(window),
        shortcut="Ctrl+Shift+K",
        tip=tr("See 2–4 versions or checkpoints of the actor side by side, same prompt and seed"),
    )
    compare.setObjectName("compareVersionsAction")
    actor_menu.addSeparator()
    actor_menu.addAction(compare)

    # Run
    run_menu = bar.addMenu(tr("&Run"))
    start_training = action(tr("Start training"), lambda: _start_training(window), icon="train", shortcut="Ctrl+Return")
    check_status = action(
        tr("Check status"), lambda: _check_status(window), icon="status", tip=tr("Ask RunPod about the current run now")
    )
    abort = action(
        tr("Abort…"), lambda: _abort(window), icon="stop", tip=tr("Cancel the current run on RunPod (asks first)")
    )
    run_menu.addAction(start_training)
    run_menu.addSeparator()
    run_menu.addActions([check_status, abort])

    # View
    view_menu = bar.addMenu(tr("&View"))
    view_menu.addAction(window.side_dock.toggleViewAction())
    view_menu.addAction(window.tunnel_dock.toggleViewAction())
    view_menu.addSeparator()
    theme_menu = view_menu.addMenu(tr("Theme"))
    group = QActionGroup(window)
    group.setExclusive(True)
    labels = {"system": tr("Follow the system"), "light": tr("Light"), "dark": tr("Dark")}
    current = window.theme.mode if window.theme is not None else ctx.settings.theme
    theme_actions: dict[str, QAction] = {}
    for mode in THEME_MODES:
        act = QAction(labels[mode], window)
        act.setCheckable(True)
        act.setChecked(mode == current)
        act.triggered.connect(lambda _checked=False, m=mode: window.set_theme(m))
        group.addAction(act)
        theme_menu.addAction(act)
        theme_actions[mode] = act

    # Help
    help_menu = bar.addMenu(tr("&Help"))
    about = action(tr("About Actor Trainer"), lambda: _about(window), icon="info")
    about.setMenuRole(QAction.MenuRole.AboutRole)
    open_log_folder = action(tr("Open log folder"), _open_log_folder, icon="folder")
    user_guide = action(
        tr("User guide"), lambda: _user_guide(window), shortcut=QKeySequence(QKeySequence.StandardKey.HelpContents)
    )
    user_guide.setObjectName("userGuideAction")
    help_menu.addActions([user_guide, about, open_log_folder])

    return MenuActions(
        open_library=open_library, settings=settings, quit=quit_, change_actor=change_actor,
        find_actor=find_actor, sync_now=sync_now, refresh=refresh, start_training=start_training,
        check_status=check_status, abort=abort, about=about, open_log_folder=open_log_folder,
        user_guide=user_guide, theme=theme_actions, _icons=registry,
    )  # fmt: skip


def _open_settings(window: MainWindow) -> None:
    # Imported when used: the dialog pulls in the keyring and connection tests.
    from actor_trainer.gui.settings.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.ctx, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.saved.connect(
        lambda: window.ctx.statusMessage.emit(
            tr("Settings saved; the webhook mode and GPU prices apply now, the rest after a restart.")
        )
    )
    dialog.restartRequested.connect(lambda: window.request_restart(None))
    dialog.open()


def _compare_versions(window: MainWindow) -> None:
    from actor_trainer.gui.versions.samples_hooks import open_compare

    actor_id = window.ctx.current_actor_id
    if actor_id is None:
        window.ctx.statusMessage.emit(tr("Choose an actor first"))
        return
    selected = window.versions.selected_version()
    open_compare(window.ctx, actor_id, selected.key if selected is not None else None, window)


def _sync_now(window: MainWindow) -> None:
    ctx = window.ctx
    actor_id = ctx.current_actor_id
    if actor_id is None:
        return
    if ctx.tasks.is_running(f"sync-{actor_id}"):
        ctx.statusMessage.emit(tr("This actor is already being synced."))
        return
    ctx.sync_now(actor_id)


def _refresh(window: MainWindow) -> None:
    ctx = window.ctx
    ctx.reload_library()
    if ctx.current_actor_id is not None:
        ctx.refresh_sync(ctx.current_actor_id)
    ctx.statusMessage.emit(tr("Refreshing the library…"))


def _start_training(window: MainWindow) -> None:
    window.training_tab.start_training()


def _check_status(window: MainWindow) -> None:
    window.show_console()
    window.console.check_status()


def _abort(window: MainWindow) -> None:
    window.show_console()
    window.console.abort()


def _about(window: MainWindow) -> None:
    ctx = window.ctx
    mode = (
        tr(
            "SANDBOX: a simulated RunPod endpoint and a local bucket on this computer. No credentials "
            "are needed, nothing is billed, and the LoRAs it makes are random weights. Set a RunPod "
            "endpoint and API key in Settings to train for real."
        )
        if ctx.is_sandbox
        else tr("RunPod endpoint {id}.").format(id=ctx.config.endpoint_label)
    )
    text = (
        f"<h3>{APP_NAME} {__version__}</h3>"
        f"<p>{tr('Train, track and validate LoRA models of recurring characters on RunPod Serverless.')}</p>"
        f"<p>{mode}</p>"
        f"<p>{tr('Library')}: {html.escape(str(ctx.config.data_dir))}<br>"
        f"{tr('Logs')}: {html.escape(str(log_dir()))}</p>"
        f"<p><small>{html.escape(_build_line())}<br>"
        f"Python {platform.python_version()}, Qt {qVersion()} (PySide6 {pyside_version})</small></p>"
    )
    box = QMessageBox(QMessageBox.Icon.NoIcon, tr("About Actor Trainer"), text, QMessageBox.StandardButton.Ok, window)
    box.setObjectName("aboutBox")
    box.setIconPixmap(icons.app_icon().pixmap(64, 64))
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()


def _build_line() -> str:
    """The installed build's version, date and commit (packaging/actor-trainer.spec), or where it runs from."""
    info = build_info()
    if info is None:
        return tr("Version {version}, run from the source or a Python package").format(version=__version__)
    return tr("Version {details}").format(details=info.describe())


def _user_guide(window: MainWindow) -> None:
    """Help → User guide: docs/user-guide.md in a dialog (one at a time)."""
    from actor_trainer.gui.shell.user_guide import UserGuideDialog

    existing = window.findChild(UserGuideDialog)
    if existing is not None and existing.isVisible():
        existing.raise_()
        existing.activateWindow()
        return
    dialog = UserGuideDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()


def _open_log_folder() -> None:
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
