"""The ActorTrainingTab: the main window's central widget (docs/architecture.md, "The window").

Top to bottom: the actor header card, the training-data box, the ParametersForm, a short
description, and Start Training with the reason it is disabled right under it. The cards scroll
when the window is small; Start stays in view below them. Parameters are remembered per actor:
the last ones used (or edited) come back when the actor is selected again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPlainTextEdit, QScrollArea, QVBoxLayout, QWidget

from actor_trainer.core.library import ActorSummary, TrainingDataScan
from actor_trainer.core.models import TrainingParameters, TrainingVersion
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.training.actor_header import ActorHeader
from actor_trainer.gui.training.parameters_form import ParametersForm
from actor_trainer.gui.training.start_panel import StartPanel
from actor_trainer.gui.training.training_data_box import TrainingDataBox
from actor_trainer.gui.training.training_tab_card import Card, heading

CONTENT_MAX_WIDTH = 1000


class ActorTrainingTab(QWidget):
    """Configure and start a training run for the current actor (`ctx.current_summary`)."""

    #: the user wants to pick another actor (the main window opens the selector)
    changeActorRequested = Signal()
    #: a run was submitted: actor id, version reference (request id, else job id)
    trainingStarted = Signal(int, str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("actorTrainingTab")
        self._ctx = ctx
        self._actor_id: int | None = None
        self._descriptions: dict[int, str] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        outer.addWidget(self.scroll_area)

        page = QWidget()
        centre = QHBoxLayout(page)
        centre.setContentsMargins(16, 16, 16, 16)
        column_widget = QWidget(page)
        column_widget.setMaximumWidth(CONTENT_MAX_WIDTH)
        centre.addStretch(0)
        centre.addWidget(column_widget, 1)
        centre.addStretch(0)
        column = QVBoxLayout(column_widget)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(12)

        self.header = ActorHeader(ctx, column_widget)
        self.header.changeActorRequested.connect(self.changeActorRequested)
        self.data_box = TrainingDataBox(ctx, column_widget)
        self.data_box.scanned.connect(self._on_scanned)
        self.parameters_card = Card(column_widget)
        self.form = ParametersForm(ctx, self.parameters_card)
        self.parameters_card.body.addWidget(self.form)
        self.description_card = Card(column_widget)
        self.description_card.body.addWidget(heading(tr("Description"), self.description_card))
        self.description = QPlainTextEdit(self.description_card)
        self.description.setObjectName("runDescription")
        self.description.setPlaceholderText(tr("What is different in this run?"))
        self.description.setTabChangesFocus(True)
        line = self.description.fontMetrics().lineSpacing()
        self.description.setFixedHeight(3 * line + 16)
        self.description_card.body.addWidget(self.description)
        self.start = StartPanel(ctx, self.description.toPlainText, self)
        self.start.trainingStarted.connect(self._on_started)
        self.data_box.dataset_check.reportChanged.connect(self.start.set_dataset_report)  # the doctor's gate

        for widget in (self.header, self.data_box, self.parameters_card, self.description_card):
            column.addWidget(widget)
        column.addStretch(1)
        self.scroll_area.setWidget(page)

        # Start stays in view below the scrolling part: the one action of this tab is never hidden.
        footer = QWidget(self)
        footer_row = QHBoxLayout(footer)
        footer_row.setContentsMargins(16, 8, 16, 12)
        self.start.setMaximumWidth(CONTENT_MAX_WIDTH)
        self.start.setParent(footer)
        footer_row.addWidget(self.start, 1)
        self._footer_row = footer_row
        # Line the footer up with the cards above, which end where the scroll bar begins.
        self.scroll_area.verticalScrollBar().rangeChanged.connect(lambda _lo, _hi: self._align_footer())
        separator = QFrame(self)
        separator.setFrameShape(QFrame.Shape.HLine)
        separator.setFrameShadow(QFrame.Shadow.Sunken)
        outer.addWidget(separator)
        outer.addWidget(footer)

        self.form.parametersChanged.connect(self._on_parameters)
        self.form.userEdited.connect(self._on_user_edit)
        ctx.currentActorChanged.connect(self._on_actor)
        ctx.syncStateChanged.connect(self._recheck_for)
        ctx.bridge.versionChanged.connect(self._on_version)
        ctx.bridge.tunnelChanged.connect(lambda _event: self.start.recheck())
        self._on_actor(ctx.current_summary)

    def _align_footer(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        right = 16 + (bar.sizeHint().width() if bar.maximum() > 0 else 0)
        self._footer_row.setContentsMargins(16, 8, right, 12)

    # --- public API -----------------------------------------------------------------------------

    @property
    def actor_id(self) -> int | None:
        return self._actor_id

    def load_parameters(self, params: TrainingParameters) -> None:
        """Show `params` in the form (e.g. "Train again with these parameters")."""
        self.form.set_parameters(params)  # the form tells the parameter store
        self.scroll_area.ensureWidgetVisible(self.parameters_card)

    def start_training(self) -> bool:
        """What the Start button does (the Ctrl+Enter action calls this). True when a run was sent."""
        return self.start.start_training()

    def can_start(self) -> bool:
        return self.start.can_start()

    def disabled_reason(self) -> str | None:
        return self.start.disabled_reason()

    # --- the current actor ----------------------------------------------------------------------

    def _on_actor(self, summary: ActorSummary | None) -> None:
        new_id = summary.actor.id if summary is not None else None
        if new_id != self._actor_id:
            self._leave_actor()
            self._actor_id = new_id
            if new_id is not None:
                self.form.set_parameters(self._ctx.parameters.for_actor(new_id))
                self.description.setPlainText(self._descriptions.get(new_id, ""))
        self.header.set_summary(summary)
        self.data_box.set_actor(summary)
        if summary is not None:
            self.form.set_actor_name(summary.actor.name)
            scan = self.data_box.scan
            self.form.set_image_count(scan.image_count if scan is not None else summary.image_count)
        for widget in (self.data_box, self.parameters_card, self.description_card):
            widget.setVisible(summary is not None)
        self.start.set_actor(new_id)
        self._on_parameters(self.form.parameters())

    def _leave_actor(self) -> None:
        """Keep what the user did for the actor being left: its parameters and description."""
        if self._actor_id is None:
            return
        self._ctx.parameters.flush()
        self._descriptions[self._actor_id] = self.description.toPlainText()

    def _on_scanned(self, scan: TrainingDataScan) -> None:
        if scan.actor_id == self._actor_id:
            self.form.set_image_count(scan.image_count)

    # --- parameters -----------------------------------------------------------------------------

    def _on_parameters(self, params: TrainingParameters | None) -> None:
        if self._actor_id is None:
            return
        self._ctx.parameters.set(self._actor_id, params, self.form.first_error())

    def _on_user_edit(self) -> None:
        if self._actor_id is not None:
            self._ctx.parameters.remember_soon(self._actor_id)

    # --- the world changed ----------------------------------------------------------------------

    def _recheck_for(self, actor_id: int, _status: object = None) -> None:
        if actor_id == self._actor_id:
            self.start.recheck()

    def _on_version(self, actor_id: int, _version: TrainingVersion) -> None:
        self._recheck_for(actor_id)

    def _on_started(self, actor_id: int, ref: str) -> None:
        if actor_id == self._actor_id:
            self.description.clear()
        self._descriptions.pop(actor_id, None)
        self.trainingStarted.emit(actor_id, ref)
