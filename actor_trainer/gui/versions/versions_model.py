"""The table model of one actor's training versions (newest first) and the delegate that paints
the status badges and the "✓ Good" mark in it.

Rows are keyed by the version's request id (stable from "pending" to "completed", while `id`
changes from the request id to RunPod's job id), so live updates change rows in place and the
view's selection survives them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QFontMetrics, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from actor_trainer.core.models import Progress, TrainingVersion, VersionStatus
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.version_text import (
    duration_seconds,
    first_line,
    format_duration,
    format_local_time,
    format_number,
)
from actor_trainer.gui.widgets.status_style import (
    badge_size,
    good_colour,
    good_text,
    paint_badge,
    status_colour,
    status_tooltip,
    status_word,
)

_Index = QModelIndex | QPersistentModelIndex

#: The role holding the TrainingVersion of a row.
VERSION_ROLE = int(Qt.ItemDataRole.UserRole) + 1


class Column(IntEnum):
    NAME = 0
    STATUS = 1
    STARTED = 2
    DURATION = 3
    STEPS = 4
    LR = 5
    DIM_ALPHA = 6
    IMAGES = 7
    DESCRIPTION = 8
    ERROR = 9


_HEADERS = {
    Column.NAME: "Version",
    Column.STATUS: "Status",
    Column.STARTED: "Started",
    Column.DURATION: "Duration",
    Column.STEPS: "Steps",
    Column.LR: "LR",
    Column.DIM_ALPHA: "Dim/alpha",
    Column.IMAGES: "Images",
    Column.DESCRIPTION: "Description",
    Column.ERROR: "Error",
}
_NUMERIC = {Column.STEPS, Column.LR, Column.DIM_ALPHA, Column.IMAGES, Column.DURATION}


class VersionsModel(QAbstractTableModel):
    """One actor's versions, newest first (highest V number first)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._versions: list[TrainingVersion] = []

    # --- reading --------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._versions)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return tr(_HEADERS[Column(section)])
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole:
            numeric = Column(section) in _NUMERIC
            return int(
                (Qt.AlignmentFlag.AlignRight if numeric else Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter
            )
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._versions):
            return None
        version = self._versions[index.row()]
        column = Column(index.column())
        if role == VERSION_ROLE:
            return version
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(version, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(version, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column in _NUMERIC else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column is Column.ERROR:
            return status_colour(VersionStatus.FAILED)
        return None

    def _display(self, v: TrainingVersion, column: Column) -> str:
        p = v.parameters
        match column:
            case Column.NAME:
                return f"{v.name}  {good_text()}" if v.isGood else v.name
            case Column.STATUS:
                return status_word(v)
            case Column.STARTED:
                return format_local_time(v.timestamp)
            case Column.DURATION:
                return format_duration(duration_seconds(v))
            case Column.STEPS:
                return str(p.max_train_steps)
            case Column.LR:
                return format_number(p.learning_rate)
            case Column.DIM_ALPHA:
                return f"{p.network_dim}/{format_number(p.network_alpha)}"
            case Column.IMAGES:
                return str(v.imageCount)
            case Column.DESCRIPTION:
                return v.description or ""
            case Column.ERROR:
                return first_line(v.error.message if v.error else None)
        return ""

    def _tooltip(self, v: TrainingVersion, column: Column) -> str | None:
        if column is Column.STATUS:
            return status_tooltip(v)
        if column is Column.NAME and v.isGood:
            return tr("{name} is the validated model of this actor").format(name=v.name)
        if column is Column.ERROR and v.error is not None:
            return v.error.message
        if column is Column.DESCRIPTION and v.description:
            return v.description
        return None

    # --- access ---------------------------------------------------------------------------------

    def versions(self) -> list[TrainingVersion]:
        return list(self._versions)

    def version(self, row: int) -> TrainingVersion | None:
        return self._versions[row] if 0 <= row < len(self._versions) else None

    def row_of(self, key: str) -> int:
        """The row of the version whose request id or id is `key`; -1 if none."""
        for row, v in enumerate(self._versions):
            if key in (v.key, v.id, v.requestId):
                return row
        return -1

    def good_version(self) -> TrainingVersion | None:
        return next((v for v in self._versions if v.isGood), None)

    # --- changing -------------------------------------------------------------------------------

    def set_versions(self, versions: list[TrainingVersion]) -> None:
        """Replace every row. Same rows in the same order change in place (no reset)."""
        ordered = sorted(versions, key=lambda v: v.number, reverse=True)
        if [v.key for v in ordered] == [v.key for v in self._versions]:
            self._versions = ordered
            if ordered:
                self._changed(0, len(ordered) - 1)
            return
        self.beginResetModel()
        self._versions = ordered
        self.endResetModel()

    def upsert(self, version: TrainingVersion) -> int:
        """Insert or update one version (a live change); returns its row."""
        row = self.row_of(version.key)
        if row < 0 and version.job_id is not None:
            row = self.row_of(version.id)
        if row >= 0:
            self._versions[row] = version
            self._changed(row, row)
            if version.isGood:  # one good version per actor: the mark moved here
                self._clear_good_except(row)
            return row
        row = next((i for i, v in enumerate(self._versions) if v.number < version.number), len(self._versions))
        self.beginInsertRows(QModelIndex(), row, row)
        self._versions.insert(row, version)
        self.endInsertRows()
        if version.isGood:
            self._clear_good_except(row)
        return row

    def set_progress(self, version_id: str, progress: Progress) -> None:
        """Newer progress for a running version (never moves a step backwards)."""
        row = self.row_of(version_id)
        if row < 0:
            return
        current = self._versions[row]
        if current.status.is_terminal:
            return
        old = current.progress
        if old is not None and old.step is not None and progress.step is not None and progress.step <= old.step:
            return
        self._versions[row] = current.model_copy(update={"progress": progress})
        self._changed(row, row)

    def refresh_running(self) -> None:
        """Running times move on: repaint the duration (and status) of versions in flight."""
        for row, v in enumerate(self._versions):
            if not v.status.is_terminal:
                self.dataChanged.emit(self.index(row, Column.STATUS), self.index(row, Column.DURATION))

    def _clear_good_except(self, keep: int) -> None:
        for row, v in enumerate(self._versions):
            if row != keep and v.isGood:
                self._versions[row] = v.model_copy(update={"isGood": False})
                self._changed(row, row)

    def _changed(self, first: int, last: int) -> None:
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(Column) - 1))


