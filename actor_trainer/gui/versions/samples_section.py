"""The version's samples in its details (issue 12): a gallery by checkpoint × prompt, its tries.

Rows are the checkpoints (steps) the worker sampled, columns the prompts; a click enlarges an image
(←/→ move through the whole gallery). A kept checkpoint has "Mark good" on its row (the registry
then records that file). Below, the version's tries (Try this version) with their images, and
buttons for Try… and Compare…. On an endpoint that speaks only worker contract v1 the section says
so and offers neither samples nor Try.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from actor_trainer.core.contact_sheet import sample_steps
from actor_trainer.core.models import Sample, TrainingVersion, VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.sample_images import SampleTile, ShownImage, open_viewer, sample_caption

TILE = 112


class SamplesSection(QWidget):
    """Samples, checkpoints and tries of one version. `set_version(actor_id, version)` fills it."""

    compareRequested = Signal(int, str)  # actor id, version key
    tryRequested = Signal(int, str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("samplesSection")
        self._ctx = ctx
        self._actor_id: int | None = None
        self._version: TrainingVersion | None = None
        self._shown_key: tuple[object, ...] | None = None
        self.tiles: list[SampleTile] = []
        self.trial_tiles: list[SampleTile] = []
        self.mark_buttons: dict[int, QPushButton] = {}

        title = QLabel(tr("Samples"), self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.try_button = QPushButton(tr("Try this version…"), self)
        self.try_button.setObjectName("tryVersionButton")
        self.try_button.setToolTip(tr("Generate images with this version's LoRA: your prompt, a seed, a strength"))
        self.compare_button = QPushButton(tr("Compare…"), self)
        self.compare_button.setObjectName("compareVersionsButton")
        self.compare_button.setToolTip(tr("See 2–4 versions of this actor side by side, same prompt and seed"))
        for button in (self.try_button, self.compare_button):
            button.setAutoDefault(False)
        self.try_button.clicked.connect(self._request_try)
        self.compare_button.clicked.connect(self._request_compare)
        head = QHBoxLayout()
        head.addWidget(title, 1)
        head.addWidget(self.try_button)
        head.addWidget(self.compare_button)

        self.note = QLabel(self)
        self.note.setObjectName("samplesNote")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)
        self.grid_host = QWidget(self)
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.trials_title = QLabel(tr("Tries"), self)
        self.trials_title.setFont(font)
        self.trials_host = QWidget(self)
        self.trials_layout = QVBoxLayout(self.trials_host)
        self.trials_layout.setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.note)
        layout.addWidget(self.grid_host)
        layout.addWidget(self.trials_title)
        layout.addWidget(self.trials_host)
        ctx.versions.versionChanged.connect(self._on_version_changed)
        self.set_version(None, None)

    # --- showing ---------------------------------------------------------------------------------

    def version(self) -> TrainingVersion | None:
        return self._version

    def set_version(self, actor_id: int | None, version: TrainingVersion | None) -> None:
        self._actor_id, self._version = actor_id, version
        self.setVisible(version is not None)
        if version is None:
            self._clear()
            self._shown_key = None
            return
        key = (
            version.key,
            tuple((s.step, s.index, s.url) for s in version.samples or []),
            tuple((c.step, c.url) for c in version.checkpoints or []),
            version.isGood,
            version.goodCheckpointStep,
            tuple((t.id, t.status, len(t.images or [])) for t in version.trials or []),
            version.status,
        )
        if key == self._shown_key:
            return
        self._shown_key = key
        self._rebuild(version)

    def _on_version_changed(self, actor_id: int, version: TrainingVersion) -> None:
        shown = self._version
        if shown is not None and actor_id == self._actor_id and version.key == shown.key:
            self.set_version(actor_id, version)

    def _clear(self) -> None:
        for layout in (self.grid, self.trials_layout):
            while layout.count():
                item = layout.takeAt(0)
                widget = item.widget() if item is not None else None
                if widget is not None:
                    widget.deleteLater()
        self.tiles, self.trial_tiles, self.mark_buttons = [], [], {}

    def _rebuild(self, version: TrainingVersion) -> None:
        self._clear()
        v2 = self._ctx.speaks_v2()
        completed = version.status is VersionStatus.COMPLETED and bool(version.loraUrl)
        self.try_button.setVisible(v2)
        self.try_button.setEnabled(completed)
        self.try_button.setToolTip(
            tr("Generate images with this version's LoRA") if completed else tr("Only a completed version can be tried")
        )
        steps = sample_steps(version)
        if not steps:
            if not v2:
                self.note.setText(
                    tr(
                        "This endpoint speaks worker contract v1: it makes no samples and cannot "
                        "run a Try. Update the worker (docs/worker-contract.md) to see them."
                    )
                )
            elif version.status.is_terminal:
                self.note.setText(
                    tr("This version has no samples (sampling was off, or its worker spoke contract v1).")
                )
            else:
                self.note.setText(tr("Samples appear here as each checkpoint lands."))
            self.note.show()
        else:
            self.note.hide()
        prompts: list[str] = []
        for s in version.samples or []:
            if s.prompt not in prompts:
                prompts.append(s.prompt)
        for c, prompt in enumerate(prompts):
            header = QLabel(prompt, self.grid_host)
            header.setWordWrap(True)
            header.setFixedWidth(TILE)
            header.setEnabled(False)
            header.setToolTip(prompt)
            self.grid.addWidget(header, 0, c + 1)
        kept = {c.step: c for c in version.checkpoints or []}
        gallery: list[ShownImage] = []
        by_cell = {(s.step, s.prompt): s for s in version.samples or []}
        for r, step in enumerate(steps):
            label = QLabel(tr("step {step}").format(step=step), self.grid_host)
            side = QVBoxLayout()
            holder = QWidget(self.grid_host)
            holder.setLayout(side)
            side.setContentsMargins(0, 0, 4, 0)
            side.addWidget(label)
            if step in kept:
                good = version.isGood and version.goodCheckpointStep == step
                button = QPushButton(tr("✓ Good") if good else tr("Mark good"), holder)
                button.setObjectName(f"markCheckpointGood{step}")
                button.setEnabled(completed and not good)
                button.setToolTip(tr("Make this checkpoint's LoRA the actor's validated model"))
                button.clicked.connect(lambda _=False, s=step: self.mark_checkpoint(s))
                side.addWidget(button)
                self.mark_buttons[step] = button
            side.addStretch(1)
            holder.setFixedWidth(104)
            self.grid.addWidget(holder, r + 1, 0)
            for c, prompt in enumerate(prompts):
                sample = by_cell.get((step, prompt))
                if sample is None:
                    continue
                self._add_tile(self.grid, r + 1, c + 1, sample, gallery, version.name)
        for column in range(self.grid.columnCount()):
            self.grid.setColumnStretch(column, 0)
        self.grid.setColumnStretch(len(prompts) + 1, 1)  # the images stay left, next to their step
        self._build_trials(version)

    def _add_tile(
        self, grid: QGridLayout, row: int, col: int, sample: Sample, gallery: list[ShownImage], version_name: str
    ) -> SampleTile:
        shown = ShownImage(sample, sample_caption(sample, version_name))
        gallery.append(shown)
        index = len(gallery) - 1
        tile = SampleTile(self._ctx, sample, TILE, shown.caption, self.grid_host)
        tile.clicked.connect(lambda: self.open_viewer(gallery, index))
        grid.addWidget(tile, row, col)
        self.tiles.append(tile)
        return tile

    def _build_trials(self, version: TrainingVersion) -> None:
        trials = list(reversed(version.trials or []))  # newest first
        self.trials_title.setVisible(bool(trials))
        for trial in trials:
            box = QWidget(self.trials_host)
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 4)
            head = QHBoxLayout()
            where = f" @ step {trial.checkpoint_step}" if trial.checkpoint_step is not None else ""
            text = QLabel(
                f"{trial.status.label} · seed {trial.seed} · ×{trial.count} · "
                f"strength {trial.strength:g}{where} — {trial.prompt}",
                box,
            )
            text.setWordWrap(True)
            text.setObjectName("trialText")
            head.addWidget(text, 1)
            if not trial.status.is_terminal and self._actor_id is not None:
                cancel = QPushButton(tr("Cancel"), box)
                cancel.setObjectName("cancelTrial")
                cancel.clicked.connect(
                    lambda _=False, a=self._actor_id, k=version.key, t=trial.id: self._ctx.cancel_trial(
                        a, k, t, owner=self
                    )
                )
                head.addWidget(cancel)
            column.addLayout(head)
            if trial.error is not None:
                error = QLabel(trial.error.message, box)
                error.setWordWrap(True)
                column.addWidget(error)
            if trial.images:
                row = QHBoxLayout()
                gallery = [ShownImage(i, sample_caption(i, version.name)) for i in trial.images]
                for index, image in enumerate(trial.images):
                    tile = SampleTile(self._ctx, image, TILE, gallery[index].caption, box)
                    tile.clicked.connect(lambda g=gallery, i=index: self.open_viewer(g, i))
                    row.addWidget(tile)
                    self.trial_tiles.append(tile)
                row.addStretch(1)
                column.addLayout(row)
            self.trials_layout.addWidget(box)

    # --- acting ----------------------------------------------------------------------------------

    def open_viewer(self, images: list[ShownImage], index: int) -> None:
        self.viewer = open_viewer(self._ctx, images, index, self)

    def mark_checkpoint(self, step: int) -> None:
        if self._actor_id is None or self._version is None:
            return
        self._ctx.mark_good_checkpoint(self._actor_id, self._version.key, step, owner=self)

    def _request_try(self) -> None:
        if self._actor_id is not None and self._version is not None:
            self.tryRequested.emit(self._actor_id, self._version.key)

    def _request_compare(self) -> None:
        if self._actor_id is not None and self._version is not None:
            self.compareRequested.emit(self._actor_id, self._version.key)
