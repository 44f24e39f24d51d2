"""The editors behind the ParametersForm: one `ParamField` per TrainingParameters field.

A field owns its label, its editor (a spin box, a combo box with the exact allowed spellings, or a
line edit that keeps the text the user typed) and the message shown under it when it is invalid.
The form reads values with `ParamField.value()` and validates the whole set with pydantic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import QComboBox, QFrame, QLabel, QLineEdit, QSizePolicy, QVBoxLayout, QWidget

from actor_trainer.core.models import GRADIENT_DTYPES, LR_SCHEDULERS, OPTIMIZER_TYPES, SAVE_DTYPES
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.widgets.status_style import is_dark


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the TrainingParameters field (kohya's name)
    label: str  # untranslated; passed through tr() when shown
    tooltip: str  # untranslated
    kind: str  # "int" | "float" | "choice" | "text"
    minimum: int = 0
    maximum: int = 0
    step: int = 1
    choices: tuple[str, ...] = ()


BASIC_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "network_dim",
        "Rank",
        "network_dim: the LoRA's rank. 8–32 holds a face; higher mostly adds file size.",
        "int",
        1,
        100_000,
    ),
    FieldSpec(
        "network_alpha",
        "Alpha",
        "network_alpha: scales each update by alpha/rank. A lower alpha wants a higher learning rate.",
        "float",
    ),
    FieldSpec(
        "learning_rate", "Learning rate", "learning_rate, e.g. 0.0004 or 2.5e-4. Sent exactly as typed.", "float"
    ),
    FieldSpec(
        "max_train_steps", "Steps", "max_train_steps: how many optimizer steps the run trains.", "int", 1, 100_000, 100
    ),
    FieldSpec(
        "trigger",
        "Trigger word",
        "class_tokens: the word that calls up this actor in prompts. Empty means the actor's name.",
        "text",
    ),
)

ADVANCED_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "lr_scheduler",
        "LR scheduler",
        "lr_scheduler: how the rate changes over the run.",
        "choice",
        choices=LR_SCHEDULERS,
    ),
    FieldSpec(
        "lr_warmup_steps",
        "Warmup steps",
        "lr_warmup_steps: steps spent ramping the rate up. Must not exceed the steps.",
        "int",
        0,
        100_000,
        10,
    ),
    FieldSpec(
        "optimizer_type",
        "Optimizer",
        "optimizer_type, exactly as the trainer spells it.",
        "choice",
        choices=OPTIMIZER_TYPES,
    ),
    FieldSpec("batch_size", "Batch size", "batch_size: images per step.", "int", 1, 256),
    FieldSpec("num_repeats", "Repeats", "num_repeats: how often each image is shown per epoch.", "int", 1, 10_000),
    FieldSpec(
        "resolution",
        "Resolution",
        "Training resolution in pixels (width and height of the buckets' base).",
        "int",
        64,
        4096,
        64,
    ),
    FieldSpec(
        "gradient_dtype",
        "Gradient dtype",
        "gradient_dtype: training precision. bf16 is known to work with adamw8bit.",
        "choice",
        choices=GRADIENT_DTYPES,
    ),
    FieldSpec(
        "save_dtype", "Save dtype", "save_dtype: precision of the saved LoRA file.", "choice", choices=SAVE_DTYPES
    ),
)

ALL_FIELDS: tuple[FieldSpec, ...] = BASIC_FIELDS + ADVANCED_FIELDS
FIELD_LABELS: dict[str, str] = {spec.name: spec.label for spec in ALL_FIELDS}


def error_colour(palette: QPalette) -> QColor:
    """Red that reads as text and as an outline on the palette's base (light or dark)."""
    return QColor("#ef9a9a" if is_dark(palette) else "#c62828")


def format_number(value: float | int) -> str:
    """A float as a person would write it: 8.0 → "8", 0.0004 → "0.0004", 1e-05 → "1e-05"."""
    number = float(value)
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def parse_number(text: str) -> float:
    """The float in `text` (a decimal comma is accepted). Raises ValueError with a user message."""
    cleaned = text.strip().replace(",", ".")
    if not cleaned:
        raise ValueError(tr("Enter a number."))
    try:
        number = float(cleaned)
    except ValueError:
        raise ValueError(tr("Not a number (write e.g. 0.0004 or 2.5e-4).")) from None
    if not math.isfinite(number):
        raise ValueError(tr("Enter a finite number."))
    return number


def warning_colour(palette: QPalette) -> QColor:
    """Amber for a value that is allowed but unusual (readable on light and dark bases)."""
    return QColor("#ffcc80" if is_dark(palette) else "#a15c00")


def parse_int(text: str, minimum: int, maximum: int) -> int:
    """The whole number in `text`, within [minimum, maximum]. Raises ValueError with a user message
    that says what was typed: nothing is ever clamped or dropped silently (issue 10, item 4)."""
    cleaned = text.strip().replace("_", "").replace(" ", "")
    if not cleaned:
        raise ValueError(tr("Enter a whole number."))
    try:
        number = int(cleaned)
    except ValueError:
        raise ValueError(tr("Not a whole number (you typed “{text}”).").format(text=text.strip())) from None
    if number < minimum:
        raise ValueError(tr("Must be at least {min} (you typed {n}).").format(min=minimum, n=number))
    if number > maximum:
        raise ValueError(tr("Must be at most {max} (you typed {n}).").format(max=maximum, n=number))
    return number


