"""The samples a run draws while it trains (worker contract v2): prompts, how often, one seed,
size, steps and guidance for every prompt (FluxTrainer's validation settings hold one of each), and
whether each checkpoint's LoRA is kept. Part of the parameters form's Advanced section, so the
values travel with the parameters and are remembered per actor like them."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from actor_trainer.core.models import SampleSettings
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.training.training_tab_card import secondary

MAX_PROMPTS = 8


class SampleSettingsEditor(QWidget):
    """Edits one SampleSettings; `value()` raises ValueError (with a sentence) when invalid."""

    #: the user changed something
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sampleSettings")
        form = QFormLayout(self)
        form.setContentsMargins(18, 4, 0, 0)
        self.every = QSpinBox(self)
        self.every.setObjectName("sampleEvery")
        self.every.setRange(0, 100_000)
        self.every.setSingleStep(250)
        self.every.setSpecialValueText(tr("off"))
        self.every.setSuffix(tr(" steps"))
        self.every.setToolTip(tr("Draw the prompts with the LoRA every this many steps (0: no samples)"))
        self.seed = QSpinBox(self)
        self.seed.setObjectName("sampleSeed")
        self.seed.setRange(0, 2_147_483_647)
        self.width_ = self._size_box("sampleWidth")
        self.height_ = self._size_box("sampleHeight")
        self.steps = QSpinBox(self)
        self.steps.setObjectName("sampleSteps")
        self.steps.setRange(1, 256)
        self.guidance = QDoubleSpinBox(self)
        self.guidance.setObjectName("sampleGuidance")
        self.guidance.setRange(1.0, 32.0)
        self.guidance.setSingleStep(0.5)
        self.keep = QCheckBox(tr("Keep each checkpoint's LoRA (so a checkpoint can be marked good)"), self)
        self.keep.setObjectName("sampleKeepCheckpoints")
        self.prompts = QPlainTextEdit(self)
        self.prompts.setObjectName("samplePrompts")
        self.prompts.setTabChangesFocus(True)
        self.prompts.setFixedHeight(5 * self.prompts.fontMetrics().lineSpacing() + 12)
        self.prompts.setToolTip(
            tr("One prompt per line (at most {n}); {{trigger}} becomes the trigger word").format(n=MAX_PROMPTS)
        )
        self.reset = QPushButton(tr("Default samples"), self)
        self.reset.setObjectName("sampleDefaults")
        self.reset.clicked.connect(self._reset_to_defaults)
        self.note = secondary(tr("Only endpoints that speak worker contract v2 draw samples (the sandbox does)."), self)
        size = QHBoxLayout()
        size.addWidget(self.width_)
        size.addWidget(QLabel("×", self))
        size.addWidget(self.height_)
        size.addStretch(1)
        form.addRow(tr("Samples every"), self.every)
        form.addRow(tr("Prompts"), self.prompts)
        form.addRow(tr("Seed"), self.seed)
        form.addRow(tr("Size"), size)
        form.addRow(tr("Sampling steps"), self.steps)
        form.addRow(tr("Guidance"), self.guidance)
        form.addRow("", self.keep)
        form.addRow("", self.reset)
        form.addRow("", self.note)
        for box in (self.every, self.seed, self.width_, self.height_, self.steps):
            box.valueChanged.connect(lambda _v: self.changed.emit())
        self.guidance.valueChanged.connect(lambda _v: self.changed.emit())
        self.keep.toggled.connect(lambda _on: self.changed.emit())
        self.prompts.textChanged.connect(self.changed.emit)
        self.set_value(SampleSettings())

    def _reset_to_defaults(self) -> None:
        self.set_value(SampleSettings())
        self.changed.emit()

    def _size_box(self, name: str) -> QSpinBox:
        box = QSpinBox(self)
        box.setObjectName(name)
        box.setRange(64, 4096)
        box.setSingleStep(64)
        box.setSuffix(" px")
        return box

    def set_value(self, settings: SampleSettings) -> None:
        widgets = (self.every, self.seed, self.width_, self.height_, self.steps, self.guidance, self.keep, self.prompts)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.every.setValue(settings.every)
            self.seed.setValue(min(settings.seed, self.seed.maximum()))
            self.width_.setValue(settings.width)
            self.height_.setValue(settings.height)
            self.steps.setValue(settings.steps)
            self.guidance.setValue(settings.guidance)
            self.keep.setChecked(settings.keep_checkpoints)
            self.prompts.setPlainText("\n".join(settings.prompts))
        finally:
            for widget in widgets:
                widget.blockSignals(False)

    def value(self) -> SampleSettings | None:
        """The settings shown; None when they are the defaults (the parameters then carry none)."""
        prompts = [line.strip() for line in self.prompts.toPlainText().splitlines() if line.strip()]
        if self.every.value() > 0 and not prompts:
            raise ValueError(tr("Samples: write at least one prompt, or set “Samples every” to off."))
        if len(prompts) > MAX_PROMPTS:
            raise ValueError(tr("Samples: at most {n} prompts (one per line).").format(n=MAX_PROMPTS))
        bad = [p for p in prompts if "|" in p or " --" in p]
        if bad:
            raise ValueError(tr("Samples: a prompt may not contain “|” or “ --” (the trainer splits on them)."))
        settings = SampleSettings(
            prompts=prompts or SampleSettings().prompts,
            every=self.every.value(),
            seed=self.seed.value(),
            width=self.width_.value(),
            height=self.height_.value(),
            steps=self.steps.value(),
            guidance=self.guidance.value(),
            keep_checkpoints=self.keep.isChecked(),
        )
        return None if settings == SampleSettings() else settings
