"""Add to queue: the chosen actors, the parameters each will train with, and the dataset doctor's
verdict for each (checked off the event loop against those parameters).

Parameters: each actor's own (the values the form last held for it, else remembered, else the
defaults: `ctx.parameters.for_actor`), the same auto-adjusted to each actor's image count, or one
set for all (the form's current values).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.auto_adjust import auto_adjust
from actor_trainer.core.library import Library
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.gui.i18n import tr

OWN, AUTO, ONE_SET = "own", "auto", "one_set"
MODES = (
    (OWN, "Each actor's own parameters (remembered)"),
    (AUTO, "Auto-adjusted to each actor's images"),
    (ONE_SET, "One set for all: the form's current values"),
)


@dataclass(frozen=True)
class PlannedEntry:
    actor: Actor
    params: TrainingParameters
    verdict: str  # the doctor's summary line
    blocked: bool


def plan(
    library: Library, actor_ids: list[int], mode: str, own: dict[int, TrainingParameters], one_set: TrainingParameters
) -> list[PlannedEntry]:
    """Blocking (reads folders, checks pictures): the parameters and the doctor's verdict per actor."""
    from actor_trainer.core.dataset_doctor import check_actor

    out = []
    for actor_id in actor_ids:
        actor = library.get_actor(actor_id)
        if mode == ONE_SET:
            params = one_set
        elif mode == AUTO:
            count = library.scan_training_data(actor_id).image_count
            params = auto_adjust(count, own[actor_id]).params
        else:
            params = own[actor_id]
        report = check_actor(library, actor, params)
        out.append(PlannedEntry(actor=actor, params=params, verdict=report.summary_text(), blocked=report.has_blocking))
    return out


class AddToQueueDialog(QDialog):
    """Confirms what will be queued; `Add` hands the entries to the queue controller."""

    def __init__(self, ctx: Any, controller: Any, actor_ids: list[int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addToQueueDialog")
        self.setWindowTitle(tr("Add to queue"))
        self._ctx = ctx
        self._controller = controller
        self._actor_ids = list(actor_ids)
        self._generation = 0
        self.planned: list[PlannedEntry] = []

        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel(tr("Parameters:"), self))
        self.mode = QComboBox(self)
        self.mode.setObjectName("queueParameterMode")
        for key, text in MODES:
            self.mode.addItem(tr(text), key)
        self.mode.currentIndexChanged.connect(lambda _i: self.replan())
        row.addWidget(self.mode, 1)
        layout.addLayout(row)
        self.table = QTableWidget(0, 4, self)
        self.table.setObjectName("queuePlan")
        self.table.setHorizontalHeaderLabels([tr("Actor"), tr("Steps"), tr("lr / dim / alpha"), tr("Dataset check")])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table, 1)
        self.status = QLabel(self)
        self.status.setObjectName("queuePlanStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.force = QCheckBox(
            tr("Submit even where the dataset check blocks (recorded in the version as forced)"), self
        )
        self.force.setObjectName("queueForce")
        layout.addWidget(self.force)
        self.buttons = QDialogButtonBox(self)
        self.add_button = self.buttons.addButton(tr("Add to queue"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setObjectName("queueAddButton")
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.add)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(760, 420)
        self.replan()

    def replan(self) -> None:
        """Work out the parameters and the doctor's verdicts for the chosen mode (off the loop)."""
        self._generation += 1
        generation = self._generation
        self.add_button.setEnabled(False)
        self.status.setText(tr("Checking {n} actor(s)' training data…").format(n=len(self._actor_ids)))
        mode = self.mode.currentData()
        store = self._ctx.parameters
        own = {actor_id: store.for_actor(actor_id) for actor_id in self._actor_ids}
        current = self._ctx.current_actor_id
        one_set = (store.current(current)[0] if current is not None else None) or TrainingParameters()

        def done(planned: list[PlannedEntry]) -> None:
            if generation == self._generation:
                self._show(planned)

        self._ctx.tasks.start(
            "queue-plan",
            asyncio.to_thread(plan, self._ctx.library, self._actor_ids, mode, own, one_set),
            on_done=done,
            on_error=lambda exc: self._ctx.report_error(exc, tr("Could not check")),
            replace=True,
            owner=self,
        )

    def _show(self, planned: list[PlannedEntry]) -> None:
        self.planned = planned
        self.table.setRowCount(len(planned))
        for row, p in enumerate(planned):
            params = p.params
            cells = [
                p.actor.name,
                str(params.max_train_steps),
                f"{params.learning_rate:g} / {params.network_dim} / {params.network_alpha:g}",
                ("⛔ " if p.blocked else "") + p.verdict,
            ]
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        blocked = sum(1 for p in planned if p.blocked)
        text = tr("{n} actor(s) to queue.").format(n=len(planned))
        if blocked:
            text += " " + tr(
                "{b} of them have problems that block training: their entries fail unless fixed "
                "first, or unless “Submit even where the dataset check blocks” is ticked."
            ).format(b=blocked)
        self.status.setText(text)
        self.add_button.setEnabled(bool(planned))

    def add(self) -> None:
        if not self.planned:
            return
        items = [(p.actor.id, p.actor.name, p.params) for p in self.planned]
        self._controller.add(items, force=self.force.isChecked())
        self.accept()
