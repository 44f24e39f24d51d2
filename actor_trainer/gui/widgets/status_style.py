"""The one place that turns a run's state into a colour and a word (never colour alone).

Every widget that shows a version's state imports from here, so "failed" is the same red and the
same word in the versions table, the console strip, the version drop-down and the selector.

- `status_word(version)` / `status_word(status, progress)` → "in progress 340/2000", "failed"...
- `status_colour(status, palette)` → a QColor readable on the palette's base (light or dark).
- `good_colour(palette)` and `GOOD_TEXT` for the validated-model mark.
- `paint_badge(painter, rect, text, colour, palette)` for delegates; `StatusBadge` (a QLabel)
  and `make_badge(text, colour)` for layouts.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QSizePolicy, QWidget

from actor_trainer.core.models import Progress, TrainingVersion, VersionStatus
from actor_trainer.gui.i18n import tr

# (light theme, dark theme): the light tones are dark enough for text on white, the dark tones
# light enough for text on a near-black base. Hues follow the original web app: completed green, failed red,
# training orange, pending blue.
_COLOURS: dict[VersionStatus, tuple[str, str]] = {
    VersionStatus.PENDING: ("#1565c0", "#64b5f6"),
    VersionStatus.QUEUED: ("#1565c0", "#64b5f6"),
    VersionStatus.IN_PROGRESS: ("#b45309", "#ffb74d"),
    VersionStatus.COMPLETED: ("#2e7d32", "#81c784"),
    VersionStatus.FAILED: ("#c62828", "#ef9a9a"),
    VersionStatus.CANCELLED: ("#616161", "#bdbdbd"),
    VersionStatus.TIMED_OUT: ("#ad1457", "#f48fb1"),
    VersionStatus.EXPIRED: ("#6d4c41", "#bcaaa4"),
}
_GOOD = ("#2e7d32", "#81c784")

#: The validated-model mark, as the original web app's selector showed it.
GOOD_TEXT_SOURCE = "✓ Good"


def good_text() -> str:
    return tr(GOOD_TEXT_SOURCE)


def is_dark(palette: QPalette | None = None) -> bool:
    """True when the palette's window is dark (a dark theme)."""
    palette = palette if palette is not None else _app_palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def status_colour(status: VersionStatus, palette: QPalette | None = None) -> QColor:
    """The colour of `status`, readable as text or border on `palette`'s base (default: the app's)."""
    light, dark = _COLOURS.get(status, ("#616161", "#bdbdbd"))
    return QColor(dark if is_dark(palette) else light)


def good_colour(palette: QPalette | None = None) -> QColor:
    light, dark = _GOOD
    return QColor(dark if is_dark(palette) else light)


_WORDS: dict[VersionStatus, str] = {
    VersionStatus.PENDING: "pending",
    VersionStatus.QUEUED: "queued",
    VersionStatus.IN_PROGRESS: "in progress",
    VersionStatus.COMPLETED: "completed",
    VersionStatus.FAILED: "failed",
    VersionStatus.CANCELLED: "cancelled",
    VersionStatus.TIMED_OUT: "timed out",
    VersionStatus.EXPIRED: "expired",
}


def status_word(item: TrainingVersion | VersionStatus, progress: Progress | None = None) -> str:
    """The state in words: "queued", "in progress 340/2000", "completed", "timed out"...

    Given a version, its own progress is used (and its step total when the worker sent none);
    `progress`, when given, wins (a live RunProgress newer than the record).
    """
    if isinstance(item, TrainingVersion):
        status = item.status
        progress = progress if progress is not None else item.progress
        planned: int | None = item.parameters.max_train_steps
    else:
        status, planned = item, None
    word = tr(_WORDS.get(status, status.label))
    if status is VersionStatus.IN_PROGRESS and progress is not None and progress.step is not None:
        total = progress.total or planned
        return f"{word} {progress.step}/{total}" if total else f"{word} {progress.step}"
    return word


def status_tooltip(version: TrainingVersion) -> str:
    """A longer sentence for tooltips: the word plus the phase or error, when there is one."""
    word = status_word(version)
    if version.status is VersionStatus.IN_PROGRESS and version.progress is not None:
        extra = version.progress.message or version.progress.phase
        return f"{word} — {extra}" if extra else word
    if version.error is not None and version.error.message:
        return f"{word} — {version.error.message.splitlines()[0]}"
    return word


# --- painting -----------------------------------------------------------------------------------

_PAD_X = 7
_PAD_Y = 2


def badge_size(metrics: QFontMetrics, text: str) -> QSize:
    """The size a badge with `text` takes in a font with these metrics."""
    return QSize(metrics.horizontalAdvance(text) + 2 * _PAD_X + 2, metrics.height() + 2 * _PAD_Y)


