"""The selector's filter row: sex and ethnicity (choices from the data), age range, three checks."""

from __future__ import annotations

from contextlib import ExitStack

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from actor_trainer.gui.i18n import tr
from actor_trainer.gui.selector.actor_filter_proxy import ActorFilter
from actor_trainer.gui.selector.actor_list_model import ActorListModel

MAX_AGE = 150


class ActorFilterBar(QWidget):
    """Filter widgets; `changed` fires when the user changes any of them, `clearRequested` on
    "Clear filters". `filter_with(search)` reads them into an `ActorFilter`."""

    changed = Signal()
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sex = self._choice_combo("sexFilter", tr("Sex"))
        self.ethnicity = self._choice_combo("ethnicityFilter", tr("Ethnicity"))
        self.age_min = self._age_spin("ageMin", tr("Minimum age"))
        self.age_max = self._age_spin("ageMax", tr("Maximum age"))
        self.has_training_data = self._check("hasTrainingDataFilter", tr("Has training data"))
        self.synced = self._check("syncedFilter", tr("Synced"))
        self.validated = self._check("validatedFilter", tr("Validated model"))
        clear = QPushButton(tr("Clear filters"), self)
        clear.setObjectName("clearFilters")
        clear.setAutoDefault(False)
        clear.clicked.connect(self.clearRequested)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.sex)
        layout.addWidget(self.ethnicity)
        age_label = QLabel(tr("Age"), self)
        age_label.setBuddy(self.age_min)
        layout.addWidget(age_label)
        layout.addWidget(self.age_min)
        layout.addWidget(QLabel("–", self))
        layout.addWidget(self.age_max)
        layout.addSpacing(8)
        layout.addWidget(self.has_training_data)
        layout.addWidget(self.synced)
        layout.addWidget(self.validated)
        layout.addStretch(1)
        layout.addWidget(clear)

        for combo in (self.sex, self.ethnicity):
            combo.currentIndexChanged.connect(self.changed)
        for spin in (self.age_min, self.age_max):
            spin.valueChanged.connect(self.changed)
        for box in (self.has_training_data, self.synced, self.validated):
            box.toggled.connect(self.changed)

    def _choice_combo(self, name: str, accessible: str) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(name)
        combo.setAccessibleName(accessible)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        return combo

    def _age_spin(self, name: str, accessible: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setObjectName(name)
        spin.setRange(0, MAX_AGE)
        # 0 reads "any": no bound on that side.
        spin.setSpecialValueText(tr("any"))
        spin.setAccessibleName(accessible)
        spin.setToolTip(accessible)
        return spin

    def _check(self, name: str, text: str) -> QCheckBox:
        box = QCheckBox(text, self)
        box.setObjectName(name)
        return box

    def filter_with(self, search: str) -> ActorFilter:
        """The filter these widgets describe, with `search` as its search text."""
        return ActorFilter(
            search=search,
            sex=self.sex.currentData(),
            ethnicity=self.ethnicity.currentData(),
            age_min=self.age_min.value() or None,
            age_max=self.age_max.value() or None,
            has_training_data=self.has_training_data.isChecked(),
            synced=self.synced.isChecked(),
            validated=self.validated.isChecked(),
        )

    def reset(self) -> None:
        """Every filter back to "any", without emitting `changed`."""
        widgets = (
            self.sex,
            self.ethnicity,
            self.age_min,
            self.age_max,
            self.has_training_data,
            self.synced,
            self.validated,
        )
        with ExitStack() as stack:
            for widget in widgets:
                stack.enter_context(QSignalBlocker(widget))
            self.sex.setCurrentIndex(0)
            self.ethnicity.setCurrentIndex(0)
            self.age_min.setValue(0)
            self.age_max.setValue(0)
            for box in (self.has_training_data, self.synced, self.validated):
                box.setChecked(False)

    def refresh_choices(self, model: ActorListModel) -> None:
        """Rebuild the sex and ethnicity choices from the data, keeping each choice that still exists."""
        for combo, field, any_label in (
            (self.sex, "sex", tr("Any sex")),
            (self.ethnicity, "ethnicity", tr("Any ethnicity")),
        ):
            current = combo.currentData()
            with QSignalBlocker(combo):
                combo.clear()
                combo.addItem(any_label, None)
                for key, label in model.distinct_values(field):
                    combo.addItem(label, key)
                found = combo.findData(current) if current is not None else 0
                combo.setCurrentIndex(max(found, 0))