class IntEdit(QLineEdit):
    """A line edit for a whole number that keeps exactly what was typed: "0", "-", letters and
    99999999 stay in the field and the field says what is wrong, where a QSpinBox would drop or
    clamp them without a word. Up/Down (and the wheel while focused) step by the field's step."""

    def __init__(self, minimum: int, maximum: int, step: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._min, self._max, self._step = minimum, maximum, step

    def minimum(self) -> int:
        return self._min

    def maximum(self) -> int:
        return self._max

    def lineEdit(self) -> QLineEdit:  # what spin-box-minded callers type into
        return self

    def value(self) -> int:
        """The number shown. Raises ValueError (with the user message) while it is not valid."""
        return parse_int(self.text(), self._min, self._max)

    def setValue(self, value: int) -> None:
        if self.text().strip() != str(int(value)):
            self.setText(str(int(value)))

    def stepBy(self, steps: int) -> None:
        try:
            current = int(self.text().strip())
        except ValueError:
            return
        self.setValue(max(self._min, min(self._max, current + steps * self._step)))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.stepBy(1 if event.key() == Qt.Key.Key_Up else -1)
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus() and event.angleDelta().y():
            self.stepBy(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)


class NumberEdit(QLineEdit):
    """A line edit for a float that never rewrites what the user typed (2.5e-4 stays 2.5e-4)."""

    def set_number(self, value: float) -> None:
        # Keep the user's spelling when it already means this value.
        try:
            if parse_number(self.text()) == float(value):
                return
        except ValueError:
            pass
        self.setText(format_number(value))


class ParamField(QObject):
    """One parameter: label, editor and the inline message. `changed` fires on any value change."""

    changed = Signal(str)  # field name

    def __init__(self, spec: FieldSpec, parent: QWidget) -> None:
        super().__init__(parent)
        self.spec = spec
        self.name = spec.name
        self.editor = self._make_editor(spec, parent)
        self.editor.setObjectName(f"param_{spec.name}")
        self.editor.setToolTip(tr(spec.tooltip))
        self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.label = QLabel(tr(spec.label), parent)
        self.label.setToolTip(tr(spec.tooltip))
        self.label.setBuddy(self.editor)
        # The label stays level with the editor even when a message appears under it.
        self.label.setFixedHeight(self.editor.sizeHint().height() + 4)  # + the outline frame
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.message = QLabel(parent)
        self.message.setObjectName(f"error_{spec.name}")
        self.message.setWordWrap(True)
        self.message.hide()
        font = self.message.font()
        font.setPointSizeF(font.pointSizeF() * 0.92)
        self.message.setFont(font)
        # The outline is drawn by a frame around the editor, so the editor keeps its native look
        # (a style sheet on a spin box itself would replace its arrows).
        self.outline = QFrame(parent)
        self.outline.setObjectName("outline")
        frame_box = QVBoxLayout(self.outline)
        frame_box.setContentsMargins(0, 0, 0, 0)  # the 2 px border itself makes the room
        frame_box.addWidget(self.editor)
        self.cell = QWidget(parent)
        box = QVBoxLayout(self.cell)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        box.addWidget(self.outline)
        box.addWidget(self.message)
        self._set_outline(None)
        self._error: str | None = None
        self._warning: str | None = None

    def _make_editor(self, spec: FieldSpec, parent: QWidget) -> QWidget:
        if spec.kind == "int":
            number = IntEdit(spec.minimum, spec.maximum, spec.step, parent)
            number.textChanged.connect(lambda _t: self.changed.emit(self.name))
            return number
        if spec.kind == "choice":
            combo = QComboBox(parent)
            combo.addItems(list(spec.choices))
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit(self.name))
            return combo
        edit: QLineEdit = NumberEdit(parent) if spec.kind == "float" else QLineEdit(parent)
        edit.textChanged.connect(lambda _t: self.changed.emit(self.name))
        return edit

    # --- values ---------------------------------------------------------------------------------

    def value(self) -> object:
        """The editor's value as TrainingParameters wants it. Raises ValueError for unreadable text."""
        editor = self.editor
        if isinstance(editor, IntEdit):
            return editor.value()
        if isinstance(editor, QComboBox):
            return editor.currentText()
        assert isinstance(editor, QLineEdit)
        if self.spec.kind == "float":
            return parse_number(editor.text())
        return editor.text().strip() or None

    def set_value(self, value: object) -> None:
        editor = self.editor
        if isinstance(editor, IntEdit):
            editor.setValue(int(value))  # type: ignore[call-overload]
        elif isinstance(editor, QComboBox):
            index = editor.findText(str(value), Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchCaseSensitive)
            if index < 0:  # a spelling from elsewhere: show it, and validation names the problem
                editor.addItem(str(value))
                index = editor.count() - 1
            editor.setCurrentIndex(index)
        elif isinstance(editor, NumberEdit):
            editor.set_number(float(value))  # type: ignore[arg-type]
        else:
            assert isinstance(editor, QLineEdit)
            editor.setText("" if value is None else str(value))

    # --- inline validation ----------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def warning(self) -> str | None:
        return self._warning

    def set_error(self, message: str | None) -> None:
        """Outline the editor and show `message` under it; None clears both."""
        if message == self._error:
            return
        self._error = message
        self._show()

    def set_warning(self, message: str | None) -> None:
        """An allowed but unusual value: an amber note under the editor (an error wins)."""
        if message == self._warning:
            return
        self._warning = message
        self._show()

    def _show(self) -> None:
        if self._error:
            colour = error_colour(self.editor.palette()).name()
            text = self._error
        elif self._warning:
            colour = warning_colour(self.editor.palette()).name()
            text = "⚠ " + self._warning
        else:
            self.message.clear()
            self.message.hide()
            self._set_outline(None)
            return
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {colour};")
        self.message.show()
        self._set_outline(colour)

    def _set_outline(self, colour: str | None) -> None:
        self.outline.setStyleSheet(
            f"QFrame#outline {{ border: 2px solid {colour or 'transparent'}; border-radius: 4px; }}"
        )
