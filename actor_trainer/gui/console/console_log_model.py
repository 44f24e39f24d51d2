"""The console's lines: a bounded list model, a level/actor filter over it, and the line painter.

The model keeps the newest `max_lines` lines (older ones are dropped in chunks, so a long session
never grows without bound and trimming stays cheap). Every line has a level that is shown as a
colour AND a word, so nothing is told by colour alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from actor_trainer.core.events import LogLevel
from actor_trainer.gui.i18n import tr

_HAS_FILTER_CHANGE = hasattr(QSortFilterProxyModel, "beginFilterChange")  # PySide6 6.9 and newer
DEFAULT_MAX_LINES = 10_000
CONSOLE_LOGGER = "actor_trainer.console"

# (light theme, dark theme) colours per tone; chosen for contrast on the palette's base colour.
_TONES: dict[str, tuple[str, str]] = {
    "debug": ("#6b7280", "#9ca3af"),
    "info": ("#1d5fbf", "#7fb2ff"),
    "success": ("#1e7b34", "#6fd08a"),
    "warning": ("#a35a00", "#ffb74d"),
    "error": ("#c0262d", "#ff7a7f"),
    "request": ("#7b2fa8", "#d29bf2"),
    "response": ("#0f7a83", "#5fd3dd"),
    "neutral": ("#5b6270", "#a8afbb"),
}


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def tone_color(tone: str, palette: QPalette) -> QColor:
    """The colour of a tone ("info", "success", "warning", "error", "request", "response", "debug",
    "neutral") that reads well on `palette`'s base colour, light or dark."""
    light, dark = _TONES.get(tone, _TONES["neutral"])
    return QColor(dark if is_dark(palette) else light)


def tint(color: QColor, palette: QPalette, amount: float = 0.14) -> QColor:
    """`color` blended into the palette's window colour: a soft background for a coloured strip."""
    base = palette.color(QPalette.ColorRole.Window)
    mix = QColor()
    mix.setRgbF(
        base.redF() + (color.redF() - base.redF()) * amount,
        base.greenF() + (color.greenF() - base.greenF()) * amount,
        base.blueF() + (color.blueF() - base.blueF()) * amount,
    )
    return mix


def level_word(level: LogLevel) -> str:
    """The word shown next to every line (the tag that carries the level without colour)."""
    return {
        LogLevel.DEBUG: tr("debug"),
        LogLevel.INFO: tr("info"),
        LogLevel.SUCCESS: tr("success"),
        LogLevel.WARNING: tr("warning"),
        LogLevel.ERROR: tr("error"),
        LogLevel.REQUEST: tr("request"),
        LogLevel.RESPONSE: tr("response"),
    }[level]


@dataclass(frozen=True)
class ConsoleLine:
    at: datetime  # aware, UTC (as the core emits); shown in local time
    level: LogLevel
    message: str
    actor_id: int | None = None
    version_id: str | None = None

    @property
    def local_time(self) -> datetime:
        return self.at.astimezone() if self.at.tzinfo is not None else self.at

    def plain(self) -> str:
        """One line of plain text with the full timestamp, as Copy and the log file write it."""
        stamp = self.local_time.strftime("%Y-%m-%d %H:%M:%S")
        who = f" [actor {self.actor_id}]" if self.actor_id is not None else ""
        return f"{stamp} {self.level.value.upper():<8}{who} {self.message}"


class ConsoleRoles(IntEnum):
    LINE = Qt.ItemDataRole.UserRole + 1  # the ConsoleLine
    LEVEL = Qt.ItemDataRole.UserRole + 2  # LogLevel
    ACTOR = Qt.ItemDataRole.UserRole + 3  # int | None


