"""A small live loss chart (QPainter, no QtCharts) and the bounded per-run loss history behind it.

The chart draws loss against step: the raw points the worker reported, a smoothed line through
them, a few tick labels on both axes, and the latest value. Colours come from the palette, so it
reads in light and dark themes. With no points it says so instead of drawing empty axes.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from actor_trainer.gui.i18n import tr

MAX_POINTS_PER_RUN = 5000
MAX_RUNS = 50

Point = tuple[int, float]


class LossHistory:
    """Loss points per run, in memory: at most `max_points` per run (the oldest drop first) and at
    most `max_runs` runs (the least recently updated run is forgotten first)."""

    def __init__(self, max_points: int = MAX_POINTS_PER_RUN, max_runs: int = MAX_RUNS) -> None:
        self.max_points = max_points
        self.max_runs = max_runs
        self._runs: OrderedDict[tuple[int, str], deque[Point]] = OrderedDict()

    def add(self, actor_id: int, version_id: str, step: int | None, loss: float | None) -> bool:
        """Record one report; False (nothing kept) without a step or a finite loss, or when the step
        is not newer than the last one (polls repeat the same report)."""
        if step is None or loss is None or not math.isfinite(loss):
            return False
        key = (actor_id, version_id)
        points = self._runs.get(key)
        if points is None:
            points = deque(maxlen=self.max_points)
            self._runs[key] = points
            while len(self._runs) > self.max_runs:
                self._runs.popitem(last=False)
        elif points and step <= points[-1][0]:
            return False
        points.append((step, float(loss)))
        self._runs.move_to_end(key)
        return True

    def points(self, actor_id: int, version_id: str) -> list[Point]:
        return list(self._runs.get((actor_id, version_id), ()))

    def forget(self, actor_id: int, version_id: str) -> None:
        self._runs.pop((actor_id, version_id), None)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About `count` round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def smoothed(values: Sequence[float], weight: float = 0.6) -> list[float]:
    """An exponential moving average, debiased so the first values are not pulled towards zero."""
    result = []
    average = 0.0
    for i, value in enumerate(values, start=1):
        average = average * weight + (1 - weight) * value
        result.append(average / (1 - weight**i))
    return result


def _format_tick(value: float, span: float) -> str:
    if span >= 100 or (float(value).is_integer() and span >= 5):
        return f"{value:,.0f}"
    decimals = max(0, min(6, 2 - math.floor(math.log10(span)) if span > 0 else 3))
    return f"{value:.{decimals}f}"


class LossChart(QWidget):
    """Loss vs step for one run. Feed it with `set_points` (a whole history) or `add_point`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lossChart")
        self.setAccessibleName(tr("Loss chart"))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(120)
        self._points: list[Point] = []
        self._total: int | None = None
        self._empty_text = tr("No loss reported yet")
        self._legend_rect: QRectF | None = None
        self._x_labels: list[tuple[str, QRectF]] = []  # the step labels as last painted
        self._update_tooltip()

    # --- data -----------------------------------------------------------------------------------

    def set_points(self, points: Sequence[Point], total: int | None = None) -> None:
        self._points = list(points)[-MAX_POINTS_PER_RUN:]
        self._total = total
        self._update_tooltip()
        self.update()

    def add_point(self, step: int, loss: float, total: int | None = None) -> None:
        if self._points and step <= self._points[-1][0]:
            return
        self._points.append((step, loss))
        del self._points[:-MAX_POINTS_PER_RUN]
        if total:
            self._total = total
        self._update_tooltip()
        self.update()

    def clear(self) -> None:
        self.set_points([])

    def points(self) -> list[Point]:
        return list(self._points)

    def empty_text(self) -> str:
        return self._empty_text

    def set_empty_text(self, text: str) -> None:
        """What the chart says while it has no points."""
        self._empty_text = text
        self._update_tooltip()
        self.update()

    def _update_tooltip(self) -> None:
        if self._points:
            step, loss = self._points[-1]
            self.setToolTip(
                tr("{n} loss reports (dots) and their moving average (line); latest {loss:.4f} at step {step}").format(
                    n=len(self._points), loss=loss, step=step
                )
            )
        else:
            self.setToolTip(self.empty_text())

    def sizeHint(self) -> QSize:
        return QSize(360, 150)

    # --- painting -------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        grid = QColor(palette.color(QPalette.ColorRole.Mid))
        grid.setAlpha(90)
        accent = palette.color(QPalette.ColorRole.Highlight)
        bounds = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        painter.setPen(QPen(grid, 1))
        painter.drawRect(bounds)

        small = self.font()
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        painter.setFont(small)
        metrics = QFontMetrics(small)

        self._x_labels = []
        if not self._points:
            self._legend_rect = None
            painter.setPen(muted)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text())
            painter.end()
            return

        steps = [s for s, _ in self._points]
        losses = [v for _, v in self._points]
        x_low, x_high = 0.0, float(max(self._total or 0, steps[-1], 1))
        y_low, y_high = min(losses), max(losses)
        pad = (y_high - y_low) * 0.08 or max(abs(y_high) * 0.05, 0.01)
        y_low, y_high = y_low - pad, y_high + pad
        y_ticks = [t for t in nice_ticks(y_low, y_high, 3) if y_low <= t <= y_high]
        x_ticks = [t for t in nice_ticks(x_low, x_high, 4) if x_low <= t <= x_high]
        y_labels = [_format_tick(t, y_high - y_low) for t in y_ticks]

        left = 8 + max((metrics.horizontalAdvance(s) for s in y_labels), default=0)
        plot = QRectF(left + 6, metrics.height() + 6, 0, 0)
        plot.setRight(self.width() - 12)
        plot.setBottom(self.height() - metrics.height() - 8)
        if plot.width() < 20 or plot.height() < 20:
            painter.end()
            return

        def to_x(step: float) -> float:
            return plot.left() + (step - x_low) / (x_high - x_low) * plot.width()

        def to_y(loss: float) -> float:
            return plot.bottom() - (loss - y_low) / (y_high - y_low) * plot.height()

        # Grid and tick labels.
        for tick, label in zip(y_ticks, y_labels, strict=True):
            y = to_y(tick)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(muted)
            painter.drawText(
                QRectF(0, y - metrics.height() / 2, left, metrics.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
        # The last step gets its own label at the right end (unless a round tick already sits there).
        last_step = steps[-1]
        labels = [(t, _format_tick(t, x_high - x_low)) for t in x_ticks]
        end_label = f"{last_step:,}"
        end_width = metrics.horizontalAdvance(end_label) + 8
        labels = [(t, text_) for t, text_ in labels if abs(to_x(t) - to_x(last_step)) >= end_width]
        labels.append((float(last_step), end_label))
        for tick, label in labels:
            x = to_x(tick)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.setPen(text if tick == last_step else muted)
            width = metrics.horizontalAdvance(label)
            # Centred under its tick, but never past the widget's edges (no clipped "2,000").
            label_left = min(max(x - width / 2 - 2, 1.0), self.width() - width - 6)
            label_rect = QRectF(label_left, plot.bottom() + 3, width + 4, metrics.height())
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter, label)
            self._x_labels.append((label, label_rect))
        painter.setPen(QPen(QColor(palette.color(QPalette.ColorRole.Mid)), 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.bottomLeft(), plot.topLeft())

        # The y axis's name and the latest value along the top edge (the x axis is in steps, and
        # "at step N" says so without a label that would sit on the newest points).
        painter.setPen(muted)
        row = QRectF(4, 2, 120, metrics.height() + 2)
        painter.drawText(row, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, tr("loss"))
        step, loss = self._points[-1]
        latest = tr("latest {loss:.4f} at step {step}").format(loss=loss, step=step)
        latest_width = metrics.horizontalAdvance(latest)
        painter.setPen(text)
        painter.drawText(
            QRectF(plot.left(), 2, plot.width(), metrics.height() + 2),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            latest,
        )
        # The legend: what the dots and the line are (between the axis name and the latest value).
        self._legend_rect = self._paint_legend(
            painter,
            metrics,
            accent,
            muted,
            4 + metrics.horizontalAdvance(tr("loss")) + 14,
            plot.right() - latest_width - 12,
            row.center().y(),
        )

        # Raw points (faint), then the smoothed line on top. One call each (drawPoints with a round
        # pen, drawPolyline): thousands of per-point calls would make a repaint slow.
        painter.setClipRect(plot.adjusted(-3, -3, 3, 3))
        dot = QColor(accent)
        dot.setAlpha(110)
        size = 4.4 if len(self._points) < 400 else 2.8
        painter.setPen(QPen(dot, size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawPoints(QPolygonF([QPointF(to_x(s), to_y(v)) for s, v in self._points]))
        line = smoothed(losses)
        painter.setPen(QPen(accent, 2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.drawPolyline(QPolygonF([QPointF(to_x(s), to_y(v)) for s, v in zip(steps, line, strict=True)]))
        painter.setPen(QPen(accent, size + 2.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawPoint(QPointF(to_x(steps[-1]), to_y(losses[-1])))  # the last step, marked
        painter.end()

    def legend(self) -> tuple[str, str]:
        """The legend's two entries: the dots, the line."""
        return tr("reported"), tr("smoothed")

    def _paint_legend(
        self,
        painter: QPainter,
        metrics: QFontMetrics,
        accent: QColor,
        muted: QColor,
        left: float,
        right: float,
        middle: float,
    ) -> QRectF | None:
        dots, line = self.legend()
        needed = 14 + metrics.horizontalAdvance(dots) + 12 + 18 + metrics.horizontalAdvance(line)
        if right - left < needed:
            return None  # too narrow: the tooltip says the same
        x = left
        dot = QColor(accent)
        dot.setAlpha(110)
        painter.setPen(QPen(dot, 4.4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawPoint(QPointF(x + 4, middle))
        painter.setPen(muted)
        painter.drawText(QPointF(x + 12, middle + metrics.ascent() / 2 - 1), dots)
        x += 14 + metrics.horizontalAdvance(dots) + 12
        painter.setPen(QPen(accent, 2))
        painter.drawLine(QPointF(x, middle), QPointF(x + 14, middle))
        painter.setPen(muted)
        painter.drawText(QPointF(x + 18, middle + metrics.ascent() / 2 - 1), line)
        return QRectF(left, middle - metrics.height() / 2, needed, metrics.height())

    def x_labels(self) -> list[tuple[str, QRectF]]:
        """The step axis's labels and where they were painted last."""
        return list(self._x_labels)

    def legend_rect(self) -> QRectF | None:
        """Where the legend was painted last (None when there was no room or no data)."""
        return self._legend_rect
