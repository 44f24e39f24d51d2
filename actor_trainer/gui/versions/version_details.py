"""The details of one training version: its run, its LoRA, every parameter, its error.

A pane under the versions table. It shows; it does not act: the action buttons are built from the
panel's `VersionActions` (one QAction per action, shared with the table's context menu), so a
button is enabled, disabled and explained exactly like its menu entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.models import TrainingVersion, VersionStatus, derived_epochs
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.version_text import (
    attempts_text,
    duration_seconds,
    error_details_text,
    format_duration,
    format_local_time,
    format_number,
    progress_text,
)
from actor_trainer.gui.widgets.copy_field import CopyField
from actor_trainer.gui.widgets.error_box import ErrorBox
from actor_trainer.gui.widgets.status_style import StatusBadge, good_colour, good_text, make_badge, status_colour

# (field, label) in the order the parameters form shows them.
_PARAMETER_LABELS: tuple[tuple[str, str], ...] = (
    ("max_train_steps", "Steps"),
    ("learning_rate", "Learning rate"),
    ("network_dim", "Rank (network_dim)"),
    ("network_alpha", "Alpha"),
    ("trigger", "Trigger"),
    ("num_repeats", "Repeats"),
    ("batch_size", "Batch size"),
    ("lr_scheduler", "LR scheduler"),
    ("lr_warmup_steps", "Warm-up steps"),
    ("optimizer_type", "Optimizer"),
    ("gradient_dtype", "Gradient dtype"),
    ("save_dtype", "Save dtype"),
    ("resolution", "Resolution"),
)


#: Actions (by object name) that act on the run itself; the others use its result.
RUN_ACTIONS = frozenset({"checkStatus", "cancelRun", "retryRun"})


def is_sandbox_endpoint(endpoint: str | None) -> bool:
    return (endpoint or "").strip().lower() == "sandbox"


class VersionDetails(QScrollArea):
    """Everything about the selected version. `set_version(None)` shows a hint instead."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("VersionDetails")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        #: How URLs are opened (QDesktopServices); replaceable so tests can watch it.
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl
        self._version: TrainingVersion | None = None
        self._params_shown: str | None = None

        body = QWidget(self)
        self._body = body
        outer = QVBoxLayout(body)
        outer.setContentsMargins(10, 8, 10, 10)
        outer.setSpacing(8)

        self.placeholder = QLabel(tr("Select a version to see its details."), body)
        self.placeholder.setObjectName("detailsPlaceholder")
        self.placeholder.setEnabled(False)
        outer.addWidget(self.placeholder)

        self.content = QWidget(body)
        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.setSpacing(8)
        outer.addWidget(self.content)
        outer.addStretch(1)

        self._build_header(content)
        self._build_buttons(content, actions)
        # Error: the real message, and the traceback/details in a collapsible monospace box.
        self.error_box = ErrorBox(self.content)
        content.addWidget(self.error_box)
        self._build_run_facts(content)
        self._build_lora(content)
        # Parameters (rebuilt only when they differ from what is shown).
        self.params_form = QFormLayout()
        self._form_style(self.params_form)
        content.addWidget(self._section(tr("Parameters")))
        content.addLayout(self.params_form)

        self.setWidget(body)
        self._paint_notes()
        self.set_version(None)

    # --- building -------------------------------------------------------------------------------

    def _build_header(self, content: QVBoxLayout) -> None:
        """Name, status badge and good mark; the description; the sandbox note."""
        header = QHBoxLayout()
        header.setSpacing(8)
        self.title = QLabel(self.content)
        self.title.setObjectName("detailsTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.status_badge = StatusBadge(parent=self.content)
        self.status_badge.setObjectName("detailsStatus")
        self.good_badge = make_badge(good_text(), good_colour(self.palette()), self.content)
        self.good_badge.setObjectName("detailsGood")
        header.addWidget(self.title)
        header.addWidget(self.status_badge)
        header.addWidget(self.good_badge)
        header.addStretch(1)
        content.addLayout(header)

        self.description = QLabel(self.content)
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(
            self.description.textInteractionFlags() | self.description.textInteractionFlags().TextSelectableByMouse
        )
        content.addWidget(self.description)

        self.sandbox_note = QLabel(
            tr(
                "Simulated run — random weights. This version ran on the SANDBOX endpoint; its LoRA is "
                "not a trained model."
            ),
            self.content,
        )
        self.sandbox_note.setObjectName("sandboxNote")
        self.sandbox_note.setWordWrap(True)
        content.addWidget(self.sandbox_note)

    def _build_buttons(self, content: QVBoxLayout, actions: list[QAction]) -> None:
        """Buttons sharing the panel's QActions, in two short rows so a narrow dock fits them:
        what acts on the run (check, cancel, retry), then what uses its result."""
        self.buttons: dict[str, QToolButton] = {}
        run_row, result_row = QHBoxLayout(), QHBoxLayout()
        for row in (run_row, result_row):
            row.setSpacing(6)
        for action in actions:
            button = QToolButton(self.content)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setObjectName(f"{action.objectName()}Button")
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            self.buttons[action.objectName()] = button
            # A tool button follows its action's text, state and tooltip, but not its visibility.
            action.changed.connect(lambda b=button, a=action: b.setVisible(a.isVisible()))
            button.setVisible(action.isVisible())
            (run_row if action.objectName() in RUN_ACTIONS else result_row).addWidget(button)
        for row in (run_row, result_row):
            row.addStretch(1)
            content.addLayout(row)

    def _build_run_facts(self, content: QVBoxLayout) -> None:
        self.run_form = QFormLayout()
        self._form_style(self.run_form)
        self.job_id = CopyField("jobId", self.content)
        self.endpoint = self._value_label("endpoint")
        self.started = self._value_label("started")
        self.ended_label = QLabel(self.content)
        self.ended = self._value_label("ended")
        self.duration = self._value_label("duration")
        self.progress = self._value_label("progressDetail")
        self.runpod_status = self._value_label("runpodStatus")
        self.last_checked = self._value_label("lastChecked")
        self.attempts = self._value_label("attempts")
        self.images = self._value_label("images")
        self.run_form.addRow(tr("Job id"), self.job_id)
        self.run_form.addRow(tr("Endpoint"), self.endpoint)
        self.run_form.addRow(tr("Started"), self.started)
        self.run_form.addRow(self.ended_label, self.ended)
        self.run_form.addRow(tr("Duration"), self.duration)
        self.run_form.addRow(tr("Progress"), self.progress)
        self.run_form.addRow(tr("RunPod status"), self.runpod_status)
        self.run_form.addRow(tr("Last checked"), self.last_checked)
        self.run_form.addRow(tr("Attempts"), self.attempts)
        self.run_form.addRow(tr("Images"), self.images)
        content.addWidget(self._section(tr("Run")))
        content.addLayout(self.run_form)

    def _build_lora(self, content: QVBoxLayout) -> None:
        self.lora_form = QFormLayout()
        self._form_style(self.lora_form)
        self.lora_url = CopyField("loraUrl", self.content)
        self.open_button = QToolButton(self.content)
        self.open_button.setText(tr("Open"))
        self.open_button.setObjectName("loraOpen")
        self.open_button.clicked.connect(self._open_lora)
        self.lora_url.layout_.addWidget(self.open_button)
        self.lora_note = QLabel(self.content)
        self.lora_note.setObjectName("loraNote")
        self.lora_note.setWordWrap(True)
        self.lora_note.setEnabled(False)
        self.output_url = CopyField("outputUrl", self.content)
        self.lora_form.addRow(tr("LoRA URL"), self.lora_url)
        self.lora_form.addRow("", self.lora_note)
        self.lora_form.addRow(tr("Output URL"), self.output_url)
        content.addWidget(self._section(tr("LoRA")))
        content.addLayout(self.lora_form)

    def _value_label(self, name: str) -> QLabel:
        label = QLabel(self.content)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(label.textInteractionFlags() | label.textInteractionFlags().TextSelectableByMouse)
        return label

    def _section(self, title: str) -> QLabel:
        label = QLabel(title, self.content)
        font = label.font()
        font.setBold(True)
        label.setFont(font)
        label.setContentsMargins(0, 6, 0, 0)
        return label

    @staticmethod
    def _form_style(form: QFormLayout) -> None:
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

    # --- showing --------------------------------------------------------------------------------

    @property
    def version(self) -> TrainingVersion | None:
        return self._version

    def set_version(self, version: TrainingVersion | None) -> None:
        """Show `version` (None: the placeholder). Updates in place, keeping the error toggle."""
        same_version = version is not None and self._version is not None and version.key == self._version.key
        self._version = version
        self.placeholder.setVisible(version is None)
        self.content.setVisible(version is not None)
        if version is None:
            return
        if not same_version:
            self.error_box.collapse()
        self.title.setText(version.name)
        self.status_badge.set_status(version)
        self.good_badge.setVisible(version.isGood)
        self.description.setText(version.description or "")
        self.description.setVisible(bool(version.description))
        self.sandbox_note.setVisible(is_sandbox_endpoint(version.endpoint))
        # "Random weights" only where there is a LoRA to have weights (issue 10, item 6).
        if version.status is VersionStatus.COMPLETED and version.loraUrl:
            self.sandbox_note.setText(
                tr(
                    "Simulated run — random weights. This version ran on the SANDBOX endpoint; "
                    "its LoRA is not a trained model."
                )
            )
        else:
            self.sandbox_note.setText(tr("Simulated run. This version ran on the SANDBOX endpoint; no GPU was used."))
        self._show_run(version)
        self._show_lora(version)
        self._show_error(version)
        self._show_parameters(version)

    def _paint_notes(self) -> None:
        info = status_colour(VersionStatus.QUEUED, self.palette()).name()
        sheet = (
            f"QLabel#sandboxNote {{ border: 1px solid {info}; border-radius: 4px; padding: 4px 8px; color: {info}; }}"
        )
        if sheet != self.sandbox_note.styleSheet():  # re-styling changes the palette: only when it differs
            self.sandbox_note.setStyleSheet(sheet)

    def _show_run(self, v: TrainingVersion) -> None:
        self.job_id.set_text(v.job_id or "")
        if v.job_id is None:
            self.job_id.edit.setPlaceholderText(tr("not created yet (request {id})").format(id=v.key))
        self.endpoint.setText(v.endpoint or tr("unknown"))
        self.started.setText(format_local_time(v.timestamp))
        if v.completedAt is not None:
            self.ended_label.setText(tr("Completed"))
            self.ended.setText(format_local_time(v.completedAt))
        elif v.failedAt is not None:
            self.ended_label.setText(tr("Ended"))
            self.ended.setText(format_local_time(v.failedAt))
        else:
            self.ended_label.setText(tr("Ended"))
            self.ended.setText("")  # still running: the duration says so
        running = "" if v.status.is_terminal else tr(" (running)")
        self.duration.setText(format_duration(duration_seconds(v)) + running)
        self.progress.setText(progress_text(v))
        self.runpod_status.setText(v.runpodStatus or "")
        self.last_checked.setText(format_local_time(v.lastCheckedAt))
        self.attempts.setText(attempts_text(v))
        self.images.setText(str(v.imageCount))
        _set_row_visible(self.run_form, self.progress, bool(self.progress.text()))
        _set_row_visible(self.run_form, self.runpod_status, bool(v.runpodStatus))
        _set_row_visible(self.run_form, self.last_checked, v.lastCheckedAt is not None)
        _set_row_visible(self.run_form, self.attempts, bool(v.attempts))
        _set_row_visible(self.run_form, self.ended, bool(self.ended.text()))

    def _show_lora(self, v: TrainingVersion) -> None:
        url = v.loraUrl or ""
        self.lora_url.set_text(url)
        self.lora_url.edit.setPlaceholderText(tr("none yet") if not v.status.is_terminal else tr("none"))
        scheme = QUrl(url).scheme().lower() if url else ""
        openable = scheme in ("file", "https", "http")
        self.open_button.setEnabled(openable)
        if scheme == "s3":
            self.open_button.setToolTip(tr("The LoRA is in the S3 bucket: copy its URL, or use Download LoRA."))
            self.lora_note.setText(
                tr(
                    "This LoRA is in the S3 bucket. Copy its URL, or use Download LoRA to save "
                    "the file on this computer."
                )
            )
        else:
            self.open_button.setToolTip(tr("Open the LoRA file") if openable else "")
            self.lora_note.setText("")
        _set_row_visible(self.lora_form, self.lora_note, bool(self.lora_note.text()))
        self.output_url.set_text(v.outputUrl or "")
        _set_row_visible(self.lora_form, self.output_url, bool(v.outputUrl) and v.outputUrl != v.loraUrl)

    def _show_error(self, v: TrainingVersion) -> None:
        self.error_box.setVisible(v.error is not None)
        if v.error is not None:
            self.error_box.set_error(v.error.message, error_details_text(v.error.details))

    def _show_parameters(self, v: TrainingVersion) -> None:
        shown = json.dumps([v.parameters.to_json(), v.imageCount], sort_keys=True)
        if shown == self._params_shown:
            return
        self._params_shown = shown
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        params = v.parameters
        for name, label in _PARAMETER_LABELS:
            value = getattr(params, name)
            if name == "trigger" and value is None:
                text = tr("(the actor's name)")
            elif isinstance(value, float):
                text = format_number(value)
            else:
                text = str(value)
            self.params_form.addRow(tr(label), self._param_value(name, text))
            if name == "max_train_steps" and v.imageCount:
                epochs = derived_epochs(v.imageCount, params)
                self.params_form.addRow(tr("Epochs (derived)"), self._param_value("epochs", str(epochs)))
        for key, value in sorted((params.model_extra or {}).items()):
            self.params_form.addRow(
                key, self._param_value(key, json.dumps(value) if not isinstance(value, str) else value)
            )

    def _param_value(self, name: str, text: str) -> QLabel:
        label = QLabel(text, self.content)
        label.setObjectName(f"param_{name}")
        label.setTextInteractionFlags(label.textInteractionFlags() | label.textInteractionFlags().TextSelectableByMouse)
        return label

    def parameter_text(self, name: str) -> str | None:
        """What the parameters form shows for `name` (for tests and accessibility)."""
        label = self.content.findChild(QLabel, f"param_{name}")
        return label.text() if label is not None else None

    def _open_lora(self) -> None:
        if self._version is not None and self._version.loraUrl:
            self.open_url(QUrl(self._version.loraUrl))

    def changeEvent(self, event: Any) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:
            self._paint_notes()


def _set_row_visible(form: QFormLayout, field: QWidget, visible: bool) -> None:
    form.setRowVisible(field, visible)
