"""The ParametersForm: the original web app's basic fields in front, the rest under "Advanced" (collapsed).

Values are validated live by pydantic (TrainingParameters): an invalid field is outlined with the
message under it, and `parametersChanged` carries None until it is fixed. What the user typed is
sent exactly as typed; Auto-adjust only proposes (a dialog lists each change and its reason) and
keeps every field the user edited since the last load, unless they ask it to change one.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.models import TrainingParameters, derived_epochs, steps_per_epoch, steps_per_image
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.training.auto_adjust_dialog import AutoAdjustDialog
from actor_trainer.gui.training.parameter_warnings import parameter_warnings
from actor_trainer.gui.training.parameters_form_fields import (
    ADVANCED_FIELDS,
    BASIC_FIELDS,
    FIELD_LABELS,
    FieldSpec,
    ParamField,
    error_colour,
    format_number,
)
from actor_trainer.gui.training.sample_settings_editor import SampleSettingsEditor
from actor_trainer.gui.training.training_tab_card import counted, heading, secondary


class ParametersForm(QWidget):
    """Edits one TrainingParameters. `parameters()` is None while any field is invalid."""

    #: the parameters or the messages about them changed (TrainingParameters, or None while
    #: invalid); fires on every edit that changes what the form says, so readers are never stale
    parametersChanged = Signal(object)
    #: the user changed something (typing, Auto-adjust applied, Reset) — not `set_parameters`
    userEdited = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._base = TrainingParameters()  # keeps fields other tools wrote (extras) on a round trip
        self._params: TrainingParameters | None = self._base
        self._edited: set[str] = set()
        self._messages: tuple[tuple[str, str], ...] = ()  # the errors and warnings last announced
        self._loading = False
        self._image_count = 0
        self.auto_adjust_dialog: AutoAdjustDialog | None = None
        self.fields: dict[str, ParamField] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)

        top = QHBoxLayout()
        top.addWidget(heading(tr("Parameters"), self))
        top.addStretch(1)
        self.auto_adjust_button = QPushButton(tr("Auto-adjust…"), self)
        self.auto_adjust_button.setToolTip(
            tr("Propose parameters for this actor's image count and explain each change. Values you typed are kept.")
        )
        self.auto_adjust_button.clicked.connect(self.open_auto_adjust)
        self.reset_button = QPushButton(tr("Reset to defaults"), self)
        self.reset_button.clicked.connect(self.reset_to_defaults)
        top.addWidget(self.auto_adjust_button)
        top.addWidget(self.reset_button)
        layout.addLayout(top)

        layout.addLayout(self._grid(BASIC_FIELDS))
        self.derived_label = secondary("", self)
        self.derived_label.setObjectName("derived")
        self.derived_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.derived_label)

        self.advanced_toggle = QToolButton(self)
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.setObjectName("advancedToggle")
        self.advanced_toggle.setStyleSheet("QToolButton#advancedToggle { border: none; font-weight: bold; }")
        self.advanced_toggle.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.advanced_toggle.toggled.connect(self.set_advanced_visible)
        layout.addWidget(self.advanced_toggle)
        self.advanced = QWidget(self)
        advanced_grid = self._grid(ADVANCED_FIELDS)
        advanced_grid.setContentsMargins(18, 0, 0, 0)
        self.advanced.setLayout(advanced_grid)
        self.samples = SampleSettingsEditor(self.advanced)
        advanced_grid.addWidget(heading(tr("Samples while training"), self.advanced), advanced_grid.rowCount(), 0, 1, 4)
        advanced_grid.addWidget(self.samples, advanced_grid.rowCount(), 0, 1, 4)
        self.samples.changed.connect(lambda: self._on_field_changed("sampling"))
        layout.addWidget(self.advanced)

        self.general_error = QLabel(self)  # an error no single field owns
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        layout.addWidget(self.general_error)

        for field in self.fields.values():
            field.changed.connect(self._on_field_changed)
        self._load(self._base)
        self.set_advanced_visible(False)

    def _grid(self, specs: tuple[FieldSpec, ...]) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(8)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        grid.setColumnMinimumWidth(2, 110)
        row = col = 0
        for spec in specs:
            field = ParamField(spec, self)
            self.fields[spec.name] = field
            span = 3 if spec.kind == "text" else 1  # the trigger gets the whole row
            if span == 3 and col:
                row, col = row + 1, 0
            grid.addWidget(field.label, row, col * 2, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(field.cell, row, col * 2 + 1, 1, span, Qt.AlignmentFlag.AlignTop)
            col = 0 if span == 3 else col + 1
            if col == 0 or col == 2:
                row, col = row + 1, 0
        grid.setColumnMinimumWidth(0, 96)
        return grid

    # --- public API -----------------------------------------------------------------------------

    def parameters(self) -> TrainingParameters | None:
        """The valid parameters as shown, or None while a field is invalid."""
        return self._params

    def set_parameters(self, params: TrainingParameters) -> None:
        """Show `params` (a load: no field counts as edited afterwards)."""
        self._load(params)
        self._edited.clear()

    def edited_fields(self) -> frozenset[str]:
        """Fields the user changed since the last load or Auto-adjust (Auto-adjust keeps them)."""
        return frozenset(self._edited)

    def errors(self) -> dict[str, str]:
        """The inline messages now shown, by field name ("" for one no field owns)."""
        found = {name: f.error for name, f in self.fields.items() if f.error}
        if self.general_error.isVisible() or self.general_error.text():
            found[""] = self.general_error.text()
        return {k: v for k, v in found.items() if v}

    def first_error(self) -> str | None:
        """The first problem, naming its field as the user sees it ("Learning rate: not a number …")."""
        for name, message in self.errors().items():
            label = tr(FIELD_LABELS[name]) if name in FIELD_LABELS else ""
            if not label or message.lower().startswith(label.lower()):  # it names its field already
                return message
            return f"{label}: {message[:1].lower()}{message[1:]}"
        return None

    def warnings(self) -> dict[str, str]:
        """Allowed but unusual values now shown under their fields, by field name."""
        return {name: f.warning for name, f in self.fields.items() if f.warning and not f.error}

    def set_image_count(self, count: int) -> None:
        """The number of training images (for the derived epochs and for Auto-adjust)."""
        if max(0, count) != self._image_count:
            self._image_count = max(0, count)
            self._revalidate()  # warnings may depend on the image count
        self._update_derived()

    def set_actor_name(self, name: str | None) -> None:
        """The trigger's placeholder: what an empty trigger means."""
        trigger = self.fields["trigger"].editor
        assert hasattr(trigger, "setPlaceholderText")
        trigger.setPlaceholderText(name or tr("the actor's name"))

    def set_advanced_visible(self, visible: bool) -> None:
        self.advanced.setVisible(visible)
        if self.advanced_toggle.isChecked() != visible:
            self.advanced_toggle.setChecked(visible)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow)
        self._update_advanced_title()

    def reset_to_defaults(self) -> None:
        self._load(TrainingParameters())
        self._edited.clear()
        self.userEdited.emit()

    # --- auto-adjust ----------------------------------------------------------------------------

    def open_auto_adjust(self) -> AutoAdjustDialog:
        """Show what Auto-adjust proposes; nothing changes until the user presses Apply."""
        current, locked = self._adjust_basis()
        if self.auto_adjust_dialog is not None:
            self.auto_adjust_dialog.close()
            self.auto_adjust_dialog.deleteLater()
        dialog = AutoAdjustDialog(self._image_count, current, locked, self)
        dialog.applied.connect(self._apply_proposal)
        self.auto_adjust_dialog = dialog
        dialog.open()
        return dialog

    def _adjust_basis(self) -> tuple[TrainingParameters, frozenset[str]]:
        """The current values (unreadable ones at their last loaded value) and the locked fields."""
        if self._params is not None:
            return self._params, frozenset(self._edited)
        values: dict[str, Any] = self._base.model_dump()
        readable: set[str] = set()
        for name, field in self.fields.items():
            try:
                values[name] = field.value()
                readable.add(name)
            except ValueError:
                pass
        # Unvalidated on purpose: Auto-adjust may be how the user fixes a conflict (warmup > steps).
        return TrainingParameters.model_construct(**values), frozenset(self._edited & readable)

    def _apply_proposal(self, params: TrainingParameters, still_locked: frozenset[str]) -> None:
        self._load(params)
        self._edited = set(still_locked)
        self.userEdited.emit()

    # --- loading and validation -----------------------------------------------------------------

    def _load(self, params: TrainingParameters) -> None:
        self._loading = True
        try:
            self._base = params
            for name, field in self.fields.items():
                field.set_value(getattr(params, name))
            self.samples.set_value(params.sample_settings)
        finally:
            self._loading = False
        self._revalidate()

    def _on_field_changed(self, name: str) -> None:
        if self._loading:
            return
        self._edited.add(name)
        self._revalidate()
        self.userEdited.emit()

    def _revalidate(self) -> None:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, field in self.fields.items():
            try:
                values[name] = field.value()
            except ValueError as exc:
                errors[name] = str(exc)
        general = ""
        try:
            values["sampling"] = self.samples.value()
        except ValueError as exc:
            general = str(exc)
        params: TrainingParameters | None = None
        try:
            params = TrainingParameters.model_validate({**self._base.model_dump(), **values})
        except ValidationError as exc:
            for owner, message in self._field_errors(exc):
                if owner is None:
                    general = general or message
                else:
                    errors.setdefault(owner, message)
        if errors or general:
            params = None
        warnings = parameter_warnings(params, self._image_count or None) if params is not None else {}
        for name, field in self.fields.items():
            field.set_error(errors.get(name))
            field.set_warning(warnings.get(name))
        self.general_error.setText(general)
        self.general_error.setStyleSheet(f"color: {error_colour(self.palette()).name()};")
        self.general_error.setVisible(bool(general))
        if any(spec.name in errors for spec in ADVANCED_FIELDS) and not self.advanced.isVisible():
            self.set_advanced_visible(True)  # show where the problem is
        self._update_advanced_title()
        messages = tuple(sorted({**{f"!{k}": v for k, v in warnings.items()}, **errors, "": general}.items()))
        changed = params != self._params or (params is None) != (self._params is None) or messages != self._messages
        self._params = params
        self._messages = messages
        self._update_derived()
        if changed:
            self.parametersChanged.emit(params)

    def _field_errors(self, exc: ValidationError) -> list[tuple[str | None, str]]:
        found: list[tuple[str | None, str]] = []
        for error in exc.errors():
            message = str(error.get("msg", ""))
            message = message.removeprefix("Value error, ").replace("Input should be", tr("Must be"))
            loc = error.get("loc") or ()
            name = str(loc[0]) if loc and str(loc[0]) in self.fields else None
            if name is None:  # a model-level rule: the field it names first owns the message
                mentioned = [(message.find(n), n) for n in self.fields if n in message]
                name = min(mentioned)[1] if mentioned else None
            for other in sorted(self.fields, key=len, reverse=True):  # code names → the labels shown
                message = message.replace(other, tr(FIELD_LABELS[other]).lower())
            found.append((name, message[:1].upper() + message[1:]))
        return found

    def _update_advanced_title(self) -> None:
        problems = sum(1 for spec in ADVANCED_FIELDS if self.fields[spec.name].error)
        title = tr("Advanced")
        if problems:
            title += " — " + counted(problems, "{n} field needs attention", "{n} fields need attention")
        self.advanced_toggle.setText(title)

    def _update_derived(self) -> None:
        params, n = self._params, self._image_count
        if params is None:
            self.derived_label.setText(tr("Fix the highlighted field to see the epochs."))
            return
        if n <= 0:
            self.derived_label.setText(tr("No training images yet: epochs follow once the actor has images."))
            return
        epochs = derived_epochs(n, params)
        per_epoch = steps_per_epoch(n, params.num_repeats, params.batch_size)
        self.derived_label.setText(
            tr("≈ {epochs} epochs · {spi} steps per image · {n} images × {r} repeats ÷ batch {b}").format(
                epochs=epochs,
                spi=format_number(round(steps_per_image(n, params), 1)),
                n=n,
                r=params.num_repeats,
                b=params.batch_size,
            )
        )
        self.derived_label.setToolTip(
            tr("One epoch = {per} steps (every image seen {r}× at batch {b}); {steps} steps ≈ {epochs} epochs.").format(
                per=per_epoch, r=params.num_repeats, b=params.batch_size, steps=params.max_train_steps, epochs=epochs
            )
        )
