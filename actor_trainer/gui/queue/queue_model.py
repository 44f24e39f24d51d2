"""The queue's entries as a table: actor, state, version, attempts, and what happened."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from actor_trainer.core.queue import EntryState, QueueEntry, QueueFile
from actor_trainer.gui.i18n import tr

COLUMNS = ("Actor", "State", "Version", "Attempts", "Note")
EntryIdRole = Qt.ItemDataRole.UserRole + 1

STATE_WORDS = {
    EntryState.WAITING: "waiting",
    EntryState.SYNCING: "syncing",
    EntryState.SUBMITTED: "submitted",
    EntryState.RUNNING: "running",
    EntryState.DONE: "done",
    EntryState.FAILED: "failed",
    EntryState.REMOVED: "removed",
}

Index = QModelIndex | QPersistentModelIndex


class QueueModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.entries: list[QueueEntry] = []

    def set_queue(self, queue: QueueFile) -> None:
        entries = queue.visible()
        if [e.id for e in entries] == [e.id for e in self.entries]:
            self.entries = entries
            if entries:
                self.dataChanged.emit(self.index(0, 0), self.index(len(entries) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self.entries = entries
        self.endResetModel()

    def row_of(self, entry_id: str) -> int | None:
        return next((i for i, e in enumerate(self.entries) if e.id == entry_id), None)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return tr(COLUMNS[section])
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        e = self.entries[index.row()]
        if role == EntryIdRole:
            return e.id
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == "Actor":
                return e.actor_name or f"{e.actor_id:04d}"
            if column == "State":
                return tr(STATE_WORDS[e.state])
            if column == "Version":
                return e.version_name or ""
            if column == "Attempts":
                return str(e.attempts)
            return e.error or e.note or ""
        if role == Qt.ItemDataRole.ToolTipRole:
            p = e.parameters
            return tr("{steps} steps, lr {lr:g}, dim/alpha {dim}/{alpha:g}").format(
                steps=p.max_train_steps, lr=p.learning_rate, dim=p.network_dim, alpha=p.network_alpha
            ) + ("\n" + (e.error or e.note or "") if (e.error or e.note) else "")
        return None
