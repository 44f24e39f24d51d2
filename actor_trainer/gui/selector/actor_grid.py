"""The selector's parts: the grid of poster cards, the panel shown when nothing matches, and the
rule that sends typing from the grid to the search box."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListView, QPushButton, QVBoxLayout, QWidget

from actor_trainer.gui.i18n import tr
from actor_trainer.gui.selector.poster_delegate import PosterDelegate
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader

_TYPING_MODIFIERS = (
    Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier
)


def make_actor_grid(parent: QWidget, loader: ThumbnailLoader, *, multi_select: bool) -> QListView:
    """A wrapping list of poster cards (uniform sizes, laid out in one pass)."""
    view = QListView(parent)
    view.setObjectName("actorGrid")
    view.setAccessibleName(tr("Actors"))
    view.setViewMode(QListView.ViewMode.ListMode)
    view.setFlow(QListView.Flow.LeftToRight)
    view.setUniformItemSizes(True)
    # SinglePass, measured: with uniform item sizes 10,000 cards lay out in a few ms, and a
    # batched layout would leave scrollTo(current) with no position for rows not laid out yet.
    view.setLayoutMode(QListView.LayoutMode.SinglePass)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setDragEnabled(False)
    view.setWrapping(True)
    view.setSpacing(4)
    view.setSelectionMode(
        QAbstractItemView.SelectionMode.ExtendedSelection
        if multi_select
        else QAbstractItemView.SelectionMode.SingleSelection
    )
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.verticalScrollBar().setSingleStep(40)
    view.setMouseTracking(True)
    view.setItemDelegate(PosterDelegate(loader, view))
    return view


class NoMatchPanel(QWidget):
    """Shown instead of an empty grid: why nothing is shown, and Clear filters."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noMatch")
        self.label = QLabel(self)
        self.label.setObjectName("noMatchText")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.clear_button = QPushButton(tr("Clear filters"), self)
        self.clear_button.setObjectName("noMatchClear")
        self.clear_button.setAutoDefault(False)
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(self.label)
        box.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addStretch(2)
        self.hide()


def is_typing(event: QKeyEvent) -> bool:
    """A key press that types into the search box (a character or Backspace, no shortcut)."""
    if event.modifiers() & _TYPING_MODIFIERS:
        return False
    if event.key() == Qt.Key.Key_Backspace:
        return True
    text = event.text()
    return bool(text) and text.isprintable() and not text.isspace()


def copy_key_event(event: QKeyEvent) -> QKeyEvent:
    return QKeyEvent(event.type(), event.key(), event.modifiers(), event.text(), event.isAutoRepeat(), event.count())
