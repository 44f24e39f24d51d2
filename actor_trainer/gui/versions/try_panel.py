"""Try this version (issue 12): a prompt with the trigger word inserted, a seed with a dice button,
a count, a strength, and which LoRA (the final one or a kept checkpoint). The results are kept with
the version as its tries (the details show them, Compare lines them up like samples).
"""

from __future__ import annotations

import secrets

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.models import TrainingVersion, Trial, VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.sample_images import SampleTile, ShownImage, open_viewer, sample_caption

MAX_SEED = 2**31 - 1  # what a QSpinBox holds


class TryPanel(QDialog):
    """The Try form for one version; sending goes through `AppContext.try_version`."""

    sent = Signal(object)  # the Trial as first recorded

    def __init__(
        self, ctx: AppContext, actor_id: int, version: TrainingVersion, trigger: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("tryPanel")
        self.setWindowTitle(tr("Try {name}").format(name=version.name))
        self._ctx = ctx
        self._actor_id = actor_id
        self._version = version
        self._trigger = trigger
        self._trial_id: str | None = None
        self.tiles: list[SampleTile] = []

        self.prompt = QLineEdit(f"a photo of {trigger}, ", self)
        self.prompt.setObjectName("tryPrompt")
        self.insert_trigger = QToolButton(self)
        self.insert_trigger.setText(tr("+ trigger"))
        self.insert_trigger.setToolTip(tr("Insert the trigger word {t} at the cursor").format(t=trigger))
        self.insert_trigger.clicked.connect(lambda: self.prompt.insert(trigger))
        prompt_row = QHBoxLayout()
        prompt_row.addWidget(self.prompt, 1)
        prompt_row.addWidget(self.insert_trigger)
        self.negative = QLineEdit(self)
        self.negative.setObjectName("tryNegative")
        self.seed = QSpinBox(self)
        self.seed.setObjectName("trySeed")
        self.seed.setRange(0, MAX_SEED)
        samples = version.samples or []
        self.seed.setValue(samples[0].seed if samples else version.parameters.sample_settings.seed)
        self.dice = QToolButton(self)
        self.dice.setObjectName("tryDice")
        self.dice.setText(tr("Random"))  # a dice glyph needs an emoji font, which many desktops lack
        self.dice.setToolTip(tr("A random seed"))
        self.dice.clicked.connect(self.roll)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        self.count = QSpinBox(self)
        self.count.setObjectName("tryCount")
        self.count.setRange(1, 8)
        self.count.setValue(2)
        self.strength = QDoubleSpinBox(self)
        self.strength.setObjectName("tryStrength")
        self.strength.setRange(-4.0, 4.0)
        self.strength.setSingleStep(0.1)
        self.strength.setValue(1.0)
        self.lora = QComboBox(self)
        self.lora.setObjectName("tryLora")
        self.lora.addItem(tr("Final LoRA"), None)
        for checkpoint in version.checkpoints or []:
            self.lora.addItem(tr("Checkpoint at step {step}").format(step=checkpoint.step), checkpoint.step)
        form = QFormLayout()
        form.addRow(tr("Prompt"), prompt_row)
        form.addRow(tr("Negative prompt"), self.negative)
        form.addRow(tr("Seed"), seed_row)
        form.addRow(tr("Images"), self.count)
        form.addRow(tr("LoRA strength"), self.strength)
        form.addRow(tr("LoRA"), self.lora)

        self.status = QLabel(self)
        self.status.setObjectName("tryStatus")
        self.status.setWordWrap(True)
        self.results = QHBoxLayout()
        self.try_button = QPushButton(tr("Try"), self)
        self.try_button.setObjectName("trySend")
        self.try_button.setDefault(True)
        self.try_button.clicked.connect(self.send)
        close = QPushButton(tr("Close"), self)
        close.setAutoDefault(False)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.try_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addLayout(self.results)
        layout.addLayout(buttons)
        ctx.versions.versionChanged.connect(self._on_version_changed)
        if not ctx.speaks_v2():
            self.try_button.setEnabled(False)
            self.status.setText(tr("This endpoint speaks worker contract v1: it cannot run a Try."))
        elif version.status is not VersionStatus.COMPLETED:
            self.try_button.setEnabled(False)
            self.status.setText(tr("Only a completed version can be tried."))

    def roll(self) -> None:
        self.seed.setValue(secrets.randbelow(MAX_SEED + 1))

    def send(self) -> bool:
        prompt = self.prompt.text().strip()
        if not prompt:
            self.status.setText(tr("Describe the picture to make."))
            return False
        sent = self._ctx.try_version(
            self._actor_id,
            self._version.key,
            prompt=prompt,
            negative=self.negative.text().strip(),
            seed=self.seed.value(),
            count=self.count.value(),
            strength=self.strength.value(),
            checkpoint_step=self.lora.currentData(),
            on_done=self._on_sent,
            on_error=lambda _exc: self._reset_button(),
            owner=self,
        )
        if sent:
            self.try_button.setEnabled(False)
            self.status.setText(tr("Sending…"))
        return sent

    def _reset_button(self) -> None:
        self.try_button.setEnabled(True)
        self.status.setText("")

    def _on_sent(self, trial: Trial) -> None:
        self._trial_id = trial.id
        self.try_button.setEnabled(True)
        self._show_trial(trial)
        self.sent.emit(trial)

    def trial(self) -> Trial | None:
        for trial in self._version.trials or []:
            if self._trial_id in (trial.id, trial.requestId):
                return trial
        return None

    def _on_version_changed(self, actor_id: int, version: TrainingVersion) -> None:
        if actor_id != self._actor_id or version.key != self._version.key:
            return
        self._version = version
        trial = self.trial()
        if trial is not None:
            self._show_trial(trial)

    def _show_trial(self, trial: Trial) -> None:
        self.status.setText(
            tr("{state} · seed {seed}").format(state=trial.status.label, seed=trial.seed)
            + (f" — {trial.error.message}" if trial.error else "")
        )
        if trial.images and len(self.tiles) != len(trial.images):
            while self.results.count():
                item = self.results.takeAt(0)
                widget = item.widget() if item is not None else None
                if widget is not None:
                    widget.deleteLater()
            gallery = [ShownImage(i, sample_caption(i, self._version.name)) for i in trial.images]
            self.tiles = []
            for index, image in enumerate(trial.images):
                tile = SampleTile(self._ctx, image, 160, gallery[index].caption, self)
                tile.clicked.connect(lambda g=gallery, i=index: open_viewer(self._ctx, g, i, self))
                self.results.addWidget(tile, 0, Qt.AlignmentFlag.AlignLeft)
                self.tiles.append(tile)
