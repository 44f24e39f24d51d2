"""The Console tab (the original web app's console): the current run's state, its progress and loss, and the log.

The strip and progress show the current actor's current run — its newest run still in flight,
else its newest run — as RunPod last described it. Check status asks RunPod now; Abort really
cancels (`/cancel`) after a confirmation and logs RunPod's answer. The log shows every core log
event with a time and a level (colour AND word), filterable by level and actor, and writes each
line to `console.log` in the log folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from actor_trainer.core.events import LogLevel
from actor_trainer.core.library import ActorSummary
from actor_trainer.core.models import Progress, TrainingVersion, VersionStatus
from actor_trainer.core.run_control import can_cancel, can_check, is_sandbox_run
from actor_trainer.core.settings import log_dir
from actor_trainer.gui.console.console_log_model import DEFAULT_MAX_LINES, ConsoleLine, tint, tone_color
from actor_trainer.gui.console.console_log_view import ConsoleLogView
from actor_trainer.gui.console.loss_chart import LossChart, LossHistory
from actor_trainer.gui.console.run_progress import RunProgressWidget, phase_word
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.widgets.status_style import status_colour

#: The strip's title per state; it is always shown with the version name, so state is in words.
_STATES: dict[VersionStatus, str] = {
    VersionStatus.PENDING: "Submitting",
    VersionStatus.QUEUED: "Queued",
    VersionStatus.IN_PROGRESS: "Training in progress",
    VersionStatus.COMPLETED: "Completed",
    VersionStatus.FAILED: "Failed",
    VersionStatus.CANCELLED: "Cancelled",
    VersionStatus.TIMED_OUT: "Timed out",
    VersionStatus.EXPIRED: "Expired",
}

Confirm = Callable[[str, str], bool]


def pick_current_run(versions: list[TrainingVersion]) -> TrainingVersion | None:
    """The newest run still in flight, else the newest run, else None."""
    in_flight = [v for v in versions if not v.status.is_terminal]
    pool = in_flight or versions
    return max(pool, key=lambda v: v.number) if pool else None


class ConsolePanel(QWidget):
    def __init__(
        self,
        ctx: AppContext,
        parent: QWidget | None = None,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ConsolePanel")
        self._ctx = ctx
        self._actor_id: int | None = None
        self._version: TrainingVersion | None = None
        self._history = LossHistory()

        self._build_strip()
        self.progress = RunProgressWidget(self)
        from actor_trainer.gui.console.sample_strip import SampleStrip  # issue 12: samples as they land

        self.sample_strip = SampleStrip(ctx, self)
        self.loss_chart = LossChart(self)
        self.loss_chart.setFixedHeight(150)
        self.log = ConsoleLogView(log_path or log_dir() / "console.log", self, max_lines=max_lines)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        layout.addWidget(self._strip)
        layout.addWidget(self.progress)
        layout.addWidget(self.sample_strip)
        layout.addWidget(self.loss_chart)
        layout.addWidget(self.log, 1)

        bridge = ctx.bridge
        for event in bridge.recent_logs():  # what happened before this panel existed (start-up)
            self.log.add_event(event)
        bridge.log.connect(self.log.add_event)
        ctx.versions.reset.connect(self._on_versions_reset)
        ctx.versions.versionChanged.connect(self._on_version_changed)
        bridge.runProgress.connect(self._on_run_progress)
        ctx.currentActorChanged.connect(self._on_current_actor)
        ctx.tasks.busyChanged.connect(self._update_buttons)
        self._show(None)  # "Idle" until a run is known
        self._on_current_actor(ctx.current_summary)

    # --- building -------------------------------------------------------------------------------

    def _build_strip(self) -> None:
        self._strip = QFrame(self)
        self._strip.setObjectName("consoleStatus")
        self._strip_title = QLabel(self._strip)
        self._strip_title.setObjectName("consoleStatusTitle")
        self._strip_title.setWordWrap(True)
        self._strip_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self._strip_title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.08)
        self._strip_title.setFont(font)
        self._strip_detail = QLabel(self._strip)
        self._strip_detail.setObjectName("consoleStatusDetail")
        self._strip_detail.setWordWrap(True)
        self._strip_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._check_button = QPushButton(tr("Check status"), self._strip)
        self._check_button.setObjectName("checkStatusButton")
        self._check_button.setToolTip(tr("Ask RunPod about this run now"))
        self._check_button.clicked.connect(lambda: self.check_status())
        self._abort_button = QPushButton(tr("Abort…"), self._strip)
        self._abort_button.setObjectName("abortButton")
        self._abort_button.clicked.connect(lambda: self.abort())
        for button in (self._check_button, self._abort_button):
            button.setAutoDefault(False)

        self._sandbox_badge = QLabel(tr("SANDBOX · simulated"), self._strip)
        self._sandbox_badge.setObjectName("consoleSandboxBadge")
        self._sandbox_badge.setProperty("badge", "sandbox")  # styled by the app's theme
        self._sandbox_badge.setToolTip(tr("Runs go to a simulated endpoint on this computer; nothing is billed."))
        title_row = QHBoxLayout()
        title_row.setSpacing(8)
        title_row.addWidget(self._strip_title, 1)
        title_row.addWidget(self._sandbox_badge, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addLayout(title_row)
        text.addWidget(self._strip_detail)
        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self._check_button)
        buttons.addWidget(self._abort_button)
        buttons.addStretch(1)
        row = QHBoxLayout(self._strip)
        row.setContentsMargins(12, 8, 8, 8)
        row.setSpacing(10)
        row.addLayout(text, 1)
        row.addLayout(buttons)

    # --- the shown run --------------------------------------------------------------------------

    def shown_version(self) -> TrainingVersion | None:
        return self._version

    def status_text(self) -> str:
        return self._strip_title.text()

    def status_detail(self) -> str:
        return self._strip_detail.text()

    def _on_current_actor(self, summary: ActorSummary | None) -> None:
        actor_id = summary.actor.id if summary is not None else None
        if actor_id != self._actor_id:
            self._actor_id = actor_id
            self._show(None)
            self.log.set_actor(actor_id)
        if actor_id is not None and self._ctx.versions.actor_id == actor_id and self._ctx.versions.loaded:
            self._show(pick_current_run(self._ctx.versions.versions()))

    def _on_versions_reset(self, actor_id: int | None, versions: list[TrainingVersion]) -> None:
        if actor_id is not None and actor_id == self._actor_id:
            self._show(pick_current_run(versions))

    def _on_version_changed(self, actor_id: int, version: TrainingVersion) -> None:
        if actor_id != self._actor_id:
            return
        shown = self._version
        if shown is None or shown.key == version.key:
            self._show(version)
        elif not version.status.is_terminal and (shown.status.is_terminal or version.number > shown.number):
            self._show(version)  # a new run started, or one in flight beats a finished one
        elif version.status.is_terminal and shown.status.is_terminal and version.number > shown.number:
            self._show(version)

    def _show(self, version: TrainingVersion | None) -> None:
        previous = self._version
        same_run = previous is not None and version is not None and previous.key == version.key
        if same_run and previous is not None and version is not None and self._actor_id is not None:
            if previous.status.is_terminal and not version.status.is_terminal:
                # RunPod /retry requeued this job: a new attempt whose steps start over.
                self._history.forget(self._actor_id, version.id)
                self.loss_chart.set_points([], _total(version))
        self._version = version
        self.progress.show_run(version)
        self.sample_strip.show_version(version)
        if version is None:
            self.loss_chart.set_empty_text(tr("No run to show"))
        elif version.status.is_terminal:
            self.loss_chart.set_empty_text(tr("No loss was recorded for {name}").format(name=version.name))
        else:
            self.loss_chart.set_empty_text(tr("No loss reported yet"))
        if not same_run:
            if version is None or self._actor_id is None:
                self.loss_chart.clear()
            else:
                points = self._history.points(self._actor_id, version.id)
                kept = [(int(step), float(loss)) for step, loss in (version.lossHistory or [])]
                if len(kept) > len(points):  # the history kept with the version (an earlier session's run)
                    points = kept
                p = version.progress
                if not points and p is not None and p.step is not None and p.loss is not None:
                    points = [(p.step, p.loss)]
                self.loss_chart.set_points(points, _total(version))
            if version is not None and not version.status.is_terminal and self._actor_id is not None:
                self._ctx.watch_run(self._actor_id, version.key)  # live progress while it is shown
        self._update_strip()
        self._update_buttons()

    def _on_run_progress(self, actor_id: int, version_id: str, progress: Progress) -> None:
        self._history.add(actor_id, version_id, progress.step, progress.loss)
        shown = self._version
        if shown is None or actor_id != self._actor_id or version_id != shown.id:
            return
        self.progress.add_progress(progress)
        if progress.step is not None and progress.loss is not None:
            self.loss_chart.add_point(progress.step, progress.loss, progress.total or _total(shown))
        self._update_strip()

    def _update_strip(self) -> None:
        version = self._version
        if version is None:
            title, colour = tr("Idle"), tone_color("neutral", self.palette())
            name = self._ctx.current_summary.actor.name if self._ctx.current_summary else None
            detail = (
                tr("No runs yet for {name}.").format(name=name)
                if name and self._actor_id is not None
                else tr("Choose an actor to see its runs.")
            )
            if self._actor_id is not None and self._ctx.is_sandbox:
                detail += " " + tr("Sandbox mode: runs are simulated.")
        else:
            colour = status_colour(version.status, self.palette())
            title = tr("{state} — {name}").format(state=tr(_STATES[version.status]), name=version.name)
            if version.status in (VersionStatus.FAILED, VersionStatus.TIMED_OUT, VersionStatus.EXPIRED):
                message = version.error.message if version.error else version.status.label
                title += f": {message}"
            detail = self._detail(version)
        self._strip_title.setText(title)
        self._sandbox_badge.setVisible(
            is_sandbox_run(version, self._ctx.is_sandbox) if version is not None else self._ctx.is_sandbox
        )
        self._strip_title.setStyleSheet(f"color: {colour.name()};")
        self._strip_detail.setText(detail)
        self._strip_detail.setToolTip((version.loraUrl or "") if version is not None else "")
        self._strip.setStyleSheet(
            f"QFrame#consoleStatus {{ background: {tint(colour, self.palette()).name()}; "
            f"border-left: 4px solid {colour.name()}; border-radius: 4px; }}"
        )

    def _detail(self, version: TrainingVersion) -> str:
        parts: list[str] = []
        p = version.progress
        if version.status is VersionStatus.IN_PROGRESS and p is not None:
            if p.step is not None and p.total:
                parts.append(tr("Step {step} / {total}").format(step=p.step, total=p.total))
            if p.phase:
                parts.append(phase_word(p.phase))
        elif version.status is VersionStatus.QUEUED:
            parts.append(tr("Waiting for a GPU worker; Check status also asks the endpoint about its workers."))
        elif version.status is VersionStatus.PENDING:
            parts.append(tr("Sending the job to RunPod…"))
        elif version.status is VersionStatus.COMPLETED and version.loraUrl:
            parts.append(tr("LoRA: {file}").format(file=version.loraUrl.rstrip("/").rsplit("/", 1)[-1]))
        if version.description:
            parts.append(version.description)
        if is_sandbox_run(version, self._ctx.is_sandbox):
            # Only a run that left a LoRA has weights to speak of (issue 10, item 6).
            if version.status is VersionStatus.COMPLETED and version.loraUrl:
                parts.append(tr("Simulated run (sandbox): no GPU was used and the LoRA has random weights."))
            else:
                parts.append(tr("Simulated run (sandbox): no GPU was used."))
        return " · ".join(parts)

    def _update_buttons(self) -> None:
        version = self._version
        checking = version is not None and self._ctx.is_run_busy("check", version.key)
        aborting = version is not None and self._ctx.is_run_busy("cancel", version.key)
        checkable = version is not None and can_check(version)
        self._check_button.setEnabled(checkable and not checking)
        self._check_button.setText(tr("Checking…") if checking else tr("Check status"))
        cancellable = version is not None and can_cancel(version)
        self._abort_button.setEnabled(cancellable and not aborting)
        self._abort_button.setText(tr("Aborting…") if aborting else tr("Abort…"))
        if version is not None and not version.status.is_terminal and version.job_id is None:
            self._abort_button.setToolTip(tr("The job has no RunPod id yet; check its status first."))
        else:
            self._abort_button.setToolTip(tr("Cancel this run on RunPod (asks first)"))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._update_strip()  # the strip's colours are computed from the palette

    # --- actions --------------------------------------------------------------------------------

    def check_status(self) -> None:
        """Ask RunPod about the shown run now; for a queued run, also ask the endpoint's /health."""
        version, actor_id = self._version, self._actor_id
        if version is None or actor_id is None:
            return
        self._ctx.check_run(actor_id, version.key, on_done=lambda _v: self._update_buttons(), owner=self)
        self._update_buttons()

    def abort(self, confirm: Confirm | None = None) -> bool:
        """Cancel the shown run on RunPod after `confirm(title, text)` agrees (a dialog by default).
        Returns whether the cancel request was sent."""
        version, actor_id = self._version, self._actor_id
        if version is None or actor_id is None or not can_cancel(version):
            return False
        question = self._ctx.cancel_question(version)
        if not (confirm or self._confirm_dialog)(question.title, question.text):
            return False
        self._ctx.cancel_run(actor_id, version.key, on_done=lambda _v: self._update_buttons(), owner=self)
        self._update_buttons()
        return True

    def _confirm_dialog(self, title: str, text: str) -> bool:
        question = self._ctx.cancel_question(self._version) if self._version is not None else None
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("abortConfirmation")
        go_on = tr(question.confirm if question else "Cancel run")
        abort = box.addButton(go_on, QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton(tr(question.keep if question else "Keep running"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.exec()
        return box.clickedButton() is abort

    # --- the log (see ConsoleLogView) ---------------------------------------------------------

    def visible_lines(self) -> list[ConsoleLine]:
        return self.log.visible_lines()

    def set_level_visible(self, level: LogLevel, visible: bool) -> None:
        self.log.set_level_visible(level, visible)

    def copy_lines(self) -> str:
        text = self.log.copy_lines()
        self._ctx.statusMessage.emit(tr("Copied {n} log line(s)").format(n=text.count("\n") + 1 if text else 0))
        return text

    def clear(self) -> None:
        self.log.clear()


def _total(version: TrainingVersion) -> int | None:
    if version.progress is not None and version.progress.total:
        return version.progress.total
    return version.parameters.max_train_steps
