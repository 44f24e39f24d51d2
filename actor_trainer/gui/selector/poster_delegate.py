"""Paints one actor as a square poster card: poster (or initials placeholder), badges, name, meta, id.

Badges say their state in words and colour together: "✓ Good" (validated model), "N imgs" or
"⚠ no images", "synced ✓" / "not synced" / "sync unknown", and "training" while a run is in flight.
Card, text and selection colours come from the palette, so light and dark themes both work.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen, QPixmap
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
#: drawn cards kept, by their pixels' size (a card is about 0.2 MB at 1×): a few screens' worth
CARD_CACHE_BYTES = 12 * 1024 * 1024


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
        self._cards: OrderedDict[tuple[Any, ...], QPixmap] = OrderedDict()  # drawn cards, least recent first
        self._card_bytes = 0

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
        card = index.data(ActorRoles.CardRole)
        if card is None:
            return
        path = card[-1]
        pixmap = self._loader.pixmap(path) if path else None
        if pixmap is None and path and not self._loader.has_failed(path):
            self._loader.request(path)
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        active = bool(state & QStyle.StateFlag.State_Active)
        rect = option.rect
        device = painter.device()
        dpr = device.devicePixelRatioF() if device is not None else 1.0
        # A card is drawn once per look and then copied: a search or a scroll that shows the same
        # cards again repaints in a fraction of the time (benchmarks/bench_selector.py).
        key = (
            card, pixmap.cacheKey() if pixmap is not None else 0, selected, hovered, active,
            rect.width(), rect.height(), option.font.key(), option.palette.cacheKey(), dpr,
        )  # fmt: skip
        cached = self._cards.get(key)
        if cached is None:
            cached = QPixmap(max(1, round(rect.width() * dpr)), max(1, round(rect.height() * dpr)))
            cached.setDevicePixelRatio(dpr)
            cached.fill(Qt.GlobalColor.transparent)
            local = QPainter(cached)
            self._draw(
                local,
                QRect(0, 0, rect.width(), rect.height()),
                option,
                card,
                pixmap,
                selected=selected,
                hovered=hovered,
                active=active,
            )
            local.end()
            self._cards[key] = cached
            self._card_bytes += _bytes(cached)
            while self._card_bytes > CARD_CACHE_BYTES and len(self._cards) > 1:
                self._card_bytes -= _bytes(self._cards.popitem(last=False)[1])
        else:
            self._cards.move_to_end(key)
        painter.drawPixmap(rect.topLeft(), cached)

    def _draw(
        self,
        painter: QPainter,
        rect: QRect,
        option: QStyleOptionViewItem,
        card: tuple[Any, ...],
        pixmap: QPixmap | None,
        *,
        selected: bool,
        hovered: bool,
        active: bool,
    ) -> None:
        actor_id, name, meta, id_text, initials, validated, count, sync, training, _path = card
        name_font, small_font, badge_font, initials_font = self._fonts(option.font)
        palette = option.palette
        group = QPalette.ColorGroup.Active if active else QPalette.ColorGroup.Inactive

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)

        card_rect = QRectF(rect.adjusted(CARD_MARGIN, CARD_MARGIN, -CARD_MARGIN, -CARD_MARGIN))
        fill = palette.color(group, QPalette.ColorRole.AlternateBase if hovered else QPalette.ColorRole.Base)
        border = palette.color(group, QPalette.ColorRole.Highlight if selected else QPalette.ColorRole.Mid)
        painter.setPen(QPen(border, 3 if selected else 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(card_rect.adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)

        poster = self.poster_rect(rect)
        self._paint_poster(painter, poster, actor_id, initials, pixmap, initials_font)
        self._paint_badges(painter, poster, validated, count, sync, training, badge_font)

        # Text block under the poster: name (bold), "age • sex • ethnicity", id.
        text_color = palette.color(group, QPalette.ColorRole.Text)
        dim_color = palette.color(group, QPalette.ColorRole.PlaceholderText)
        left = poster.left()
        width = poster.width()
        y = poster.bottom() + 1 + 6
        for font, color, text in (
            (name_font, text_color, name or ""),
            (small_font, dim_color, meta or "—"),
            (small_font, dim_color, id_text or ""),
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

    def _paint_poster(
        self, painter: QPainter, rect: QRect, actor_id: int, initials: str, pixmap: QPixmap | None, font: QFont
    ) -> None:
        if pixmap is not None:
            painter.drawPixmap(rect, pixmap)
            return
        # Placeholder while loading (or when there is no poster): initials on the actor's colour.
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(placeholder_color(int(actor_id or 0)))
        painter.drawRoundedRect(QRectF(rect), 4, 4)
        painter.setFont(font)
        painter.setPen(BADGE_TEXT_COLOR)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), initials or "?")
        painter.restore()

    def _paint_badges(
        self,
        painter: QPainter,
        poster: QRect,
        validated: bool,
        count: int,
        sync: str | None,
        training: bool,
        font: QFont,
    ) -> None:
        painter.setFont(font)
        metrics = QFontMetrics(font)
        inner = poster.adjusted(4, 4, -4, -4)
        if validated:
            _badge(painter, metrics, tr("✓ Good"), inner, Qt.Corner.TopLeftCorner, GOOD_COLOR)
        count = int(count or 0)
        if count > 0:
            text = tr("1 img") if count == 1 else tr("{n} imgs").format(n=count)
            _badge(painter, metrics, text, inner, Qt.Corner.TopRightCorner, NEUTRAL_COLOR)
        else:
            _badge(painter, metrics, tr("⚠ no images"), inner, Qt.Corner.TopRightCorner, WARNING_COLOR)
        if sync == "synced":
            _badge(painter, metrics, tr("synced ✓"), inner, Qt.Corner.BottomLeftCorner, GOOD_COLOR)
        elif sync == "not_synced":
            _badge(painter, metrics, tr("not synced"), inner, Qt.Corner.BottomLeftCorner, WARNING_COLOR)
        elif sync == "unknown":
            _badge(painter, metrics, tr("sync unknown"), inner, Qt.Corner.BottomLeftCorner, UNKNOWN_COLOR)
        if training:
            _badge(painter, metrics, tr("training"), inner, Qt.Corner.BottomRightCorner, INFO_COLOR)


def _bytes(pixmap: QPixmap) -> int:
    return pixmap.width() * pixmap.height() * 4


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
