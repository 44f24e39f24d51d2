"""The Queue panel (a dock): the library's training queue, in order, with what each entry is doing.

Add actors… opens the actor selector with several actors selectable, then Add to queue
(add_dialog.py). Up/Down reorder, Remove takes out what is not in flight, Retry failed lets failed
entries wait again, Pause stops submitting (runs in flight go on), "at once" is N. The runner
(core/queue_runner.py) does the work; this panel only shows and edits the queue file.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.queue import EntryState, QueueFile, QueueSummary
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.queue.add_dialog import AddToQueueDialog
from actor_trainer.gui.queue.queue_controller import QueueController
from actor_trainer.gui.queue.queue_model import QueueModel


class QueuePanel(QWidget):
    #: the queue ran through a batch: (title, summary line, True when nothing failed)
    summaryReady = Signal(str, str, bool)

    def __init__(self, ctx: Any, parent: QWidget | None = None, *, start_runner: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self._ctx = ctx
        self.controller = QueueController(ctx, self, start_runner=start_runner)
        self.model = QueueModel(self)
        self.add_dialog: AddToQueueDialog | None = None
        self.selector: Any = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        bar = QHBoxLayout()
        self.add_button = self._button("queueAdd", tr("Add actors…"), self.open_selector, bar)
        self.up_button = self._button("queueUp", tr("Up"), lambda: self._move(-1), bar)
        self.down_button = self._button("queueDown", tr("Down"), lambda: self._move(1), bar)
        self.remove_button = self._button("queueRemove", tr("Remove"), self._remove, bar)
        self.retry_button = self._button("queueRetry", tr("Retry failed"), self._retry, bar)
        self.pause_button = self._button("queuePause", tr("Pause"), self._toggle_pause, bar)
        bar.addStretch(1)
        self.concurrent = QSpinBox(self)
        self.concurrent.setObjectName("queueMaxConcurrent")
        self.concurrent.setRange(1, 64)
        self.concurrent.setSuffix(tr(" at once"))
        self.concurrent.setToolTip(
            tr(
                "How many runs the queue keeps in flight. RunPod's /health reports the "
                "workers running now, not the endpoint's maximum: set what your endpoint "
                "allows."
            )
        )
        self.concurrent.editingFinished.connect(self._set_concurrent)
        bar.addWidget(self.concurrent)
        layout.addLayout(bar)

        self.view = QTableView(self)
        self.view.setObjectName("queueTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.view, 1)
        self.status = QLabel(self)
        self.status.setObjectName("queueStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.last_summary = ""

        self.controller.changed.connect(self._on_queue)
        self.controller.runnerChanged.connect(lambda _t: self._on_queue(self.controller.queue))
        self.controller.finished.connect(self._on_finished)
        self._on_queue(self.controller.queue)

    def _button(self, name: str, text: str, slot: Any, bar: QHBoxLayout) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(slot)
        bar.addWidget(button)
        return button

    # --- showing --------------------------------------------------------------------------------

    def _on_queue(self, queue: QueueFile) -> None:
        selected = self.selected_entry_id()
        self.model.set_queue(queue)
        if selected is not None and (row := self.model.row_of(selected)) is not None:
            self.view.selectRow(row)
        if not self.concurrent.hasFocus():
            self.concurrent.setValue(queue.max_concurrent)
        self.pause_button.setText(tr("Resume") if queue.paused else tr("Pause"))
        counts: dict[EntryState, int] = {}
        for e in queue.visible():
            counts[e.state] = counts.get(e.state, 0) + 1
        parts = [f"{n} {tr(state.value)}" for state, n in counts.items() if n]
        text = " · ".join(parts) if parts else tr("The queue is empty: Add actors… to train several overnight.")
        if queue.paused:
            text += " — " + tr("PAUSED: nothing new is submitted; runs in flight go on.")
        if self.controller.runner_text:
            text += "\n" + self.controller.runner_text
        if self.last_summary:
            text += "\n" + tr("Last batch: {s}").format(s=self.last_summary)
        self.status.setText(text)
        self._update_buttons()

    def _on_finished(self, summary: QueueSummary) -> None:
        self.last_summary = summary.text
        self._on_queue(self.controller.queue)
        self.summaryReady.emit(tr("Queue finished"), summary.text, summary.failed == 0)

    def selected_entry_id(self) -> str | None:
        rows = self.view.selectionModel().selectedRows() if self.view.selectionModel() else []
        if not rows:
            return None
        row = rows[0].row()
        return self.model.entries[row].id if row < len(self.model.entries) else None

    def _update_buttons(self) -> None:
        entry_id = self.selected_entry_id()
        row = self.model.row_of(entry_id) if entry_id is not None else None
        entry = self.model.entries[row] if row is not None else None
        self.up_button.setEnabled(row is not None and row > 0)
        self.down_button.setEnabled(row is not None and row < len(self.model.entries) - 1)
        self.remove_button.setEnabled(entry is not None and not entry.state.in_flight)
        self.retry_button.setEnabled(any(e.state is EntryState.FAILED for e in self.model.entries))

    # --- editing --------------------------------------------------------------------------------

    def _move(self, offset: int) -> None:
        entry_id = self.selected_entry_id()
        if entry_id is not None:
            self.controller.move(entry_id, offset)

    def _remove(self) -> None:
        entry_id = self.selected_entry_id()
        if entry_id is not None:
            self.controller.remove(entry_id)

    def _retry(self) -> None:
        entry_id = self.selected_entry_id()
        row = self.model.row_of(entry_id) if entry_id is not None else None
        failed_selected = row is not None and self.model.entries[row].state is EntryState.FAILED
        self.controller.retry_failed(entry_id if failed_selected else None)

    def _toggle_pause(self) -> None:
        self.controller.set_paused(not self.controller.queue.paused)

    def _set_concurrent(self) -> None:
        if self.concurrent.value() != self.controller.queue.max_concurrent:
            self.controller.set_max_concurrent(self.concurrent.value())

    # --- adding ---------------------------------------------------------------------------------

    def open_selector(self) -> Any:
        """The actor selector with several actors selectable; Choose opens Add to queue."""
        from actor_trainer.gui.selector.actor_selector import ActorSelectorDialog

        dialog = ActorSelectorDialog(
            self._ctx.actor_model,
            self._ctx.thumbnails,
            self,
            current_actor_id=self._ctx.current_actor_id,
            multi_select=True,
        )
        dialog.setWindowTitle(tr("Choose actors to queue"))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.actorsChosen.connect(self.add_actors)
        self.selector = dialog
        dialog.open()
        return dialog

    def add_actors(self, actor_ids: list[int]) -> AddToQueueDialog:
        """Add to queue for these actors: parameters per actor and the doctor's verdict, then Add."""
        dialog = AddToQueueDialog(self._ctx, self.controller, list(actor_ids), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.add_dialog = dialog
        dialog.open()
        return dialog