class VersionsDelegate(QStyledItemDelegate):
    """Paints the status column as a coloured badge with its word, and the ✓ Good mark."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        version = index.data(VERSION_ROLE)
        column = index.column()
        if not isinstance(version, TrainingVersion) or column not in (Column.STATUS, Column.NAME):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = opt.rect.adjusted(6, 3, -6, -3)
        painter.save()
        painter.setFont(opt.font)
        if column == Column.STATUS:
            paint_badge(painter, rect, status_word(version), status_colour(version.status, opt.palette), opt.palette)
        else:
            self._paint_name(painter, rect, version, opt)
        painter.restore()

    def _paint_name(self, painter: QPainter, rect: Any, version: TrainingVersion, opt: QStyleOptionViewItem) -> None:
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = opt.palette.ColorRole.HighlightedText if selected else opt.palette.ColorRole.Text
        painter.setPen(opt.palette.color(role))
        bold = painter.font()
        bold.setBold(True)
        painter.setFont(bold)
        metrics = QFontMetrics(bold)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), version.name)
        if version.isGood:
            painter.setFont(opt.font)
            badge_rect = rect.adjusted(metrics.horizontalAdvance(version.name) + 8, 0, 0, 0)
            paint_badge(painter, badge_rect, good_text(), good_colour(opt.palette), opt.palette)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        hint = super().sizeHint(option, index)
        version = index.data(VERSION_ROLE)
        if isinstance(version, TrainingVersion) and index.column() in (Column.STATUS, Column.NAME):
            metrics = QFontMetrics(option.font)
            if index.column() == Column.STATUS:
                badge = badge_size(metrics, status_word(version))
                width = badge.width() + 12
            else:
                width = metrics.horizontalAdvance(version.name) + 20
                if version.isGood:
                    width += badge_size(metrics, good_text()).width() + 8
            return QSize(max(hint.width(), width), max(hint.height(), badge_size(metrics, "Ag").height() + 8))
        return hint
