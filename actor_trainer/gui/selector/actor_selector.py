"""The actor selector (the original web app's ActorSelectorModal): search, filters and a grid of poster cards.

The dialog filters a model it does not own (the main window's `ActorListModel`, kept up to date
by services), so opening it again costs only the proxy and the widgets.

Keys: typing anywhere goes to the search box; Up/Down/PageUp/PageDown in the search box move the
selection in the grid; arrows move in the grid; Enter (or a double click) chooses; Escape cancels;
Ctrl+F returns to the search box.

With `multi_select=True` the grid takes several actors (click, Ctrl/Shift+click, Ctrl+A or
"Select all shown"); `selected_actor_ids()` reads them, and `actorsChosen` carries them on Choose.
The selection survives searching: every filter change is a model reset of the filter model
(actor_filter_proxy.py), around which the selected actors that are still shown are put back as
row ranges (one range for "Select all shown", however many actors).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QLocale,
    QModelIndex,
    QObject,
    QSignalBlocker,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.gui.i18n import tr
from actor_trainer.gui.selector.actor_filter_bar import ActorFilterBar
from actor_trainer.gui.selector.actor_filter_proxy import ActorFilterProxy
from actor_trainer.gui.selector.actor_grid import NoMatchPanel, copy_key_event, is_typing, make_actor_grid
from actor_trainer.gui.selector.actor_list_model import ActorListModel, ActorRoles
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader

_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
_GRID_MOVE_KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown)


class ActorSelectorDialog(QDialog):
    """Pick one actor. Emits `actorChosen(id)` and accepts; Escape or Cancel rejects."""

    #: The user chose an actor (its id); the dialog is accepted right after.
    actorChosen = Signal(int)
    #: multi_select only: the selected actors' ids (in id order) on Choose, before `actorChosen`.
    actorsChosen = Signal(list)
    #: A search or filter change has been applied to the grid (the count label is up to date).
    filtersApplied = Signal()

    def __init__(
        self,
        model: ActorListModel,
        loader: ThumbnailLoader,
        parent: QWidget | None = None,
        current_actor_id: int | None = None,
        *,
        search_delay_ms: int = 120,
        multi_select: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Choose an actor"))
        self.setObjectName("ActorSelectorDialog")
        self._model = model
        self._loader = loader
        self._chosen: int | None = None
        #: The actor the user last put the selection on; kept across searches that hide it.
        self._wanted_id = current_actor_id
        self._moving_selection = False
        self._multi = multi_select
        self._kept_selection: list[int] = []  # selected actor ids across a reset of the filter model
        self._kept_scroll = 0
        self._kept_current: int | None = None

        self._proxy = ActorFilterProxy(self)
        self._proxy.setSourceModel(model)

        self._search = QLineEdit(self)
        self._search.setObjectName("actorSearch")
        self._search.setPlaceholderText(tr("Search by name, id or description"))
        self._search.setClearButtonEnabled(True)
        self._search.setAccessibleName(tr("Search actors"))
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        # A short pause coalesces fast typing into one filter pass.
        self._search_timer.setInterval(search_delay_ms)
        self._search_timer.timeout.connect(self._apply_filters)
        self._search.textChanged.connect(self._search_timer.start)

        self._filters = ActorFilterBar(self)

        self._view = make_actor_grid(self, loader, multi_select=multi_select)
        self._view.setModel(self._proxy)

        self._count = QLabel(self)
        self._count.setObjectName("actorCount")
        # Shown instead of an empty grid: says why nothing is shown and offers the way back.
        self._no_match = NoMatchPanel(self)
        self._buttons = QDialogButtonBox(self)
        self._choose_button = self._buttons.addButton(tr("Choose"), QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = self._buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setText(tr("Cancel"))
        cancel.setAutoDefault(False)
        self._choose_button.setDefault(True)
        self._select_all = QPushButton(tr("Select all shown"), self)
        self._select_all.setObjectName("selectAllShown")
        self._select_all.setAutoDefault(False)
        self._select_all.setVisible(multi_select)

        self._layout()
        self._connect()
        self._filters.refresh_choices(model)
        self._after_filter_change(emit=False)
        self.resize(900, 680)
        self._search.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- public API ------------------------------------------------------------------------------

    def chosen_actor_id(self) -> int | None:
        """The actor chosen in the last opening, or None (cancelled or not chosen yet)."""
        return self._chosen

    def set_current_actor(self, actor_id: int | None) -> None:
        """Select an actor (e.g. the main window's current one) before showing the dialog again."""
        self._wanted_id = actor_id
        self._restore_current()

    def selected_actor_ids(self) -> list[int]:
        """The selected actors shown in the grid, in id order (read from the selection's row ranges)."""
        selection = self._view.selectionModel().selection()
        ranges = [selection.at(i) for i in range(selection.count())]
        if len(ranges) == 1:  # the common case ("Select all shown", a shift-click): already in order
            return self._proxy.actor_ids_between(ranges[0].top(), ranges[0].bottom())
        ids: list[int] = []
        for selected in ranges:
            ids.extend(self._proxy.actor_ids_between(selected.top(), selected.bottom()))
        return sorted(set(ids))

    def select_all_shown(self) -> None:
        """Select every actor the search and filters show (one selection range)."""
        rows = self._proxy.rowCount()
        if not self._multi or rows == 0:
            return
        selection = QItemSelection(self._proxy.index(0), self._proxy.index(rows - 1))
        self._view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def proxy(self) -> ActorFilterProxy:
        return self._proxy

    def view(self) -> QListView:
        return self._view

    def search_box(self) -> QLineEdit:
        return self._search

    def count_text(self) -> str:
        return self._count.text()

    def apply_pending_search(self) -> None:
        """Apply typed search text now instead of after the typing pause."""
        if self._search_timer.isActive():
            self._apply_filters()

    # --- building --------------------------------------------------------------------------------

    def _layout(self) -> None:
        bottom = QHBoxLayout()
        bottom.addWidget(self._count)
        bottom.addWidget(self._select_all)
        bottom.addStretch(1)
        bottom.addWidget(self._buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(self._search)
        layout.addWidget(self._filters)
        layout.addWidget(self._view, 1)
        layout.addWidget(self._no_match, 1)
        layout.addLayout(bottom)

    def _connect(self) -> None:
        self._filters.changed.connect(self._apply_filters)
        self._filters.clearRequested.connect(self.clear_filters)
        self._no_match.clear_button.clicked.connect(self.clear_filters)

        self._view.doubleClicked.connect(self._choose_index)
        self._view.selectionModel().currentChanged.connect(self._on_current_changed)
        self._view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self._select_all.clicked.connect(self.select_all_shown)
        self._proxy.modelAboutToBeReset.connect(self._keep_selection)
        self._proxy.modelReset.connect(self._put_selection_back)
        self._choose_button.clicked.connect(self._choose_current)
        self._buttons.rejected.connect(self.reject)
        self._view.installEventFilter(self)
        self._search.installEventFilter(self)
        find = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        find.activated.connect(self._focus_search)

        self._loader.loaded.connect(self._on_poster_loaded)
        # Source changes (a library reload, a new actor, a changed sync state under the "synced"
        # filter) change what is shown; coalesce them into one refresh per event-loop pass.
        self._source_refresh = QTimer(self)
        self._source_refresh.setSingleShot(True)
        self._source_refresh.setInterval(0)
        self._source_refresh.timeout.connect(self._on_source_changed)
        self._model.modelReset.connect(self._source_refresh.start)
        self._model.rowsInserted.connect(self._source_refresh.start)
        self._model.rowsRemoved.connect(self._source_refresh.start)
        self._model.dataChanged.connect(self._on_source_data_changed)

    # --- filters ---------------------------------------------------------------------------------

    def clear_filters(self) -> None:
        """Reset search and every filter to "show all"."""
        with QSignalBlocker(self._search):
            self._search.clear()
        self._search_timer.stop()
        self._filters.reset()
        self._apply_filters()

    def _apply_filters(self, scroll: bool = True) -> None:
        """Show what the search box and the filter row describe now."""
        self._search_timer.stop()
        self._moving_selection = True
        try:
            self._proxy.set_filter(self._filters.filter_with(self._search.text()))
        finally:
            self._moving_selection = False
        self._after_filter_change(scroll=scroll)

    def _after_filter_change(self, emit: bool = True, scroll: bool = True) -> None:
        self._update_count()
        current = self._view.currentIndex()
        # A live update (scroll=False) must not pull the grid away from where the user is looking:
        # the selection is only repaired when it was lost.
        if scroll or not current.isValid():
            self._restore_current(scroll)
        if emit:
            self.filtersApplied.emit()

    def _update_count(self) -> None:
        locale = QLocale()
        shown = self._proxy.rowCount()
        total = self._model.rowCount()
        text = tr("{shown} of {total} actors").format(shown=locale.toString(shown), total=locale.toString(total))
        if self._multi:
            selection = self._view.selectionModel().selection()
            count = sum(selection.at(i).bottom() - selection.at(i).top() + 1 for i in range(selection.count()))
            text += " · " + tr("{n} selected").format(n=locale.toString(count))
        self._count.setText(text)
        self._choose_button.setEnabled(self._view.currentIndex().isValid())
        self._update_no_match(shown, total)

    def _update_no_match(self, shown: int, total: int) -> None:
        empty = shown == 0
        if empty and total:
            self._no_match.label.setText(tr("No actor matches the search and filters."))
        elif empty:
            self._no_match.label.setText(tr("This library has no actors yet."))
        self._no_match.clear_button.setVisible(empty and total > 0)
        self._no_match.setVisible(empty)
        self._view.setVisible(not empty)

    def no_match_text(self) -> str | None:
        """What the dialog says instead of an empty grid, or None while actors are shown."""
        return self._no_match.label.text() if not self._no_match.isHidden() else None

    # --- selection -------------------------------------------------------------------------------

    def _keep_selection(self) -> None:
        """The filter model is about to reset: remember which actors are selected (multi_select)."""
        self._kept_selection = self.selected_actor_ids() if self._multi else []
        self._kept_scroll = self._view.verticalScrollBar().value()
        current = self._view.currentIndex()
        self._kept_current = self._proxy.actor_id_at(current.row()) if current.isValid() else self._wanted_id

    def _put_selection_back(self) -> None:
        """After a reset: select again the remembered actors still shown, as ranges of rows."""
        kept, self._kept_selection = self._kept_selection, []
        self._view.verticalScrollBar().setValue(self._kept_scroll)
        current = self._proxy.proxy_row_of(self._kept_current) if self._kept_current is not None else None
        if current is not None:
            # Without scrolling: a live update must not move the grid (a search scrolls afterwards).
            self._moving_selection = True
            try:
                flag = QItemSelectionModel.SelectionFlag
                self._view.selectionModel().setCurrentIndex(
                    self._proxy.index(current), flag.NoUpdate if self._multi else flag.ClearAndSelect
                )
            finally:
                self._moving_selection = False
        if not kept:
            return
        wanted = set(kept)
        # One pass over what is shown (not a lookup per kept actor): "all selected" stays cheap.
        rows = [row for row, actor_id in enumerate(self._proxy.shown_ids()) if actor_id in wanted]
        if not rows:
            return
        selection = QItemSelection()
        start = previous = rows[0]
        for row in [*rows[1:], None]:
            if row is not None and row == previous + 1:
                previous = row
                continue
            selection.select(self._proxy.index(start), self._proxy.index(previous))
            if row is not None:
                start = previous = row
        self._moving_selection = True
        try:
            self._view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.Select)
        finally:
            self._moving_selection = False

    def _on_selection_changed(self) -> None:
        if self._multi:
            self._update_count()

    def _restore_current(self, scroll: bool = True) -> None:
        """Put the selection back on the wanted actor, or on the first match when it is hidden.

        With multi_select and actors selected, only the current item moves: the selection stays.
        """
        row = self._proxy.proxy_row_of(self._wanted_id) if self._wanted_id is not None else None
        if row is None and self._proxy.rowCount() > 0:
            row = 0
        self._moving_selection = True
        try:
            if row is None:
                self._view.selectionModel().clear()
            else:
                index = self._proxy.index(row, 0)
                keep = self._multi and self._view.selectionModel().hasSelection()
                flag = (
                    QItemSelectionModel.SelectionFlag.NoUpdate
                    if keep
                    else QItemSelectionModel.SelectionFlag.ClearAndSelect
                )
                self._view.selectionModel().setCurrentIndex(index, flag)
                if scroll:
                    self._view.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._moving_selection = False
        self._choose_button.setEnabled(row is not None)

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._choose_button.setEnabled(current.isValid())
        if not self._moving_selection and current.isValid():
            self._wanted_id = int(current.data(ActorRoles.IdRole))

    def _choose_current(self) -> None:
        self._choose_index(self._view.currentIndex())

    def _choose_index(self, index: QModelIndex) -> None:
        if not index.isValid() or self._chosen is not None:
            return
        actor_id = int(index.data(ActorRoles.IdRole))
        self._chosen = actor_id
        self._wanted_id = actor_id
        if self._multi:
            self.actorsChosen.emit(self.selected_actor_ids() or [actor_id])
        self.actorChosen.emit(actor_id)
        self.accept()

    def _focus_search(self) -> None:
        self._search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self._search.selectAll()

    # --- live updates ----------------------------------------------------------------------------

    def _on_poster_loaded(self, path: str) -> None:
        self._model.notify_poster_loaded(path)

    def _on_source_data_changed(self, _top: QModelIndex, _bottom: QModelIndex, roles: list[int]) -> None:
        # A whole-row change (new summary or sync state) may change choices and what is shown;
        # poster and training updates (with roles) change neither.
        if not roles:
            self._source_refresh.start()

    def _on_source_changed(self) -> None:
        self._filters.refresh_choices(self._model)
        self._apply_filters(scroll=False)

    # --- Qt ----------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        # Each opening starts without a choice and with the cursor in the search box.
        self._chosen = None
        super().showEvent(event)
        self._focus_search()
        # Once the grid has its final size: bring the current actor to the middle of it.
        QTimer.singleShot(0, self._center_current)

    def _center_current(self) -> None:
        index = self._view.currentIndex()
        if index.isValid():
            self._view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return super().eventFilter(watched, event)
        key = event.key()
        if key in _ENTER_KEYS:
            self._choose_current()
            return True
        if watched is self._search and key in _GRID_MOVE_KEYS:
            # Browse the results without leaving the search box.
            if not self._view.currentIndex().isValid():
                self._restore_current()
            QApplication.sendEvent(self._view, copy_key_event(event))
            return True
        if watched is self._view and is_typing(event):
            self._search.setFocus(Qt.FocusReason.OtherFocusReason)
            self._search.deselect()
            self._search.end(False)
            QApplication.sendEvent(self._search, copy_key_event(event))
            return True
        return super().eventFilter(watched, event)
