"""Paints one actor as a square poster card: poster (or initials placeholder), badges, name, meta, id.

Badges say their state in words and colour together: "✓ Good" (validated model), "N imgs" or
"⚠ no images", "synced ✓" / "not synced" / "sync unknown", and "training" while a run is in flight.
Card, text and selection colours come from the palette, so light and dark themes both work.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from actor_trainer.gui.i18n import tr
from actor_trainer.gui.selector.actor_list_model import ActorRoles
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader

_Index = QModelIndex | QPersistentModelIndex

# Badge fills: saturated enough for white text on light and dark themes alike.
GOOD_COLOR = QColor("#2e7d32")
WARNING_COLOR = QColor("#b45309")
INFO_COLOR = QColor("#1565c0")
NEUTRAL_COLOR = QColor(0, 0, 0, 170)
UNKNOWN_COLOR = QColor("#616161")
BADGE_TEXT_COLOR = QColor("white")

PADDING = 8
CARD_MARGIN = 3


def placeholder_color(actor_id: int) -> QColor:
    """A stable colour per actor for the placeholder poster (golden-angle hues spread neighbours apart)."""
    return QColor.fromHsl(int(actor_id * 137.508) % 360, 110, 105)


class PosterDelegate(QStyledItemDelegate):
    """Card painter for `ActorListModel` rows in a `QListView` in icon mode with uniform item sizes.

    Asks `loader` for the poster of each card it paints; only visible cards are painted, so only
    visible posters are ever loaded.
    """

    def __init__(self, loader: ThumbnailLoader, parent: QObject | None = None, poster_size: int = 180) -> None:
        super().__init__(parent)
        self._loader = loader
        self._poster = poster_size
        self._fonts_for: tuple[str, QFont, QFont, QFont, QFont] | None = None

    @property
    def poster_size(self) -> int:
        return self._poster

    def poster_rect(self, item_rect: QRect) -> QRect:
        """Where the poster is drawn inside an item's rectangle."""
        return QRect(
            item_rect.left() + CARD_MARGIN + PADDING,
            item_rect.top() + CARD_MARGIN + PADDING,
            self._poster,
            self._poster,
        )

    def _fonts(self, base: QFont) -> tuple[QFont, QFont, QFont, QFont]:
        """(name, small, badge, initials) fonts derived from the view's font, built once per font."""
        key = base.key()
        if self._fonts_for is None or self._fonts_for[0] != key:
            name = QFont(base)
            name.setBold(True)
            small = QFont(base)
            if base.pointSizeF() > 0:
                small.setPointSizeF(base.pointSizeF() * 0.9)
            badge = QFont(small)
            badge.setBold(True)
            initials = QFont(base)
            initials.setBold(True)
            initials.setPixelSize(max(12, self._poster // 3))
            self._fonts_for = (key, name, small, badge, initials)
        return self._fonts_for[1:]

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        name_font, small_font, _, _ = self._fonts(option.font)
        text_height = QFontMetrics(name_font).height() + 2 * QFontMetrics(small_font).height()
        width = self._poster + 2 * (PADDING + CARD_MARGIN)
        height = self._poster + text_height + 2 * (PADDING + CARD_MARGIN) + 6
        return QSize(width, height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        name_font, small_font, badge_font, initials_font = self._fonts(option.font)
        palette = option.palette
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        group = QPalette.ColorGroup.Active if state & QStyle.StateFlag.State_Active else QPalette.ColorGroup.Inactive

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)

        card = QRectF(option.rect.adjusted(CARD_MARGIN, CARD_MARGIN, -CARD_MARGIN, -CARD_MARGIN))
        fill = palette.color(group, QPalette.ColorRole.AlternateBase if hovered else QPalette.ColorRole.Base)
        border = palette.color(group, QPalette.ColorRole.Highlight if selected else QPalette.ColorRole.Mid)
        painter.setPen(QPen(border, 3 if selected else 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(card.adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)

        poster = self.poster_rect(option.rect)
        self._paint_poster(painter, poster, index, initials_font)
        self._paint_badges(painter, poster, index, badge_font)

        # Text block under the poster: name (bold), "age • sex • ethnicity", id.
        text_color = palette.color(group, QPalette.ColorRole.Text)
        dim_color = palette.color(group, QPalette.ColorRole.PlaceholderText)
        left = poster.left()
        width = poster.width()
        y = poster.bottom() + 1 + 6
        for font, color, text in (
            (name_font, text_color, index.data(ActorRoles.NameRole) or ""),
            (small_font, dim_color, index.data(ActorRoles.MetaLineRole) or "—"),
            (small_font, dim_color, index.data(ActorRoles.IdTextRole) or ""),
        ):
            metrics = QFontMetrics(font)
            painter.setFont(font)
            painter.setPen(color)
            line = QRect(left, y, width, metrics.height())
            painter.drawText(
                line,
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                metrics.elidedText(text, Qt.TextElideMode.ElideRight, width),
            )
            y += metrics.height()
        painter.restore()

    def _paint_poster(self, painter: QPainter, rect: QRect, index: _Index, font: QFont) -> None:
        path = index.data(ActorRoles.PosterPathRole)
        pixmap = self._loader.pixmap(path) if path else None
        if pixmap is not None:
            painter.drawPixmap(rect, pixmap)
            return
        if path and not self._loader.has_failed(path):
            self._loader.request(path)
        # Placeholder while loading (or when there is no poster): initials on the actor's colour.
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(placeholder_color(int(index.data(ActorRoles.IdRole) or 0)))
        painter.drawRoundedRect(QRectF(rect), 4, 4)
        painter.setFont(font)
        painter.setPen(BADGE_TEXT_COLOR)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), index.data(ActorRoles.InitialsRole) or "?")
        painter.restore()

    def _paint_badges(self, painter: QPainter, poster: QRect, index: _Index, font: QFont) -> None:
        painter.setFont(font)
        metrics = QFontMetrics(font)
        inner = poster.adjusted(4, 4, -4, -4)
        if index.data(ActorRoles.ValidatedRole):
            _badge(painter, metrics, tr("✓ Good"), inner, Qt.Corner.TopLeftCorner, GOOD_COLOR)
        count = int(index.data(ActorRoles.ImageCountRole) or 0)
        if count > 0:
            text = tr("1 img") if count == 1 else tr("{n} imgs").format(n=count)
            _badge(painter, metrics, text, inner, Qt.Corner.TopRightCorner, NEUTRAL_COLOR)
        else:
            _badge(painter, metrics, tr("⚠ no images"), inner, Qt.Corner.TopRightCorner, WARNING_COLOR)
        sync = index.data(ActorRoles.SyncStateRole)
        if sync == "synced":
            _badge(painter, metrics, tr("synced ✓"), inner, Qt.Corner.BottomLeftCorner, GOOD_COLOR)
        elif sync == "not_synced":
            _badge(painter, metrics, tr("not synced"), inner, Qt.Corner.BottomLeftCorner, WARNING_COLOR)
        elif sync == "unknown":
            _badge(painter, metrics, tr("sync unknown"), inner, Qt.Corner.BottomLeftCorner, UNKNOWN_COLOR)
        if index.data(ActorRoles.TrainingRole):
            _badge(painter, metrics, tr("training"), inner, Qt.Corner.BottomRightCorner, INFO_COLOR)


def _badge(painter: QPainter, metrics: QFontMetrics, text: str, area: QRect, corner: Qt.Corner, fill: QColor) -> None:
    width = min(area.width(), metrics.horizontalAdvance(text) + 10)
    height = metrics.height() + 2
    left = area.left() if corner in (Qt.Corner.TopLeftCorner, Qt.Corner.BottomLeftCorner) else area.right() - width + 1
    top = area.top() if corner in (Qt.Corner.TopLeftCorner, Qt.Corner.TopRightCorner) else area.bottom() - height + 1
    rect = QRect(left, top, width, height)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(fill)
    painter.drawRoundedRect(QRectF(rect), height / 2, height / 2)
    painter.setPen(BADGE_TEXT_COLOR)
    painter.drawText(
        rect,
        int(Qt.AlignmentFlag.AlignCenter),
        metrics.elidedText(text, Qt.TextElideMode.ElideRight, width - 6),
    )