class ConsoleLogModel(QAbstractListModel):
    """The newest `max_lines` console lines, oldest first."""

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_lines = max_lines
        # Trim in chunks: one removal per `_slack` appends instead of one per append.
        self._slack = max(1, min(500, max_lines // 10))
        self._lines: list[ConsoleLine] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._lines)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._lines):
            return None
        line = self._lines[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{line.local_time.strftime('%H:%M:%S')}  {level_word(line.level)}  {line.message}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return line.plain()
        if role == ConsoleRoles.LINE:
            return line
        if role == ConsoleRoles.LEVEL:
            return line.level
        if role == ConsoleRoles.ACTOR:
            return line.actor_id
        return None

    def append(self, line: ConsoleLine) -> None:
        row = len(self._lines)
        self.beginInsertRows(QModelIndex(), row, row)
        self._lines.append(line)
        self.endInsertRows()
        excess = len(self._lines) - self.max_lines
        if excess >= self._slack or (excess > 0 and self.max_lines < self._slack):
            self.beginRemoveRows(QModelIndex(), 0, excess - 1)
            del self._lines[:excess]
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._lines.clear()
        self.endResetModel()

    def lines(self) -> list[ConsoleLine]:
        return list(self._lines)


class ConsoleFilterProxy(QSortFilterProxyModel):
    """Shows the lines whose level is switched on and, when `actor_id` is set, only that actor's."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._levels: set[LogLevel] = {lvl for lvl in LogLevel if lvl is not LogLevel.DEBUG}
        self._actor: int | None = None
        self._actor_only = False

    @property
    def levels(self) -> frozenset[LogLevel]:
        return frozenset(self._levels)

    def set_levels(self, levels: Iterable[LogLevel]) -> None:
        self._begin_change()
        self._levels = set(levels)
        self._end_change()

    def set_actor_filter(self, actor_id: int | None, enabled: bool) -> None:
        if (actor_id, enabled) == (self._actor, self._actor_only):
            return
        self._begin_change()
        self._actor, self._actor_only = actor_id, enabled
        self._end_change()

    def _begin_change(self) -> None:
        if _HAS_FILTER_CHANGE:
            self.beginFilterChange()

    def _end_change(self) -> None:
        if _HAS_FILTER_CHANGE:
            self.endFilterChange()
        else:  # PySide6 < 6.9 has no begin/endFilterChange
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        if model.data(index, ConsoleRoles.LEVEL) not in self._levels:
            return False
        if self._actor_only:
            return self._actor is not None and model.data(index, ConsoleRoles.ACTOR) == self._actor
        return True


class ConsoleLineDelegate(QStyledItemDelegate):
    """Paints "12:03:04  WARNING  message": a muted time, a coloured level word in a fixed column,
    and the message (coloured too for warnings and errors). Long lines are elided; the tooltip and
    Copy carry the full text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)

    def _tag_font(self, font: QFont) -> QFont:
        tag = QFont(font)
        tag.setBold(True)
        tag.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        return tag

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        height = QFontMetrics(option.font).height() + 6
        return QSize(200, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        line = index.data(ConsoleRoles.LINE)
        if not isinstance(line, ConsoleLine):
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        palette: QPalette = opt.palette
        rect: QRect = opt.rect
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.save()
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        elif index.row() % 2:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        font: QFont = opt.font
        metrics = QFontMetrics(font)
        tag_font = self._tag_font(font)
        tag_metrics = QFontMetrics(tag_font)
        x = rect.left() + 6
        text_rect = rect.adjusted(0, 0, -6, 0)
        flags = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        text_color = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        muted = text_color if selected else palette.color(QPalette.ColorRole.PlaceholderText)
        colour = text_color if selected else tone_color(line.level.value, palette)

        stamp = line.local_time.strftime("%H:%M:%S")
        painter.setFont(font)
        painter.setPen(muted)
        painter.drawText(QRect(x, rect.top(), metrics.horizontalAdvance(stamp) + 2, rect.height()), flags, stamp)
        x += metrics.horizontalAdvance("00:00:00") + 10

        word = level_word(line.level).upper()
        tag_width = tag_metrics.horizontalAdvance("RESPONSE") + 8
        painter.setFont(tag_font)
        painter.setPen(colour)
        painter.drawText(QRect(x, rect.top(), tag_width, rect.height()), flags, word)
        x += tag_width + 4

        message_color = colour if line.level in (LogLevel.ERROR, LogLevel.WARNING) else text_color
        painter.setFont(font)
        painter.setPen(message_color)
        available = max(0, text_rect.right() - x)
        shown = metrics.elidedText(line.message, Qt.TextElideMode.ElideRight, available)
        painter.drawText(QRect(x, rect.top(), available, rect.height()), flags, shown)
        painter.restore()


_FILE_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


class ConsoleFileLog:
    """Writes every console line to a rotating file through the `actor_trainer.console` logger.

    The console's lines carry no secrets (core events never do), so they are written as shown.
    One console owns the file: a new `ConsoleFileLog` replaces the handler an earlier one left.
    """

    def __init__(self, path: Path, *, max_bytes: int = 2_000_000, backups: int = 3) -> None:
        self.path = path
        self.logger = logging.getLogger(CONSOLE_LOGGER)
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False  # the console has its own file; the app log stays readable
        for old in list(self.logger.handlers):
            if getattr(old, "_console_file", False):
                self.logger.removeHandler(old)
                old.close()
        self.handler: RotatingFileHandler | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
        except OSError as exc:  # a read-only log folder must not take the console down
            logging.getLogger(__name__).warning("console log file %s unavailable: %s", path, exc)
            return
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._console_file = True  # type: ignore[attr-defined]
        self.logger.addHandler(handler)
        self.handler = handler

    def write(self, line: ConsoleLine) -> None:
        if self.handler is not None:
            self.logger.log(_FILE_LEVELS.get(line.level, logging.INFO), "%s", line.plain())

    def close(self) -> None:
        handler, self.handler = self.handler, None
        if handler is not None:
            self.logger.removeHandler(handler)
            handler.close()
