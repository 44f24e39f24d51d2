"""Sample and Try images on screen (issue 12): a clickable tile, and a viewer to enlarge them.

A tile asks `ctx.sample_images` for its image (`pixmap`, else `request`: cached on
disk and decoded off the event loop) and paints it when `ready` names its URL. Clicking
a tile emits `clicked`; the ImageViewer shows a list of images large, with ←/→ to move through
them and Esc to close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from actor_trainer.core.models import Sample
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr


@dataclass(frozen=True)
class ShownImage:
    """An image and the words under it (its version, step or seed, and prompt)."""

    sample: Sample
    caption: str


def sample_caption(sample: Sample, version_name: str | None = None) -> str:
    where = f"step {sample.step}" if sample.step is not None else f"seed {sample.seed}"
    head = f"{version_name} · {where}" if version_name else where
    return f"{head} · {sample.prompt}"


class SampleTile(QLabel):
    """One image, `size` px square, loaded through the context; click to enlarge."""

    clicked = Signal()

    def __init__(
        self, ctx: AppContext, sample: Sample, size: int = 128, caption: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sampleTile")
        self._ctx = ctx
        self.sample = sample
        self._size = size
        self.setFixedSize(QSize(size, size))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(caption or sample_caption(sample))
        self.setStyleSheet("QLabel#sampleTile { background: palette(base); border: 1px solid palette(mid); }")
        self.setText(tr("loading…"))
        ctx.sample_images.ready.connect(self._on_ready)
        ctx.sample_images.failed.connect(self._on_failed)
        if not self._paint():
            failure = ctx.sample_images.failure(sample.url)
            if failure is not None:
                self._on_failed(sample.url, failure)
            else:
                ctx.sample_images.request(sample.url)

    @property
    def loaded(self) -> bool:
        return self.pixmap() is not None and not self.pixmap().isNull()

    def _paint(self) -> bool:
        pixmap = self._ctx.sample_images.pixmap(self.sample.url)
        if pixmap is None:
            return False
        self.setPixmap(
            pixmap.scaled(
                self._size, self._size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )
        return True

    def _on_ready(self, url: str) -> None:
        if url == self.sample.url:
            self._paint()

    def _on_failed(self, url: str, message: str) -> None:
        if url == self.sample.url:
            self.setText(tr("not available"))
            self.setToolTip(message)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class ImageViewer(QDialog):
    """Images shown large, one at a time: ←/→ (or the buttons) move, Esc closes."""

    SIZE = 512

    def __init__(
        self, ctx: AppContext, images: Sequence[ShownImage], index: int = 0, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sampleViewer")
        self.setWindowTitle(tr("Samples"))
        self._ctx = ctx
        self._images = list(images)
        self._index = max(0, min(index, len(self._images) - 1))
        self.picture = QLabel(self)
        self.picture.setObjectName("viewerPicture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(QSize(self.SIZE, self.SIZE))
        self.picture.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.caption = QLabel(self)
        self.caption.setObjectName("viewerCaption")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.position = QLabel(self)
        self.previous_button = QPushButton(tr("← Previous"), self)
        self.next_button = QPushButton(tr("Next →"), self)
        for button in (self.previous_button, self.next_button):
            button.setAutoDefault(False)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrow keys belong to the viewer
        self.previous_button.clicked.connect(lambda: self.move_by(-1))
        self.next_button.clicked.connect(lambda: self.move_by(1))
        row = QHBoxLayout()
        row.addWidget(self.previous_button)
        row.addWidget(self.position, 1, Qt.AlignmentFlag.AlignCenter)
        row.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)
        layout.addLayout(row)
        ctx.sample_images.ready.connect(self._on_ready)
        self._show()

    @property
    def index(self) -> int:
        return self._index

    def current(self) -> ShownImage | None:
        return self._images[self._index] if self._images else None

    def move_by(self, step: int) -> None:
        if not self._images:
            return
        self._index = max(0, min(len(self._images) - 1, self._index + step))
        self._show()

    def _show(self) -> None:
        shown = self.current()
        if shown is None:
            self.caption.setText(tr("No images"))
            return
        self.caption.setText(shown.caption)
        self.position.setText(f"{self._index + 1} / {len(self._images)}")
        self.previous_button.setEnabled(self._index > 0)
        self.next_button.setEnabled(self._index < len(self._images) - 1)
        pixmap: QPixmap | None = self._ctx.sample_images.pixmap(shown.sample.url)
        if pixmap is None:
            self.picture.setPixmap(QPixmap())
            self.picture.setText(tr("loading…"))
            self._ctx.sample_images.request(shown.sample.url)
        else:
            self.picture.setPixmap(
                pixmap.scaled(
                    self.SIZE, self.SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )

    def _on_ready(self, url: str) -> None:
        shown = self.current()
        if shown is not None and shown.sample.url == url:
            self._show()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Left:
            self.move_by(-1)
        elif event.key() == Qt.Key.Key_Right:
            self.move_by(1)
        else:
            super().keyPressEvent(event)


def open_viewer(ctx: AppContext, images: Sequence[ShownImage], index: int, parent: QWidget | None) -> ImageViewer:
    viewer = ImageViewer(ctx, images, index, parent)
    viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    viewer.show()
    viewer.raise_()
    return viewer
