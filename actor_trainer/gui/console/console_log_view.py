"""The console's log: timestamped lines with a level (colour AND word), filters, Copy, Clear.

Every line shown is also written to `console.log` in the log folder (through the
`actor_trainer.console` logger); Clear empties the view, never the file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.events import LogEvent, LogLevel
from actor_trainer.gui.console.console_log_model import (
    DEFAULT_MAX_LINES,
    ConsoleFileLog,
    ConsoleFilterProxy,
    ConsoleLine,
    ConsoleLineDelegate,
    ConsoleLogModel,
    ConsoleRoles,
    level_word,
)
from actor_trainer.gui.i18n import tr


class ConsoleLogView(QWidget):
    """The log part of the Console tab. Feed it with `add_event`; `set_actor` follows the current actor."""

    def __init__(self, log_path: Path, parent: QWidget | None = None, *, max_lines: int = DEFAULT_MAX_LINES) -> None:
        super().__init__(parent)
        self.setObjectName("consoleLogView")
        self._actor_id: int | None = None
        self._file_log = ConsoleFileLog(log_path)
        file_log = self._file_log
        self.destroyed.connect(lambda *_: file_log.close())
        self.model = ConsoleLogModel(max_lines, self)
        self.proxy = ConsoleFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.view = QListView(self)
        self.view.setObjectName("consoleLog")
        self.view.setAccessibleName(tr("Console log"))
        self.view.setUniformItemSizes(True)  # fixed-height rows: 10,000 lines lay out at once
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setItemDelegate(ConsoleLineDelegate(self.view))
        self.view.setModel(self.proxy)
        # Follow the tail unless the user scrolled up to read: the user's scrolling decides
        # (valueChanged), and every growth of the range while following jumps to the new end, so
        # lines that arrive while the view is hidden or before a layout pass are followed too.
        self._follow = True
        bar = self.view.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)
        copy = QAction(self.view)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(lambda: self.copy_lines())
        self.view.addAction(copy)

        self.levels_button = QToolButton(self)
        self.levels_button.setObjectName("consoleLevels")
        self.levels_button.setToolTip(tr("Which kinds of line to show"))
        self.levels_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.levels_button)
        self._level_actions: dict[LogLevel, QAction] = {}
        for level in LogLevel:
            action = menu.addAction(level_word(level).capitalize())
            action.setCheckable(True)
            action.setChecked(level in self.proxy.levels)
            action.toggled.connect(lambda _on: self._apply_levels())
            self._level_actions[level] = action
        self.levels_button.setMenu(menu)
        self.actor_only = QCheckBox(tr("This actor only"), self)
        self.actor_only.setObjectName("consoleActorOnly")
        self.actor_only.toggled.connect(lambda _on: self._apply_actor_filter())
        self.copy_button = QToolButton(self)
        self.copy_button.setText(tr("Copy"))
        self.copy_button.setObjectName("consoleCopy")
        self.copy_button.setToolTip(tr("Copy the selected lines (or all shown lines) as text"))
        self.copy_button.clicked.connect(lambda: self.copy_lines())
        self.clear_button = QToolButton(self)
        self.clear_button.setText(tr("Clear logs"))
        self.clear_button.setObjectName("consoleClear")
        self.clear_button.setToolTip(tr("Empty the view (console.log in the log folder keeps every line)"))
        self.clear_button.clicked.connect(lambda: self.clear())
        self._apply_levels()

        toolbar = QHBoxLayout()
        toolbar.setSpacing(8)
        heading = QLabel(tr("Log"), self)
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        toolbar.addWidget(heading)
        toolbar.addStretch(1)
        for widget in (self.levels_button, self.actor_only, self.copy_button, self.clear_button):
            toolbar.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(toolbar)
        layout.addWidget(self.view, 1)

    # --- lines ----------------------------------------------------------------------------------

    def add_event(self, event: LogEvent) -> None:
        """Show one core log event and write it to the file."""
        line = ConsoleLine(
            at=event.at, level=event.level, message=event.message, actor_id=event.actor_id, version_id=event.version_id
        )
        self.model.append(line)
        self._file_log.write(line)
        if self._follow:
            self.view.scrollToBottom()

    @property
    def following(self) -> bool:
        """Whether new lines scroll the log (False while the user has scrolled up)."""
        return self._follow

    def _on_scrolled(self, value: int) -> None:
        bar = self.view.verticalScrollBar()
        if bar.maximum() > 0 or value == 0:
            self._follow = value >= bar.maximum() - 4

    def _on_range(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.view.verticalScrollBar().setValue(maximum)

    def visible_lines(self) -> list[ConsoleLine]:
        """The lines the filters let through, oldest first."""
        return [self.proxy.index(row, 0).data(ConsoleRoles.LINE) for row in range(self.proxy.rowCount())]

    def clear(self) -> None:
        """Empty the view (the log file keeps everything)."""
        self.model.clear()

    # --- filters --------------------------------------------------------------------------------

    def set_actor(self, actor_id: int | None) -> None:
        self._actor_id = actor_id
        self._apply_actor_filter()

    def set_level_visible(self, level: LogLevel, visible: bool) -> None:
        """Show or hide a level (what its entry in the Levels menu does)."""
        self._level_actions[level].setChecked(visible)

    def _apply_levels(self) -> None:
        chosen = [level for level, action in self._level_actions.items() if action.isChecked()]
        self.proxy.set_levels(chosen)
        everything = len(LogLevel)
        if len(chosen) == everything:
            text = tr("All levels")
        elif len(chosen) == everything - 1 and LogLevel.DEBUG not in chosen:
            text = tr("All but debug")
        else:
            text = tr("{n} of {m} levels").format(n=len(chosen), m=everything)
        self.levels_button.setText(text)
        # Room for the longest of these words and the menu arrow, so none is clipped (issue 10, item 8).
        metrics = self.levels_button.fontMetrics()
        longest = max(
            metrics.horizontalAdvance(t)
            for t in (tr("All levels"), tr("All but debug"), tr("{n} of {m} levels").format(n=everything, m=everything))
        )
        self.levels_button.setMinimumWidth(longest + 36)

    def _apply_actor_filter(self) -> None:
        self.proxy.set_actor_filter(self._actor_id, self.actor_only.isChecked())

    # --- copy -----------------------------------------------------------------------------------

    def select_rows(self, rows: list[int]) -> None:
        """Select these shown rows (what Ctrl+click does)."""
        selection = self.view.selectionModel()
        selection.clearSelection()
        for row in rows:
            selection.select(self.proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select)

    def copy_lines(self) -> str:
        """Copy the selected lines, or every shown line when none is selected, as plain text with
        full timestamps; returns the text."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        lines = self.visible_lines()
        chosen = [lines[row] for row in rows if row < len(lines)] if rows else lines
        text = "\n".join(line.plain() for line in chosen)
        QGuiApplication.clipboard().setText(text)
        return text
