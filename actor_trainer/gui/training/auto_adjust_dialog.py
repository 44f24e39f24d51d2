"""What Auto-adjust would change and why, with Apply / Cancel. Nothing changes before Apply.

Values the user typed are kept (listed under "Kept — you set these", each with a box to take the
recommendation instead); the proposal is recomputed when a box is ticked.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.auto_adjust import Proposal, auto_adjust
from actor_trainer.core.models import TrainingParameters, VersionStatus
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.training.parameters_form_fields import FIELD_LABELS, format_number
from actor_trainer.gui.training.training_tab_card import counted, heading, secondary
from actor_trainer.gui.widgets.status_style import status_colour


def show_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        return format_number(value)
    return str(value)


class AutoAdjustDialog(QDialog):
    """Lists each Change (field, old → new, reason), the values kept, and the warnings."""

    #: Apply pressed: the proposed parameters, and the fields that stay locked (kept values)
    applied = Signal(object, object)

    def __init__(
        self, image_count: int, current: TrainingParameters, locked: frozenset[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Auto-adjust"))
        self.setObjectName("autoAdjustDialog")
        self._count = image_count
        self._current = current
        self._locked = locked
        self._free: set[str] = set()  # locked fields the user asked to change anyway
        self.kept_boxes: dict[str, QCheckBox] = {}
        self.proposal: Proposal | None = None
        self.error: str | None = None
        # Which locked values differ from the recommendation (what would change if nothing were kept).
        try:
            unlocked = auto_adjust(image_count, current)
            self._recommended = {c.field: c.new for c in unlocked.changes if c.field in locked}
        except ValueError:
            self._recommended = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(10)
        self.title = heading("", self, scale=1.25)
        layout.addWidget(self.title)
        self.subtitle = secondary("", self)
        layout.addWidget(self.subtitle)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        layout.addWidget(self.scroll_area, 1)
        self.buttons = QDialogButtonBox(self)
        self.apply_button: QPushButton = self.buttons.addButton(tr("Apply"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button.setDefault(True)
        self.buttons.accepted.connect(self._apply)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._rebuild()
        content = self.scroll_area.widget()
        height = content.sizeHint().height() if content is not None else 300
        self.resize(700, max(320, min(640, height + 170)))

    # --- content --------------------------------------------------------------------------------

    def _rebuild(self) -> None:
        locked = frozenset(self._locked - self._free)
        try:
            self.proposal = auto_adjust(self._count, self._current, locked=locked)
            self.error = None
        except ValueError as exc:  # the kept values contradict each other (e.g. warmup > steps)
            self.proposal, self.error = None, str(exc)
        n = self._count
        self.title.setText(counted(n, "Auto-adjust for {n} training image", "Auto-adjust for {n} training images"))
        if self.proposal is not None and self.proposal.tier:
            self.subtitle.setText(
                tr("Starting points for {tier}. Nothing changes until you press Apply.").format(tier=self.proposal.tier)
            )
        else:
            self.subtitle.setText(tr("Nothing changes until you press Apply."))
        old = self.scroll_area.takeWidget()
        if old is not None:
            old.deleteLater()  # may hold the checkbox whose signal is running now
        self.scroll_area.setWidget(self._content())
        changes = self.proposal.changes if self.proposal is not None else ()
        self.apply_button.setEnabled(self.proposal is not None and bool(changes))

    def _content(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 0, 6, 0)
        box.setSpacing(8)
        proposal = self.proposal
        if proposal is None:
            box.addWidget(self._warning(tr("Auto-adjust cannot work from these values: {e}").format(e=self.error)))
        elif proposal.changes:
            box.addWidget(heading(tr("Changes"), page, scale=1.0))
            grid = QGridLayout()
            grid.setHorizontalSpacing(14)
            grid.setVerticalSpacing(10)
            grid.setColumnStretch(2, 1)
            row = 0
            for change in proposal.changes:
                name = QLabel(f"<b>{tr(FIELD_LABELS.get(change.field, change.field))}</b>", page)
                name.setToolTip(change.field)
                values = QLabel(f"{show_value(change.old)}  →  <b>{show_value(change.new)}</b>", page)
                values.setObjectName(f"change_{change.field}")
                reason = secondary(change.reason, page)
                reason.setObjectName(f"reason_{change.field}")
                grid.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
                grid.addWidget(values, row, 1, Qt.AlignmentFlag.AlignTop)
                grid.addWidget(reason, row, 2, Qt.AlignmentFlag.AlignTop)
                row += 1
            box.addLayout(grid)
        else:
            box.addWidget(QLabel(tr("Nothing to change: these parameters already match the recommendation."), page))
        if self._recommended:
            box.addSpacing(6)
            box.addWidget(heading(tr("Kept — you set these"), page, scale=1.0))
            self.kept_boxes = {}
            for field, recommended in self._recommended.items():
                label = tr(FIELD_LABELS.get(field, field))
                yours = show_value(getattr(self._current, field))
                check = QCheckBox(
                    tr("{label}: keep your {yours} — tick to use the recommended {rec} instead").format(
                        label=label, yours=yours, rec=show_value(recommended)
                    ),
                    page,
                )
                check.setObjectName(f"kept_{field}")
                check.setChecked(field in self._free)
                check.toggled.connect(lambda on, f=field: self._set_free(f, on))
                self.kept_boxes[field] = check
                box.addWidget(check)
        warnings = [
            w
            for w in (proposal.warnings if proposal is not None else ())
            if not any(w.startswith(f"Kept your {f} ") for f in self._locked)
        ]
        if warnings:
            box.addSpacing(6)
            for text in warnings:
                box.addWidget(self._warning(text))
        if proposal is not None and proposal.image_count > 0:
            box.addSpacing(6)
            p = proposal.params
            box.addWidget(
                secondary(
                    tr(
                        "Result: {steps} steps ≈ {epochs} epochs · {spi} steps per image · rank {dim} / alpha "
                        "{alpha} · lr {lr}"
                    ).format(
                        steps=p.max_train_steps,
                        epochs=proposal.epochs,
                        spi=format_number(round(proposal.steps_per_image, 1)),
                        dim=p.network_dim,
                        alpha=format_number(p.network_alpha),
                        lr=format_number(p.learning_rate),
                    ),
                    page,
                )
            )
        box.addStretch(1)
        return page

    def _warning(self, text: str) -> QLabel:
        label = QLabel("⚠ " + text)
        label.setWordWrap(True)
        label.setObjectName("warning")
        label.setStyleSheet(f"color: {status_colour(VersionStatus.IN_PROGRESS, self.palette()).name()};")
        return label

    # --- actions --------------------------------------------------------------------------------

    def _set_free(self, field: str, free: bool) -> None:
        if free:
            self._free.add(field)
        else:
            self._free.discard(field)
        self._rebuild()

    def kept_fields(self) -> frozenset[str]:
        """The fields that stay the user's own after Apply."""
        return frozenset(self._locked - self._free)

    def changes_text(self) -> list[str]:
        """Each change as "field: old → new" (what the dialog lists)."""
        if self.proposal is None:
            return []
        return [f"{c.field}: {show_value(c.old)} → {show_value(c.new)}" for c in self.proposal.changes]

    def _apply(self) -> None:
        if self.proposal is None:
            return
        self.applied.emit(self.proposal.params, self.kept_fields())
        self.accept()
