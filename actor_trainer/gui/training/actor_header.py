"""The header card of the ActorTrainingTab: who is being trained (or a friendly empty state)."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from actor_trainer.core.library import ActorSummary
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.selector.actor_list_model import initials_for
from actor_trainer.gui.selector.poster_delegate import placeholder_color
from actor_trainer.gui.training.training_tab_card import Card, heading, secondary
from actor_trainer.gui.widgets.status_style import good_colour, make_badge

POSTER_SIZE = 96
CHANGE_SHORTCUT = "Ctrl+O"


def rounded(pixmap: QPixmap, size: int, radius: float = 10.0) -> QPixmap:
    """`pixmap` scaled to cover `size`×`size`, with rounded corners."""
    scaled = pixmap.scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
    )
    out = QPixmap(size, size)
    out.fill(Qt.GlobalColor.transparent)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    path.addRoundedRect(0, 0, size, size, radius, radius)
    painter.setClipPath(path)
    painter.drawPixmap((size - scaled.width()) // 2, (size - scaled.height()) // 2, scaled)
    painter.end()
    return out


def initials_poster(actor_id: int, name: str, size: int) -> QPixmap:
    """The placeholder poster: initials on the actor's stable colour."""
    base = QPixmap(size, size)
    base.fill(placeholder_color(actor_id))
    painter = QPainter(base)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(size // 3)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(QRect(0, 0, size, size), int(Qt.AlignmentFlag.AlignCenter), initials_for(name))
    painter.end()
    return rounded(base, size)


class ActorHeader(QWidget):
    """Poster, name, "age • sex • ethnicity", description, validated badge and "Change actor…"."""

    changeActorRequested = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._summary: ActorSummary | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        # --- the empty state --------------------------------------------------------------------
        self.empty = Card(self)
        self.empty.body.setContentsMargins(28, 30, 28, 30)
        self.empty.body.setSpacing(12)
        title = heading(tr("No actor selected"), self.empty, scale=1.5)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = secondary(
            tr(
                "Choose the actor whose LoRA you want to train. Their training images, parameters and runs appear here."
            ),
            self.empty,
        )
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.choose_button = QPushButton(tr("Choose an actor…"), self.empty)
        self.choose_button.setObjectName("chooseActorButton")
        self.choose_button.setToolTip(tr("Open the actor selector ({key})").format(key=CHANGE_SHORTCUT))
        self.choose_button.setMinimumSize(220, 44)
        font = self.choose_button.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.choose_button.setFont(font)
        self.choose_button.setDefault(True)
        self.choose_button.clicked.connect(self.changeActorRequested)
        self.empty.body.addWidget(title)
        self.empty.body.addWidget(text)
        self.empty.body.addWidget(self.choose_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.empty)

        # --- an actor ---------------------------------------------------------------------------
        self.card = Card(self)
        row = QHBoxLayout()
        row.setSpacing(16)
        self.card.body.addLayout(row)
        self.poster = QLabel(self.card)
        self.poster.setFixedSize(POSTER_SIZE, POSTER_SIZE)
        row.addWidget(self.poster, 0, Qt.AlignmentFlag.AlignTop)
        info = QVBoxLayout()
        info.setSpacing(4)
        self.name_label = heading("", self.card, scale=1.45)
        self.name_label.setObjectName("actorName")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta_label = secondary("", self.card)
        self.meta_label.setObjectName("actorMeta")
        self.description_label = QLabel(self.card)
        self.description_label.setObjectName("actorDescription")
        self.description_label.setWordWrap(True)
        self.description_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        badges = QHBoxLayout()
        badges.setSpacing(6)
        self.validated_badge = make_badge("", good_colour(self.palette()), self.card)
        self.validated_badge.setObjectName("validatedBadge")
        self.id_label = secondary("", self.card)
        badges.addWidget(self.validated_badge)
        badges.addWidget(self.id_label)
        badges.addStretch(1)
        info.addWidget(self.name_label)
        info.addWidget(self.meta_label)
        info.addWidget(self.description_label)
        info.addLayout(badges)
        info.addStretch(1)
        row.addLayout(info, 1)
        self.change_button = QPushButton(tr("Change actor…"), self.card)
        self.change_button.setObjectName("changeActorButton")
        self.change_button.setToolTip(tr("Choose another actor ({key})").format(key=CHANGE_SHORTCUT))
        self.change_button.clicked.connect(self.changeActorRequested)
        row.addWidget(self.change_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.card)

        ctx.thumbnails.loaded.connect(self._on_thumbnail)
        self.set_summary(None)

    @property
    def summary(self) -> ActorSummary | None:
        return self._summary

    def set_summary(self, summary: ActorSummary | None) -> None:
        """Show this actor (None: the empty state)."""
        self._summary = summary
        self.empty.setVisible(summary is None)
        self.card.setVisible(summary is not None)
        if summary is None:
            return
        actor = summary.actor
        self.name_label.setText(actor.name)
        self.meta_label.setText(actor.meta_line or tr("no age, sex or ethnicity recorded"))
        self.description_label.setText(actor.description or "")
        self.description_label.setVisible(bool(actor.description))
        self.id_label.setText(tr("id {id}").format(id=actor.folder_name))
        validated = actor.validated_lora_model
        if validated is not None:
            self.validated_badge.set_badge(
                tr("✓ Validated: {name}").format(name=validated.version_name), good_colour(self.palette())
            )
            self.validated_badge.setToolTip(validated.lora_url)
        self.validated_badge.setVisible(validated is not None)
        self._show_poster()

    def _show_poster(self) -> None:
        summary = self._summary
        if summary is None:
            return
        if summary.poster is not None:
            pixmap = self._ctx.thumbnails.pixmap(summary.poster)
            if pixmap is not None:
                self.poster.setPixmap(rounded(pixmap, POSTER_SIZE))
                return
            if not self._ctx.thumbnails.has_failed(summary.poster):
                self._ctx.thumbnails.request(summary.poster)
        self.poster.setPixmap(initials_poster(summary.actor.id, summary.actor.name, POSTER_SIZE))

    def _on_thumbnail(self, path: str) -> None:
        if self._summary is not None and self._summary.poster is not None and str(self._summary.poster) == path:
            self._show_poster()
