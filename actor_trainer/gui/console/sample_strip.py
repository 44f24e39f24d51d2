"""The console's live strip of samples (issue 12): the newest checkpoint's images as they land.

Under the run's progress: "Samples at step N" and one tile per prompt; a click enlarges it (←/→
move through every sample of the run). Hidden while the shown run has no samples (a v1 worker, or
sampling off) — with a line saying when they will come for a v2 run in flight.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from actor_trainer.core.contact_sheet import sample_steps, samples_at
from actor_trainer.core.models import TrainingVersion
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.sample_images import SampleTile, ShownImage, open_viewer, sample_caption

TILE = 96


class SampleStrip(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("consoleSampleStrip")
        self._ctx = ctx
        self._shown: tuple[object, ...] | None = None
        self.tiles: list[SampleTile] = []
        self.title = QLabel(self)
        self.title.setObjectName("sampleStripTitle")
        self.row = QHBoxLayout()
        self.row.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addLayout(self.row)
        self.setVisible(False)

    def show_version(self, version: TrainingVersion | None) -> None:
        steps = sample_steps(version) if version is not None else []
        key = (version.key, tuple((s.step, s.index) for s in version.samples or [])) if version else None
        if key == self._shown:
            return
        self._shown = key
        while self.row.count():
            item = self.row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.tiles = []
        if version is None or not steps:
            waiting = (
                version is not None
                and not version.status.is_terminal
                and self._ctx.speaks_v2()
                and version.parameters.sample_settings.every > 0
            )
            self.title.setText(tr("Samples appear here as each checkpoint lands.") if waiting else "")
            self.setVisible(waiting)
            return
        latest = samples_at(version)
        every = [s for s in version.samples or [] if s.step is not None]
        gallery = [ShownImage(s, sample_caption(s, version.name)) for s in every]
        self.title.setText(
            tr("Samples at step {step} ({n} checkpoint(s) so far) — click to enlarge").format(
                step=steps[-1], n=len(steps)
            )
        )
        for sample in latest:
            index = every.index(sample)
            tile = SampleTile(self._ctx, sample, TILE, gallery[index].caption, self)
            tile.clicked.connect(lambda g=gallery, i=index: self.open_viewer(g, i))
            self.row.addWidget(tile)
            self.tiles.append(tile)
        self.row.addStretch(1)
        self.setVisible(True)

    def open_viewer(self, gallery: list[ShownImage], index: int) -> None:
        self.viewer = open_viewer(self._ctx, gallery, index, self)
