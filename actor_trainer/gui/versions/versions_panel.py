"""The Versions tab (the original web app's History): every training run of the current actor, newest first,
live while runs progress, with the details of the selected one and what can be done to it.

The table follows `ctx.currentActorChanged`; it reloads off the loop, and between reloads it is
kept current by the bridge (`versionChanged`, `runProgress`), changing rows in place so the
selection survives. History is never deleted from here: Delete does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.library import ActorSummary
from actor_trainer.core.models import Progress, TrainingVersion, VersionStatus
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.version_actions import VersionActions
from actor_trainer.gui.versions.version_details import VersionDetails
from actor_trainer.gui.versions.versions_model import Column, VersionsDelegate, VersionsModel
from actor_trainer.gui.widgets.status_style import badge_size, status_word

if TYPE_CHECKING:
    from actor_trainer.gui.context import AppContext

_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
_DELETE_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


class VersionsTable(QTableView):
    """The versions table: Enter moves to the details; Delete is swallowed (history stays)."""

    detailsRequested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in _ENTER_KEYS and self.currentIndex().isValid():
            self.detailsRequested.emit()
            event.accept()
            return
        if event.key() in _DELETE_KEYS:
            event.accept()  # no deleting history from here
            return
        super().keyPressEvent(event)


MAIN_COLUMNS = (Column.NAME, Column.STATUS, Column.STARTED, Column.DURATION)
MAIN_COLUMNS_MAX_WIDTH = 560  # beyond it the window's minimum width would outgrow a 1280-px screen


class VersionsPanel(QWidget):
    """The current actor's training history. Emits `trainAgainRequested(TrainingParameters)`."""

    trainAgainRequested = Signal(object)
    #: the versions of the current actor were (re)loaded from disk
    versionsLoaded = Signal()

    EMPTY_NO_ACTOR = "Choose an actor to see its training history"
    EMPTY_NO_VERSIONS = "No training runs yet — start one on the left"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("VersionsPanel")
        self.ctx = ctx
        self._actor_id: int | None = None
        self._loaded_actor: int | None = None

        self.model = VersionsModel(self)
        self.table = VersionsTable(self)
        self.table.setObjectName("versionsTable")
        self.table.setModel(self.model)
        self.table.setItemDelegate(VersionsDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(False)  # the model keeps newest first
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 14)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.detailsRequested.connect(self.focus_details)
        self.table.doubleClicked.connect(lambda _index: self.focus_details())

        self.version_actions = VersionActions(ctx, self)
        self.details = VersionDetails(self.version_actions.all(), self)
        # Issue 12: the version's samples, checkpoints and tries in its details (gui/versions/samples_hooks.py).
        from actor_trainer.gui.versions.samples_hooks import install_samples_section

        self.samples = install_samples_section(ctx, self.details.content, self)
        self.version_actions.trainAgainRequested.connect(self.trainAgainRequested)
        self.version_actions.versionUpdated.connect(self._on_version_updated)
        # The row shows the good mark (or its absence) as soon as the library has written it.
        self.version_actions.markedGood.connect(lambda actor, v: self._on_version_updated(actor, v, False))
        self.version_actions.unmarkedGood.connect(lambda actor, v: self._on_version_updated(actor, v, False))

        self.title = QLabel(self)
        self.title.setObjectName("versionsTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        # Wrap rather than widen: a long actor name must not set the dock's (and window's) minimum width.
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.count = QLabel(self)
        self.count.setObjectName("versionsCount")
        self.count.setEnabled(False)
        top = QHBoxLayout()
        top.setContentsMargins(8, 6, 8, 2)
        top.addWidget(self.title, 1)
        top.addWidget(self.count)

        self.empty = QLabel(self)
        self.empty.setObjectName("versionsEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setEnabled(False)
        self.empty.setMargin(24)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([260, 440])  # scaled to the real height; the details get the most
        self.table.setMinimumHeight(self.table.verticalHeader().defaultSectionSize() * 3)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.splitter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)

        selection = self.table.selectionModel()
        selection.currentRowChanged.connect(lambda _cur, _prev: self._show_selected())
        self.model.dataChanged.connect(self._on_rows_changed)
        self.model.rowsInserted.connect(lambda *_: self._after_rows_moved())
        self.model.modelReset.connect(self._after_rows_moved)

        # Running times move on without any event: repaint them once a second.
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()

        ctx.currentActorChanged.connect(self._on_actor)
        ctx.versions.reset.connect(self._apply)
        ctx.versions.versionChanged.connect(self._on_version_changed)
        ctx.versions.loadFailed.connect(lambda _actor_id, exc: self._load_failed(exc))
        ctx.bridge.runProgress.connect(self._on_progress)
        self._on_actor(ctx.current_summary)
        if ctx.versions.loaded:
            self._apply(ctx.versions.actor_id, ctx.versions.versions())

    # --- state ----------------------------------------------------------------------------------

    @property
    def actor_id(self) -> int | None:
        return self._actor_id

    def selected_version(self) -> TrainingVersion | None:
        index = self.table.currentIndex()
        return self.model.version(index.row()) if index.isValid() else None

    def select_version(self, ref: str) -> bool:
        """Select the version whose request id, job id or name is `ref`."""
        row = self.model.row_of(ref)
        if row < 0:
            row = next((r for r, v in enumerate(self.model.versions()) if v.name == ref), -1)
        if row < 0:
            return False
        self._select_row(row)
        return True

    def focus_details(self) -> None:
        """Enter on a row: move the keyboard to the details (its first enabled button)."""
        for button in self.details.buttons.values():
            if button.isVisible() and button.isEnabled():
                button.setFocus(Qt.FocusReason.TabFocusReason)
                return
        self.details.setFocus(Qt.FocusReason.TabFocusReason)

    # --- loading --------------------------------------------------------------------------------

    def _on_actor(self, summary: ActorSummary | None) -> None:
        new_id = summary.actor.id if summary is not None else None
        if new_id != self._actor_id:
            self._actor_id = new_id
            self._loaded_actor = None
            self.model.set_versions([])
        if summary is None:
            self.title.setText(tr("Training history"))
        else:
            self.title.setText(tr("Training history — {name}").format(name=summary.actor.name))
        self._update_empty()

    def reload(self) -> None:
        """Read the current actor's versions file again (the shared store re-reads it)."""
        self.ctx.versions.reload()

    def _apply(self, actor_id: int | None, versions: list[TrainingVersion]) -> None:
        if actor_id is None or actor_id != self._actor_id or not self.ctx.versions.loaded:
            self._update_empty()
            return
        selected = self.selected_version()
        first_load = self._loaded_actor != actor_id
        self._loaded_actor = actor_id
        self.model.set_versions(versions)
        if selected is not None and self.model.row_of(selected.key) >= 0:
            self._select_row(self.model.row_of(selected.key))
        elif self.model.rowCount() and not self.table.currentIndex().isValid():
            self._select_row(0)
        if first_load:
            self._fit_columns()
        self._update_empty()
        self.versionsLoaded.emit()

    def _load_failed(self, exc: BaseException) -> None:
        self._update_empty()
        self.ctx.report_error(exc, tr("The training history could not be read"))

    # --- live updates ---------------------------------------------------------------------------

    def _on_version_changed(self, actor_id: int, version: TrainingVersion) -> None:
        if actor_id != self._actor_id:
            return
        rows_before = self.model.rowCount()
        self.model.upsert(version)
        # A new run's values, or a good mark (its badge), may be wider than what the columns hold.
        if self.model.rowCount() != rows_before or version.isGood:
            self._fit_columns()
        self._update_empty()

    def _on_progress(self, actor_id: int, version_id: str, progress: Progress) -> None:
        if actor_id == self._actor_id:
            self.model.set_progress(version_id, progress)

    def _on_version_updated(self, actor_id: int, version: TrainingVersion, select: bool) -> None:
        if actor_id != self._actor_id:
            return
        row = self.model.upsert(version)
        if version.isGood:
            self._fit_columns()  # room for the "✓ Good" badge next to the name
        if select:
            self._select_row(row)
        self._update_empty()

    def _on_rows_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        current = self.table.currentIndex()
        if current.isValid() and top_left.row() <= current.row() <= bottom_right.row():
            self._show_selected()
        self._update_count()

    def _after_rows_moved(self) -> None:
        self._show_selected()
        self._update_count()

    def _tick(self) -> None:
        if not self.isVisible():
            return
        self.model.refresh_running()

    # --- showing --------------------------------------------------------------------------------

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.scrollTo(index)

    def _show_selected(self) -> None:
        version = self.selected_version()
        self.details.set_version(version)
        self.version_actions.set_target(self._actor_id, version, self.model.versions())
        self.samples.set_version(self._actor_id, version)

    def _update_count(self) -> None:
        n = self.model.rowCount()
        running = sum(1 for v in self.model.versions() if not v.status.is_terminal)
        text = (tr("1 version") if n == 1 else tr("{n} versions").format(n=n)) if n else ""
        if running:
            text += tr(" · {n} running").format(n=running)
        self.count.setText(text)

    def _update_empty(self) -> None:
        self._update_count()
        if self._actor_id is None:
            self.empty.setText(tr(self.EMPTY_NO_ACTOR))
            self.stack.setCurrentWidget(self.empty)
        elif self.model.rowCount():
            self.stack.setCurrentWidget(self.splitter)
        else:
            loading = not self.ctx.versions.loaded and self._loaded_actor != self._actor_id
            self.empty.setText(tr("Reading the training history…") if loading else tr(self.EMPTY_NO_VERSIONS))
            self.stack.setCurrentWidget(self.empty)

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        # Room for the widest live word, so a run's badge does not elide as it starts.
        widest = badge_size(self.table.fontMetrics(), status_word(VersionStatus.IN_PROGRESS) + " 9999/9999")
        header.resizeSection(Column.STATUS, max(header.sectionSize(Column.STATUS), widest.width() + 14))
        for column, cap in ((Column.DESCRIPTION, 240), (Column.STARTED, 140)):
            if header.sectionSize(column) > cap:
                header.resizeSection(column, cap)
        # The main columns (version, status, started, duration) stay in view without sideways
        # scrolling: the table asks for their width, so the dock is never narrower (issue 10, item 8).
        self.table.setMinimumWidth(min(self.main_columns_width(), MAIN_COLUMNS_MAX_WIDTH))

    def main_columns_width(self) -> int:
        """The width the table needs to show the main columns whole (with its frame and scroll bar)."""
        header = self.table.horizontalHeader()
        columns = sum(header.sectionSize(c) for c in MAIN_COLUMNS if not header.isSectionHidden(c))
        frame = 2 * self.table.frameWidth()
        bar = self.table.verticalScrollBar().sizeHint().width()
        return columns + frame + bar + self.table.verticalHeader().width() * self.table.verticalHeader().isVisible()

    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self._select_row(index.row())
        menu = self.context_menu()
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def context_menu(self) -> QMenu:
        """The menu the table shows for the selected version (the same actions as the buttons)."""
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        for action in self.version_actions.all():
            if action.isVisible():
                menu.addAction(action)
            if action is self.version_actions.train_again:
                menu.addSeparator()
        return menu