#: WCAG 2.1 AA for normal text: a badge's word against its fill (issue 10, item 11)
MIN_CONTRAST = 4.5


def relative_luminance(colour: QColor) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour (0 black … 1 white)."""

    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.red()) + 0.7152 * channel(colour.green()) + 0.0722 * channel(colour.blue())


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio, 1 … 21."""
    hi, lo = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _mix(base: QColor, colour: QColor, share: float) -> QColor:
    return QColor(
        round(base.red() + (colour.red() - base.red()) * share),
        round(base.green() + (colour.green() - base.green()) * share),
        round(base.blue() + (colour.blue() - base.blue()) * share),
    )


def badge_fill(colour: QColor, palette: QPalette | None = None) -> QColor:
    """A soft tint of `colour` over the palette's base (the pill's background): as much tint as
    keeps the word in `colour` at WCAG AA contrast (≥ 4.5:1) on it, in a light or dark theme."""
    palette = palette if palette is not None else _app_palette()
    base = palette.color(QPalette.ColorRole.Base)
    share = 0.28 if is_dark(palette) else 0.14
    while share > 0 and contrast_ratio(colour, _mix(base, colour, share)) < MIN_CONTRAST:
        share = round(share - 0.02, 2)
    return _mix(base, colour, max(share, 0.0))


def paint_badge(
    painter: QPainter,
    rect: QRect,
    text: str,
    colour: QColor,
    palette: QPalette | None = None,
    *,
    alignment: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
) -> QRect:
    """Paint a rounded pill with `text` inside `rect` (vertically centred); return where it went.

    Text and border in `colour`, background a tint of it: readable on light and dark themes.
    """
    metrics = painter.fontMetrics()
    size = badge_size(metrics, text)
    width = min(size.width(), rect.width())
    height = min(size.height(), rect.height())
    if alignment & Qt.AlignmentFlag.AlignRight:
        x = rect.right() - width + 1
    elif alignment & Qt.AlignmentFlag.AlignHCenter:
        x = rect.left() + (rect.width() - width) // 2
    else:
        x = rect.left()
    pill = QRect(x, rect.top() + (rect.height() - height) // 2, width, height)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(colour)
    painter.setBrush(badge_fill(colour, palette))
    radius = height / 2
    painter.drawRoundedRect(QRectF(pill).adjusted(0.5, 0.5, -0.5, -0.5), radius, radius)
    elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(0, pill.width() - 2 * _PAD_X))
    painter.drawText(pill, int(Qt.AlignmentFlag.AlignCenter), elided)
    painter.restore()
    return pill


class StatusBadge(QLabel):
    """A pill-shaped label: a word in a colour on a tint of it. `set_status` follows a version."""

    def __init__(self, text: str = "", colour: QColor | None = None, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._colour = colour
        self._status: VersionStatus | None = None
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)

    @property
    def status(self) -> VersionStatus | None:
        return self._status

    def colour(self) -> QColor:
        if self._status is not None:
            return status_colour(self._status, self.palette())
        return QColor(self._colour) if self._colour is not None else self.palette().color(QPalette.ColorRole.Text)

    def set_badge(self, text: str, colour: QColor) -> None:
        self._status = None
        self._colour = QColor(colour)
        self._apply(text)

    def set_status(self, item: TrainingVersion | VersionStatus, progress: Progress | None = None) -> None:
        """Show `item`'s state: its word (with step/total) in its colour; a tooltip with details."""
        self._status = item.status if isinstance(item, TrainingVersion) else item
        self._apply(status_word(item, progress))
        self.setToolTip(status_tooltip(item) if isinstance(item, TrainingVersion) else self.text())

    def _apply(self, text: str) -> None:
        self.setText(text)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return badge_size(self.fontMetrics(), self.text())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self.text():
            return
        painter = QPainter(self)
        painter.setFont(self.font())
        paint_badge(painter, self.rect(), self.text(), self.colour(), self.palette())
        painter.end()


def make_badge(text: str, colour: QColor, parent: QWidget | None = None) -> StatusBadge:
    """A badge with fixed `text` and `colour` (e.g. `make_badge(good_text(), good_colour())`)."""
    return StatusBadge(text, QColor(colour), parent)


def status_badge(item: TrainingVersion | VersionStatus, parent: QWidget | None = None) -> StatusBadge:
    """A badge that shows `item`'s state."""
    badge = StatusBadge(parent=parent)
    badge.set_status(item)
    return badge


def _app_palette() -> QPalette:
    app = QApplication.instance()
    return app.palette() if isinstance(app, QApplication) else QPalette()
