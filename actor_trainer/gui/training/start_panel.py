"""Start Training: the big button, why it is disabled (right under it), and one job per click.

The reason comes from the same checks the orchestrator makes before it spends money
(`TrainingOrchestrator.preflight`), re-run shortly after any input changes; the typed errors'
message and hint are the text. A click disables the button at once and starts exactly one
`submit`; the orchestrator validates again, so a stale "ready" can never send a bad run.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QMessageBox, QPushButton, QSizePolicy, QWidget

from actor_trainer.core.dataset_doctor import DoctorReport, forced_reasons, record_forced
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.models import TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.preflight import DataNotSyncedError, InvalidParametersError, RunInFlightError
from actor_trainer.core.realistic_range import UnusualValue, unusual_values
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.training.parameter_warnings import parameter_warnings
from actor_trainer.gui.training.parameters_form_fields import FIELD_LABELS, warning_colour
from actor_trainer.gui.training.training_tab_card import Card, secondary
from actor_trainer.gui.widgets.status_style import make_badge, status_colour, status_word

if TYPE_CHECKING:  # core/estimate.py (with the worker contract) is read when the first estimate is made
    from actor_trainer.core.estimate import EstimateReport

PREFLIGHT_DELAY_MS = 250
START_SHORTCUT = "Ctrl+Enter"
SYNC_LINK = "sync-now"


class StartPanel(Card):
    """The Start Training button and its gate. Feed it with `set_actor`; the parameters are read
    from the window's one holder (`ctx.parameters`), whose changes re-run the gate."""

    #: a run was submitted: actor id, the version's reference (request id, else job id)
    trainingStarted = Signal(int, str)
    #: whether Start is possible, or why not, changed
    stateChanged = Signal()

    def __init__(self, ctx: AppContext, description: Callable[[], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._description = description
        self._actor_id: int | None = None
        self._checked = False  # a preflight answered for the current actor
        self._error: BaseException | None = None  # what the last preflight raised
        self._concurrent_with: TrainingVersion | None = None  # a run in flight we may start beside
        self._generation = 0
        self._submitting = False
        self._dataset: DoctorReport | None = None  # the dataset check's latest report (set_dataset_report)

        row = QHBoxLayout()
        row.setSpacing(12)
        self.button = QPushButton(tr("Start Training"), self)
        self.button.setObjectName("startButton")
        self.button.setToolTip(tr("Start a training run with these parameters ({key})").format(key=START_SHORTCUT))
        self.button.setMinimumSize(220, 46)
        self.button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        font = self.button.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.button.setFont(font)
        self.button.setStyleSheet(
            "QPushButton#startButton { background: palette(highlight); color: palette(highlighted-text);"
            " border: none; border-radius: 6px; padding: 8px 28px; }"
            "QPushButton#startButton:hover { background: palette(link); }"
            "QPushButton#startButton:disabled { background: palette(midlight); color: palette(mid); }"
        )
        self.button.clicked.connect(self.start_training)
        row.addWidget(self.button)
        self.sandbox_note = make_badge(
            tr("SANDBOX — simulated run, no GPU is used"),
            status_colour(VersionStatus.IN_PROGRESS, self.palette()),
            self,
        )
        self.sandbox_note.setObjectName("sandboxNote")
        self.sandbox_note.setVisible(ctx.is_sandbox)
        row.addWidget(self.sandbox_note, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addStretch(1)
        self.body.addLayout(row)

        self.reason_label = QLabel(self)
        self.reason_label.setObjectName("startReason")
        self.reason_label.setWordWrap(True)
        self.reason_label.setTextFormat(Qt.TextFormat.RichText)
        self.reason_label.linkActivated.connect(self._on_link)
        self.body.addWidget(self.reason_label)
        self.hint_label = secondary("", self)
        self.hint_label.setObjectName("startHint")
        self.body.addWidget(self.hint_label)
        self.allow_concurrent = QCheckBox(tr("Allow a second run for this actor (start anyway)"), self)
        self.allow_concurrent.setObjectName("allowConcurrent")
        self.allow_concurrent.toggled.connect(lambda _on: self.recheck())
        self.body.addWidget(self.allow_concurrent)
        # "≈ 38 min on the endpoint, ≈ $1.90"; how it was reached in the tooltip (core/estimate.py).
        self.estimate_label = secondary("", self)
        self.estimate_label.setObjectName("startEstimate")
        self.estimate_label.setVisible(False)
        self.body.addWidget(self.estimate_label)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREFLIGHT_DELAY_MS)
        self._timer.timeout.connect(self._run_preflight)
        ctx.parameters.changed.connect(self._on_parameters)
        ctx.pricesChanged.connect(self.recheck)  # a price edited in Settings: the estimate follows
        self._update()

    # --- inputs ---------------------------------------------------------------------------------

    def set_actor(self, actor_id: int | None) -> None:
        if actor_id != self._actor_id:
            self._actor_id = actor_id
            self._checked, self._error, self._concurrent_with = False, None, None
            self.allow_concurrent.setChecked(False)
        self.recheck()

    def set_dataset_report(self, report: DoctorReport | None) -> None:
        """The dataset check's verdict (DatasetCheck.reportChanged): while a finding blocks, Start asks
        "Start anyway?" first, and a run started anyway records what it overrode (`forced`, like the CLI's --force)."""
        self._dataset = report
        self._update()

    def dataset_blocked(self) -> DoctorReport | None:
        """The current actor's report when a finding blocks training, else None."""
        r = self._dataset
        return r if r is not None and r.has_blocking and r.actor_id == self._actor_id else None

    def confirm_forced(self, report: DoctorReport) -> bool:
        """Ask before starting despite blocking findings; True only for "Start anyway"."""
        lines = "\n".join(f"• {f.message}" for f in report.blocking[:5])
        more = len(report.blocking) - 5
        text = (
            tr("The dataset check found problems that make this run fail or train on garbage:\n\n{lines}").format(
                lines=lines
            )
            + (tr("\n… and {n} more.").format(n=more) if more > 0 else "")
            + "\n\n"
            + tr("Starting anyway spends GPU time on it; the version records what was overridden.")
        )
        box = QMessageBox(
            QMessageBox.Icon.Warning, tr("Start anyway?"), text, QMessageBox.StandardButton.NoButton, self
        )
        box.setObjectName("confirmForced")
        go = box.addButton(tr("Start anyway"), QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton(tr("Don't start"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is go

    def confirm_unusual(self, unusual: list[UnusualValue]) -> bool:
        """Ask before starting with values outside the realistic range (what the CLI's --force
        stands for); True only for "Start with these values". Replaceable so a test can answer."""
        lines = "\n".join(f"• {u.message}" for u in unusual)
        text = (
            tr("These values are unusual for a person's likeness and cost more than usual:\n\n{lines}").format(
                lines=lines
            )
            + "\n\n"
            + tr("Start with them anyway? The version records that you confirmed them.")
        )
        box = QMessageBox(
            QMessageBox.Icon.Warning, tr("Unusual values"), text, QMessageBox.StandardButton.NoButton, self
        )
        box.setObjectName("confirmUnusual")
        go = box.addButton(tr("Start with these values"), QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton(tr("Change them"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is go

    @property
    def _params(self) -> TrainingParameters | None:
        return self._ctx.parameters.current(self._actor_id)[0] if self._actor_id is not None else None

    @property
    def _param_error(self) -> str | None:
        return (self._ctx.parameters.current(self._actor_id)[1] or None) if self._actor_id is not None else None

    def _on_parameters(self, actor_id: int, _params: object, _error: str) -> None:
        if actor_id == self._actor_id:
            if isinstance(self._error, InvalidParametersError):
                self._checked, self._error = False, None  # it was about the values before this edit
            self.recheck()

    def recheck(self) -> None:
        """Inputs or the world changed: check again shortly (several changes, one check)."""
        self._generation += 1
        if self._actor_id is None or self._params is None:
            self.estimate_label.setVisible(False)
        self._update()
        if self._actor_id is not None and self._params is not None:
            self._timer.start()

    # --- the gate -------------------------------------------------------------------------------

    def _run_preflight(self) -> None:
        actor_id, params = self._actor_id, self._params
        if actor_id is None or params is None:
            return
        generation = self._generation
        allow = self.allow_concurrent.isChecked()

        def done(beside: TrainingVersion | None) -> None:
            if generation == self._generation:
                self._checked, self._error, self._concurrent_with = True, None, beside
                self._update()

        def failed(exc: BaseException) -> None:
            if generation != self._generation:
                return
            self._checked, self._error, self._concurrent_with = True, exc, None
            if not isinstance(exc, ActorTrainerError):
                self._ctx.report_error(exc, tr("Could not check whether training can start"), quiet=True)
            self._update()

        self._ctx.check_can_start(actor_id, params, allow_concurrent=allow, on_done=done, on_error=failed, owner=self)
        self._ctx.estimate(actor_id, params, lambda report: self._show_estimate(generation, report), owner=self)

    def _show_estimate(self, generation: int, report: EstimateReport) -> None:
        if generation != self._generation:
            return
        text = report.estimate.summary()
        if report.accuracy is not None:
            text += " · " + tr("earlier estimates, {accuracy}").format(accuracy=report.accuracy.text())
        self.estimate_label.setText(text)
        self.estimate_label.setToolTip(report.tooltip())
        self.estimate_label.setVisible(True)

    @property
    def has_answer(self) -> bool:
        """A check has answered for the current actor (until then the reason is "Checking…")."""
        return self._checked

    def can_start(self) -> bool:
        return self.disabled_reason() is None

    def disabled_reason(self) -> str | None:
        """Why Start is disabled now (plain text), or None when it is enabled."""
        reason, _hint = self._reason()
        return reason

    def _reason(self) -> tuple[str | None, str]:
        if self._submitting:
            return tr("Sending the training request…"), ""
        if self._actor_id is None:
            return tr("No actor selected."), tr("Choose an actor first (Change actor…, Ctrl+O).")
        if self._params is None:
            return self._param_error or tr("The parameters are not valid."), tr("Fix the highlighted field above.")
        if getattr(self._ctx, "services_state", "ready") == "starting":  # the window opens first (issue 11)
            return tr("Starting services…"), tr("Training can start once they are up, in a second or so.")
        if not self._checked:
            return tr("Checking the training data…"), ""
        exc = self._error
        if exc is None:
            return None, ""
        if isinstance(exc, RunInFlightError) and exc.version is not None:
            version = exc.version
            return (
                tr("{name} is {state} — Start anyway?").format(name=version.name, state=version.status.label),
                tr("Wait for it to finish, or tick “Allow a second run” to train another version beside it."),
            )
        if isinstance(exc, ActorTrainerError):
            return exc.message, exc.hint
        return tr("Could not check whether training can start: {e}").format(e=exc), ""

    def warnings(self) -> list[str]:
        """Allowed but unusual values of the current parameters, each naming its field."""
        params = self._params
        if params is None:
            return []
        shown = []
        for name, text in parameter_warnings(params).items():
            label = tr(FIELD_LABELS.get(name, name))
            shown.append(text if text.lower().startswith(label.lower()) else f"{label}: {text}")
        return shown

    # --- submitting -----------------------------------------------------------------------------

    def start_training(self) -> bool:
        """Submit one run if Start is enabled (what the button and Ctrl+Enter do). True if started."""
        actor_id, params = self._actor_id, self._params
        if self._submitting or actor_id is None or params is None or not self.can_start():
            return False
        allow = self.allow_concurrent.isChecked() and not self.allow_concurrent.isHidden()
        description = self._description().strip() or None
        blocked = self.dataset_blocked()
        if blocked is not None and not self.confirm_forced(blocked):
            return False
        forced = forced_reasons(blocked) if blocked is not None else []
        summary = self._ctx.summary(actor_id)
        unusual = unusual_values(params, summary.image_count if summary is not None else None)
        if unusual and not self.confirm_unusual(unusual):
            return False
        forced += [u.to_json() for u in unusual]  # the GUI's "--force", recorded in the version
        self._submitting = True  # before anything else: a second click finds the button disabled
        self._update()
        if not self._ctx.submit_run(
            actor_id,
            params,
            description=description,
            allow_concurrent=allow,
            on_done=lambda version: self._submitted(actor_id, params, version, forced),
            on_error=self._submit_failed,
            owner=self,
        ):
            self._submitting = False  # a submission is already running: this click makes no second job
            self._update()
            return False
        return True

    def _submitted(
        self,
        actor_id: int,
        params: TrainingParameters,
        version: TrainingVersion,
        forced: list[dict[str, Any]] | None = None,
    ) -> None:
        self._submitting = False
        if forced:  # what "Start anyway" overrode, in the version (core/dataset_doctor_dismissals.py)
            self._ctx.tasks.start(
                f"record-forced-{version.key}",
                asyncio.to_thread(record_forced, self._ctx.library, actor_id, version.key, forced),
                on_error=lambda exc: self._ctx.report_error(exc, tr("Could not record the override")),
                replace=False,
                owner=self,
            )
        self._ctx.parameters.remember_now(actor_id)
        self._ctx.statusMessage.emit(tr("{name} started").format(name=version.name))
        if actor_id == self._actor_id:
            self.allow_concurrent.setChecked(False)
            self._checked, self._error = False, None  # the new run is in flight: check again
        self.trainingStarted.emit(actor_id, version.key)
        self.recheck()

    def _submit_failed(self, exc: BaseException) -> None:
        self._submitting = False
        self._ctx.report_error(exc, tr("Training could not start"))
        self.recheck()

    # --- display --------------------------------------------------------------------------------

    def _update(self) -> None:
        reason, hint = self._reason()
        self.button.setEnabled(reason is None)
        self.button.setText(tr("Starting…") if self._submitting else tr("Start Training"))
        in_flight = isinstance(self._error, RunInFlightError) and self._error.version is not None
        self.allow_concurrent.setVisible(in_flight or self._concurrent_with is not None)
        if reason is None and self._concurrent_with is not None:
            beside = self._concurrent_with
            reason_html = html.escape(
                tr("{name} is still {state}: this starts a second, separate run.").format(
                    name=beside.name, state=status_word(beside)
                )
            )
            self.reason_label.setText(reason_html)
            self.reason_label.setVisible(True)
            self.reason_label.setStyleSheet("")
        elif reason is None and (blocked := self.dataset_blocked()) is not None:
            self.reason_label.setText(
                "⛔ "
                + html.escape(
                    tr(
                        "The dataset check found {n} problem(s) that block training: "
                        "Start asks before it sends the run."
                    ).format(n=len(blocked.blocking))
                )
            )
            self.reason_label.setVisible(True)
            self.reason_label.setStyleSheet(f"color: {warning_colour(self.palette()).name()};")
        elif reason is None and (warnings := self.warnings()):
            self.reason_label.setText("<br>".join("⚠ " + html.escape(w) for w in warnings))
            self.reason_label.setVisible(True)
            self.reason_label.setStyleSheet(f"color: {warning_colour(self.palette()).name()};")
        elif reason is None:
            self.reason_label.clear()
            self.reason_label.setVisible(False)
        else:
            blocking = self._checked or self._actor_id is None or self._params is None
            blocking = blocking and not self._submitting
            text = ("⚠ " if blocking else "") + html.escape(reason)
            if isinstance(self._error, DataNotSyncedError) and not self._submitting:
                text += f' <a href="{SYNC_LINK}">{html.escape(tr("Sync now"))}</a>'
            self.reason_label.setText(text)
            self.reason_label.setVisible(True)
            colour = status_colour(VersionStatus.IN_PROGRESS, self.palette()).name() if blocking else ""
            self.reason_label.setStyleSheet(f"color: {colour};" if colour else "")
        self.hint_label.setText(hint if reason is not None else "")
        self.hint_label.setVisible(bool(hint) and reason is not None)
        self.stateChanged.emit()

    def _on_link(self, link: str) -> None:
        if link == SYNC_LINK and self._actor_id is not None:
            self._ctx.sync_now(self._actor_id)
