"""A horizontal strip of an actor's training images (~72 px), with unsupported files flagged.

Thumbnails come from the shared ThumbnailLoader (decoded off the GUI thread). The model asks for a
thumbnail only when the view paints its tile, so only visible tiles are ever decoded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QUrl,
)
from PySide6.QtGui import QColor, QDesktopServices, QFont, QFontMetrics, QGuiApplication, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QFrame, QListView, QWidget

from actor_trainer.core.library import TrainingDataScan
from actor_trainer.core.models import VersionStatus
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader
from actor_trainer.gui.widgets.status_style import badge_fill, status_colour

TILE = 72
_Index = QModelIndex | QPersistentModelIndex

PathRole = Qt.ItemDataRole.UserRole + 1  # str: the file's path
KindRole = Qt.ItemDataRole.UserRole + 2  # "image" | "unsupported"


class TrainingImagesModel(QAbstractListModel):
    """Rows: the training images, then the unsupported files (as warning tiles)."""

    def __init__(self, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._rows: list[tuple[str, str, str]] = []  # (kind, path, name)
        self._row_of: dict[str, int] = {}
        self._scaled: dict[str, QPixmap] = {}
        self._placeholder: QPixmap | None = None
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(lambda path, _reason: self._on_loaded(path))

    def set_scan(self, scan: TrainingDataScan | None) -> None:
        self.beginResetModel()
        self._rows = []
        if scan is not None:
            self._rows += [("image", os.fspath(f.path), f.name) for f in scan.images]
            self._rows += [("unsupported", os.fspath(p), p.name) for p in scan.unsupported]
        self._row_of = {path: i for i, (_k, path, _n) in enumerate(self._rows)}
        self._scaled = {k: v for k, v in self._scaled.items() if k in self._row_of}
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        kind, path, name = self._rows[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._tile(kind, path, name)
        if role == Qt.ItemDataRole.ToolTipRole:
            if kind == "unsupported":
                return tr("{name} — not a PNG, JPEG or WebP image (or a caption without one): ignored").format(
                    name=name
                )
            return name
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return name
        if role == PathRole:
            return path
        if role == KindRole:
            return kind
        return None

    def names(self, kind: str | None = None) -> list[str]:
        return [n for k, _p, n in self._rows if kind is None or k == kind]

    def is_loaded(self, row: int) -> bool:
        """The real thumbnail of this image row is shown (not the grey placeholder)."""
        return self._rows[row][1] in self._scaled

    # --- tiles ----------------------------------------------------------------------------------

    def _tile(self, kind: str, path: str, name: str) -> QPixmap:
        if kind == "unsupported":
            return warning_tile(name)
        scaled = self._scaled.get(path)
        if scaled is not None:
            return scaled
        pixmap = self._loader.pixmap(path)
        if pixmap is not None:
            dpr = _dpr()
            scaled = pixmap.scaled(
                round(TILE * dpr),
                round(TILE * dpr),
                Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                Qt.TransformationMode.SmoothTransformation,
            )
            scaled.setDevicePixelRatio(dpr)
            self._scaled[path] = scaled
            return scaled
        if self._loader.has_failed(path):
            return warning_tile(name, broken=True)
        self._loader.request(path)
        if self._placeholder is None:
            self._placeholder = QPixmap(TILE, TILE)
            self._placeholder.fill(QColor(128, 128, 128, 60))
        return self._placeholder

    def _on_loaded(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            self._scaled.pop(path, None)
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def warning_tile(name: str, *, broken: bool = False) -> QPixmap:
    """An orange tile with ⚠ and the (elided) file name, for a file that will not be sent."""
    dpr = _dpr()
    pixmap = QPixmap(round(TILE * dpr), round(TILE * dpr))
    pixmap.setDevicePixelRatio(dpr)
    colour = status_colour(VersionStatus.IN_PROGRESS)
    pixmap.fill(badge_fill(colour))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(colour)
    painter.drawRect(QRect(0, 0, TILE - 1, TILE - 1))
    font = QFont()
    font.setPixelSize(26)
    painter.setFont(font)
    painter.drawText(QRect(0, 6, TILE, 36), int(Qt.AlignmentFlag.AlignCenter), "⚠")
    font.setPixelSize(10)
    painter.setFont(font)
    label = tr("unreadable") if broken else name
    elided = QFontMetrics(font).elidedText(label, Qt.TextElideMode.ElideMiddle, TILE - 8)
    painter.drawText(QRect(4, 44, TILE - 8, 24), int(Qt.AlignmentFlag.AlignCenter), elided)
    painter.end()
    return pixmap


def _dpr() -> float:
    app = QGuiApplication.instance()
    return app.devicePixelRatio() if isinstance(app, QGuiApplication) else 1.0


class TrainingImagesStrip(QListView):
    """The strip view: one row of tiles, scrolling sideways. Double-click opens the file."""

    def __init__(self, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingImagesStrip")
        self.images = TrainingImagesModel(loader, self)
        self.setModel(self.images)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)  # no per-item size query: only visible tiles ask for pixmaps
        self.setIconSize(QSize(TILE, TILE))
        self.setGridSize(QSize(TILE + 8, TILE + 8))
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.viewport().setAutoFillBackground(False)
        self.horizontalScrollBar().rangeChanged.connect(lambda _lo, _hi: self._fit_height())
        self._fit_height()
        self.doubleClicked.connect(self._open)

    def _fit_height(self) -> None:
        """One row of tiles, plus the scroll bar only when the tiles overflow."""
        bar = self.horizontalScrollBar()
        extra = bar.sizeHint().height() if bar.maximum() > 0 else 0
        self.setFixedHeight(TILE + 8 + extra + 2)

    def _open(self, index: QModelIndex) -> None:
        path = index.data(PathRole)
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path))))
