"""The loss chart: its bounded history, its ticks and smoothing, and what it paints."""

from __future__ import annotations

import math

import pytest
from PySide6.QtGui import QColor, QImage, QPalette
from pytestqt.qtbot import QtBot

from actor_trainer.gui.console.loss_chart import MAX_POINTS_PER_RUN, LossChart, LossHistory, nice_ticks, smoothed

ACCENT = QColor("#ff0000")


def render(chart: LossChart) -> QImage:
    return chart.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def count_near(image: QImage, colour: QColor, tolerance: int = 40) -> int:
    found = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            pixel = image.pixelColor(x, y)
            if (
                abs(pixel.red() - colour.red())
                + abs(pixel.green() - colour.green())
                + abs(pixel.blue() - colour.blue())
            ) <= tolerance:
                found += 1
    return found


def make_chart(qtbot: QtBot, *, dark: bool = False) -> LossChart:
    chart = LossChart()
    qtbot.addWidget(chart)
    palette = chart.palette()
    palette.setColor(QPalette.ColorRole.Highlight, ACCENT)
    if dark:
        palette.setColor(QPalette.ColorRole.Base, QColor("#1b1d20"))
        palette.setColor(QPalette.ColorRole.Text, QColor("#e4e6ea"))
    chart.setPalette(palette)
    chart.resize(360, 160)
    return chart


def test_history_keeps_new_finite_points_per_run() -> None:
    history = LossHistory()
    assert history.add(0, "job-1", 1, 0.5)
    assert not history.add(0, "job-1", 1, 0.4)  # the same step polled twice
    assert not history.add(0, "job-1", None, 0.4)
    assert not history.add(0, "job-1", 2, None)
    assert not history.add(0, "job-1", 2, math.nan)
    assert history.add(0, "job-1", 3, 0.45)
    assert history.points(0, "job-1") == [(1, 0.5), (3, 0.45)]
    assert history.points(1, "job-1") == []


def test_history_is_bounded() -> None:
    history = LossHistory(max_points=100, max_runs=3)
    for step in range(1, 1001):
        history.add(0, "long", step, 1.0 / step)
    points = history.points(0, "long")
    assert len(points) == 100 and points[-1][0] == 1000
    for run in ("a", "b", "c"):
        history.add(0, run, 1, 0.3)
    assert history.points(0, "long") == []  # the least recently updated run went first
    assert history.points(0, "c") == [(1, 0.3)]


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 400, 4) == [0, 100, 200, 300, 400]
    ticks = nice_ticks(0.31, 0.53, 3)
    assert ticks and all(0.31 <= t <= 0.53 for t in ticks)
    assert all(round(t * 20, 9).is_integer() for t in ticks)  # multiples of 0.05 at most
    assert nice_ticks(1, 1) == [1]


def test_smoothing_starts_at_the_first_value_and_keeps_a_constant() -> None:
    assert smoothed([0.5])[0] == pytest.approx(0.5)
    assert smoothed([0.3] * 5) == pytest.approx([0.3] * 5)
    line = smoothed([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    assert max(line) - min(line) < 1.0  # noise is damped


def test_empty_chart_says_so_and_draws_no_line(qtbot: QtBot) -> None:
    chart = make_chart(qtbot)
    assert chart.empty_text() == "No loss reported yet"
    assert chart.toolTip() == "No loss reported yet"
    assert count_near(render(chart), ACCENT) == 0
    chart.set_empty_text("No run to show")
    assert chart.toolTip() == "No run to show"


@pytest.mark.parametrize("dark", [False, True])
def test_points_are_drawn_on_the_palette(qtbot: QtBot, dark: bool) -> None:
    chart = make_chart(qtbot, dark=dark)
    for step in range(1, 41):
        chart.add_point(step, 0.6 - step * 0.005, total=400)
    chart.add_point(10, 9.0)  # older than the last step: ignored
    assert len(chart.points()) == 40
    image = render(chart)
    assert count_near(image, ACCENT) > 20
    base = chart.palette().color(QPalette.ColorRole.Base)
    assert count_near(image, base, tolerance=6) > image.width() * image.height() / 8  # mostly background
    assert "latest 0.4000 at step 40" in chart.toolTip() or "40 loss reports" in chart.toolTip()


def test_the_chart_keeps_at_most_the_bound(qtbot: QtBot) -> None:
    chart = make_chart(qtbot)
    chart.set_points([(s, 1.0) for s in range(1, MAX_POINTS_PER_RUN + 500)])
    assert len(chart.points()) == MAX_POINTS_PER_RUN
    chart.add_point(MAX_POINTS_PER_RUN + 1000, 0.5)
    assert len(chart.points()) == MAX_POINTS_PER_RUN and chart.points()[-1] == (MAX_POINTS_PER_RUN + 1000, 0.5)
    render(chart)  # paints 5,000 points without error
