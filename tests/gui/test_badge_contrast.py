"""Issue 10, item 11: badges keep WCAG AA contrast (≥ 4.5:1) in the light and the dark theme:
each state's word on its pill, the ✓ Good mark, and the selector's poster badges."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from actor_trainer.core.models import VersionStatus
from actor_trainer.gui.selector import poster_delegate
from actor_trainer.gui.shell.theme import build_palette
from actor_trainer.gui.widgets.status_style import (
    MIN_CONTRAST,
    badge_fill,
    contrast_ratio,
    good_colour,
    good_text,
    make_badge,
    status_colour,
)


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert contrast_ratio(QColor("black"), QColor("white")) == pytest.approx(21.0)
    assert contrast_ratio(QColor("#777777"), QColor("white")) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio(QColor("#2e7d32"), QColor("white")) == pytest.approx(5.13, abs=0.01)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_badge_word_is_readable_on_its_pill(qapp: QApplication, dark: bool) -> None:
    palette = build_palette(dark)
    colours = {status.value: status_colour(status, palette) for status in VersionStatus}
    colours["good"] = good_colour(palette)
    for name, colour in colours.items():
        fill = badge_fill(colour, palette)
        ratio = contrast_ratio(colour, fill)
        assert ratio >= MIN_CONTRAST, f"{name}: {colour.name()} on {fill.name()} is {ratio:.2f}:1"
        # The word also reads on the window itself (the Start reason, the console strip).
        assert contrast_ratio(colour, palette.color(QPalette.ColorRole.Window)) >= MIN_CONTRAST, name


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_painted_good_badge_has_the_computed_fill(qapp: QApplication, dark: bool) -> None:
    palette = build_palette(dark)
    badge = make_badge(good_text(), good_colour(palette))
    badge.setPalette(palette)
    badge.resize(badge.sizeHint())
    image = badge.grab().toImage()
    inside = QColor(image.pixel(badge.width() // 2, 3))  # inside the pill, above the word
    expected = badge_fill(good_colour(palette), palette)
    assert abs(inside.red() - expected.red()) <= 2 and abs(inside.green() - expected.green()) <= 2
    assert contrast_ratio(good_colour(palette), inside) >= MIN_CONTRAST


def test_poster_badges_keep_contrast_in_either_theme() -> None:
    # White words on solid fills painted over the poster: the same in both themes.
    for colour in (
        poster_delegate.GOOD_COLOR,
        poster_delegate.WARNING_COLOR,
        poster_delegate.INFO_COLOR,
        poster_delegate.UNKNOWN_COLOR,
    ):
        assert contrast_ratio(poster_delegate.BADGE_TEXT_COLOR, colour) >= MIN_CONTRAST, colour.name()
