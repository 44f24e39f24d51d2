"""Compare (issue 12): 2–4 versions (or checkpoints) of one actor side by side, same prompt and seed.

Rows are the chosen versions — each with its parameters, loss and seed beside its images, and Mark
as good (the final LoRA, or a kept checkpoint: the registry records that file). Columns are the
prompts their samples share (the same lining-up as `actor-trainer compare`, core/contact_sheet.py),
or, with "Tries", the prompt and seed of tries made on them. One prompt can be chosen to see it
larger. Images are loaded through the AppContext (disk cache, off the event loop).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.contact_sheet import compare_columns, final_loss, parameters_line, sample_steps, sheet_rows
from actor_trainer.core.models import Sample, TrainingVersion, VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.sample_images import SampleTile, ShownImage, open_viewer, sample_caption

MIN_CHOSEN, MAX_CHOSEN = 2, 4
Choice = tuple[str, int | None]  # (version key, checkpoint step or None: its last samples / final LoRA)


class CompareWindow(QDialog):
    def __init__(
        self, ctx: AppContext, actor_id: int, preselect: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("compareWindow")
        summary = ctx.summary(actor_id)
        self.setWindowTitle(tr("Compare versions — {name}").format(name=summary.actor.name if summary else actor_id))
        self.resize(1100, 700)
        self._ctx = ctx
        self._actor_id = actor_id
        self._preselect = preselect
        self._versions: dict[str, TrainingVersion] = {}
        self._chosen: list[Choice] = []
        self.tiles: list[SampleTile] = []
        self.mark_buttons: list[QPushButton] = []
        self.row_titles: list[str] = []
        self.columns: list[str] = []

        self.choices = QListWidget(self)
        self.choices.setObjectName("compareChoices")
        self.choices.itemChanged.connect(self._on_item_changed)
        self.note = QLabel(self)
        self.note.setObjectName("compareNote")
        self.note.setWordWrap(True)
        self.source = QComboBox(self)
        self.source.setObjectName("compareSource")
        self.source.addItem(tr("Samples"), "samples")
        self.source.addItem(tr("Tries"), "tries")
        self.source.currentIndexChanged.connect(lambda _i: self._rebuild())
        self.prompt = QComboBox(self)
        self.prompt.setObjectName("comparePrompt")
        self.prompt.currentIndexChanged.connect(lambda _i: self._rebuild_grid())
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel(tr("Choose 2–4 versions or checkpoints:"), left))
        left_layout.addWidget(self.choices, 1)
        left_layout.addWidget(QLabel(tr("Show"), left))
        left_layout.addWidget(self.source)
        left_layout.addWidget(QLabel(tr("Prompt"), left))
        left_layout.addWidget(self.prompt)
        left_layout.addWidget(self.note)

        self.grid_host = QWidget(self)
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 840])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)

        ctx.versions.versionChanged.connect(self._on_version_changed)
        ctx.load_versions_of(actor_id, on_done=self.set_versions, owner=self)

    # --- the choices -----------------------------------------------------------------------------

    def set_versions(self, versions: list[TrainingVersion]) -> None:
        self._versions = {v.key: v for v in versions}
        self.choices.blockSignals(True)
        self.choices.clear()
        ordered = sorted(versions, key=lambda v: -v.number)
        for version in ordered:
            steps = sample_steps(version)
            label = version.name + (tr("  ✓ good") if version.isGood and version.goodCheckpointStep is None else "")
            label += f"  ({version.status.label}" + (f", samples to step {steps[-1]})" if steps else ")")
            self._add_choice(label, (version.key, None), bool(steps) or bool(version.trials))
            for step in steps[:-1]:
                good = version.isGood and version.goodCheckpointStep == step
                self._add_choice(
                    f"    {version.name}@{step}" + (tr("  ✓ good") if good else ""), (version.key, step), True
                )
        self.choices.blockSignals(False)
        if not self._chosen:
            with_samples = [v for v in ordered if sample_steps(v) or v.trials]
            first = [v for v in with_samples if v.key == self._preselect]
            rest = [v for v in with_samples if v.key != self._preselect]
            for version in (first + rest)[:MIN_CHOSEN]:
                self.choose((version.key, None), True)
        self._rebuild()

    def _add_choice(self, label: str, choice: Choice, enabled: bool) -> None:
        item = QListWidgetItem(label, self.choices)
        item.setData(Qt.ItemDataRole.UserRole, choice)
        flags = Qt.ItemFlag.ItemIsUserCheckable | (Qt.ItemFlag.ItemIsEnabled if enabled else Qt.ItemFlag.NoItemFlags)
        item.setFlags(flags)
        item.setCheckState(Qt.CheckState.Checked if choice in self._chosen else Qt.CheckState.Unchecked)
        if not enabled:
            item.setToolTip(tr("No samples or tries to compare"))

    def choice_labels(self) -> list[str]:
        return [self.choices.item(i).text().strip() for i in range(self.choices.count())]

    def choose(self, choice: Choice, on: bool) -> bool:
        """Tick or untick a version/checkpoint; refused past MAX_CHOSEN."""
        for i in range(self.choices.count()):
            item = self.choices.item(i)
            if tuple(item.data(Qt.ItemDataRole.UserRole)) == choice:
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                return (choice in self._chosen) == on
        return False

    def choose_label(self, label: str, on: bool = True) -> bool:
        for i in range(self.choices.count()):
            item = self.choices.item(i)
            if item.text().strip().split("  ")[0] == label:
                return self.choose(tuple(item.data(Qt.ItemDataRole.UserRole)), on)
        return False

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        choice: Choice = tuple(item.data(Qt.ItemDataRole.UserRole))
        checked = item.checkState() == Qt.CheckState.Checked
        if checked and choice not in self._chosen:
            if len(self._chosen) >= MAX_CHOSEN:
                self.choices.blockSignals(True)
                item.setCheckState(Qt.CheckState.Unchecked)
                self.choices.blockSignals(False)
                self.note.setText(tr("At most {n} side by side: untick one first.").format(n=MAX_CHOSEN))
                return
            self._chosen.append(choice)
        elif not checked and choice in self._chosen:
            self._chosen.remove(choice)
        self._rebuild()

    def chosen(self) -> list[tuple[TrainingVersion, int | None]]:
        return [(self._versions[key], step) for key, step in self._chosen if key in self._versions]

    def _on_version_changed(self, actor_id: int, version: TrainingVersion) -> None:
        if actor_id == self._actor_id and version.key in self._versions:
            self._versions[version.key] = version
            self._rebuild()

    # --- the grid --------------------------------------------------------------------------------

    def _rebuild(self) -> None:
        chosen = self.chosen()
        if self.source.currentData() == "tries":
            columns = _trial_columns(chosen)
        else:
            columns = compare_columns(chosen)
        current = self.prompt.currentData()
        self.prompt.blockSignals(True)
        self.prompt.clear()
        self.prompt.addItem(tr("All prompts"), None)
        for column in columns:
            self.prompt.addItem(column if len(column) < 60 else column[:57] + "…", column)
        index = self.prompt.findData(current)
        self.prompt.setCurrentIndex(max(0, index))
        self.prompt.blockSignals(False)
        self._all_columns = columns
        self._rebuild_grid()

    def _rebuild_grid(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.tiles, self.mark_buttons, self.row_titles = [], [], []
        chosen = self.chosen()
        columns = list(getattr(self, "_all_columns", []))
        picked = self.prompt.currentData()
        if picked is not None:
            columns = [c for c in columns if c == picked]
        self.columns = columns
        if len(chosen) < MIN_CHOSEN:
            self.note.setText(tr("Tick at least two versions or checkpoints."))
        elif not columns:
            self.note.setText(tr("These have no samples in common to show (sampling off, or a v1 worker)."))
        else:
            self.note.setText(tr("Same prompt and seed in each column."))
        tile = 256 if len(columns) == 1 else 176
        for c, column in enumerate(columns):
            header = QLabel(column, self.grid_host)
            header.setWordWrap(True)
            header.setFixedWidth(tile)
            self.grid.addWidget(header, 0, c + 1)
        trials_mode = self.source.currentData() == "tries"
        rows = sheet_rows(chosen, columns) if not trials_mode else None
        gallery: list[ShownImage] = []
        for r, (version, step) in enumerate(chosen):
            if trials_mode:
                cells = [_trial_image(version, column) for column in columns]
                title = version.name
                lines = [parameters_line(version)]
                loss = final_loss(version)
                if loss is not None:
                    lines.append(f"loss {loss:.4f}")
            else:
                assert rows is not None
                cells, title, lines = rows[r].samples, rows[r].title, rows[r].lines
            self.row_titles.append(title)
            self.grid.addWidget(self._row_label(version, step, title, lines), r + 1, 0)
            for c, sample in enumerate(cells):
                if sample is None:
                    empty = QLabel("—", self.grid_host)
                    empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
                    empty.setFixedSize(tile, tile)
                    self.grid.addWidget(empty, r + 1, c + 1)
                    continue
                shown = ShownImage(sample, sample_caption(sample, title))
                gallery.append(shown)
                index = len(gallery) - 1
                widget = SampleTile(self._ctx, sample, tile, shown.caption, self.grid_host)
                widget.clicked.connect(lambda g=gallery, i=index: open_viewer(self._ctx, g, i, self))
                self.grid.addWidget(widget, r + 1, c + 1)
                self.tiles.append(widget)

    def _row_label(self, version: TrainingVersion, step: int | None, title: str, lines: list[str]) -> QWidget:
        box = QWidget(self.grid_host)
        box.setFixedWidth(230)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 6, 0)
        name = QLabel(title, box)
        font = name.font()
        font.setBold(True)
        name.setFont(font)
        column.addWidget(name)
        for line in lines:
            text = QLabel(line, box)
            text.setWordWrap(True)
            column.addWidget(text)
        kept = {c.step for c in version.checkpoints or []}
        checkpoint = step if step is not None and step in kept else None
        failed = (version.checkpointFailures or {}).get(step) if step is not None else None
        if step is not None and step not in kept:
            button = QPushButton(tr("Checkpoint upload failed") if failed else tr("Checkpoint not kept"), box)
            button.setEnabled(False)
            button.setToolTip(
                tr("The worker could not upload this checkpoint's LoRA: {reason}").format(reason=failed)
                if failed
                else tr("Only checkpoints whose LoRA was uploaded (keep checkpoints) can be marked good")
            )
        else:
            good = version.isGood and version.goodCheckpointStep == checkpoint
            button = QPushButton(tr("✓ Good") if good else tr("Mark as good"), box)
            button.setEnabled(not good and version.status is VersionStatus.COMPLETED and bool(version.loraUrl))
            button.clicked.connect(lambda _=False, v=version, s=checkpoint: self.mark_good(v, s))
        button.setObjectName("compareMarkGood")
        column.addWidget(button)
        column.addStretch(1)
        self.mark_buttons.append(button)
        return box

    def mark_good(self, version: TrainingVersion, step: int | None) -> None:
        self._ctx.mark_good_checkpoint(self._actor_id, version.key, step, owner=self)


def _trial_columns(chosen: list[tuple[TrainingVersion, int | None]]) -> list[str]:
    columns: list[str] = []
    for version, _step in chosen:
        for trial in version.trials or []:
            if trial.images:
                label = f"{trial.prompt} · seed {trial.seed}"
                if label not in columns:
                    columns.append(label)
    return columns


def _trial_image(version: TrainingVersion, column: str) -> Sample | None:
    for trial in reversed(version.trials or []):
        if trial.images and f"{trial.prompt} · seed {trial.seed}" == column:
            return trial.images[0]
    return None
