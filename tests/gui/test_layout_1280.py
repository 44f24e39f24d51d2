"""Issue 10, item 8: the window at 1280×720 (light and dark) and Settings on a 1366×768 screen.

The window is rendered offscreen and saved as PNG (in the test's tmp folder) — the pictures were
looked at while this was written; the assertions check what was seen: a minimum size that fits,
no label lying over another, "All but debug" whole, the versions' main columns in view without
sideways scrolling, and a Settings dialog that fits and scrolls with no label cut."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication, QFormLayout, QLabel, QWidget
from pytestqt.qtbot import QtBot

from actor_trainer.gui.context import AppContext
from actor_trainer.gui.settings.settings_dialog import SettingsDialog
from actor_trainer.gui.shell.main_window import MainWindow
from actor_trainer.gui.shell.theme import ThemeManager
from actor_trainer.gui.versions.versions_panel import MAIN_COLUMNS
from tests.gui.test_main_window import window_opener
from tests.gui.test_versions_panel import static_history, write_versions
from tests.waits import QT_WAIT_MS


@pytest.fixture
def open_window(light_ctx: AppContext, qtbot: QtBot) -> Iterator[Callable[..., MainWindow]]:
    yield from window_opener(light_ctx, qtbot)


def overlapping_labels(root: QWidget) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty sibling labels whose rectangles intersect."""
    found = []
    labels = [w for w in root.findChildren(QLabel) if w.isVisible() and (w.text() or w.pixmap() is not None)]
    by_parent: dict[int, list[QLabel]] = {}
    for label in labels:
        by_parent.setdefault(id(label.parentWidget()), []).append(label)
    for siblings in by_parent.values():
        for i, a in enumerate(siblings):
            for b in siblings[i + 1 :]:
                if a.geometry().intersects(b.geometry()):
                    found.append((a.text()[:30], b.text()[:30]))
    return found


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_window_works_at_1280x720(
    open_window: Callable[..., MainWindow], light_ctx: AppContext, qtbot: QtBot, tmp_path: Path, dark: bool
) -> None:
    app = QApplication.instance()
    theme = ThemeManager(app, "dark" if dark else "light")  # type: ignore[arg-type]
    write_versions(light_ctx, 0, static_history())
    window = open_window(theme=theme)
    window.resize(1280, 720)
    light_ctx.select_actor(0)
    qtbot.waitUntil(lambda: window.versions.model.rowCount() == 3, timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: window.size() == QSize(1280, 720), timeout=QT_WAIT_MS)

    minimum = window.minimumSize().expandedTo(window.minimumSizeHint())
    assert minimum.width() <= 1280 and minimum.height() <= 720, minimum
    assert window.minimumSize().width() >= 1000  # a minimum is set: the layout is never squeezed below it
    window.grab().save(str(tmp_path / "console.png"))
    assert overlapping_labels(window) == []

    levels = window.console.log.levels_button
    assert levels.text() == "All but debug"
    assert levels.fontMetrics().horizontalAdvance(levels.text()) + 24 <= levels.width()

    window.show_versions()
    qtbot.waitUntil(lambda: window.versions.table.isVisible(), timeout=QT_WAIT_MS)
    window.grab().save(str(tmp_path / "versions.png"))
    table = window.versions.table
    header = table.horizontalHeader()
    right = max(header.sectionViewportPosition(c) + header.sectionSize(c) for c in MAIN_COLUMNS)
    assert header.offset() == 0 and right <= table.viewport().width(), (right, table.viewport().width())
    assert overlapping_labels(window) == []
    theme.set_mode("light")  # the app palette is global: later tests see the light theme again


def test_settings_fit_a_1366x768_screen_and_scroll(light_ctx: AppContext, qtbot: QtBot, tmp_path: Path) -> None:
    dialog = SettingsDialog(light_ctx)
    qtbot.addWidget(dialog)
    dialog.fit_to(QSize(1366, 768))
    dialog.show()
    qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
    # a test result that wraps to several lines must not make it outgrow the screen either
    dialog.tunnel_result.setText("✗ " + "There is no public URL to deliver through: the tunnel is not running. " * 3)
    dialog.scroll_area.ensureWidgetVisible(dialog.tunnel_result)
    qtbot.wait(50)  # a layout pass
    dialog.grab().save(str(tmp_path / "settings.png"))
    assert dialog.height() <= 768 - 60 and dialog.width() <= 1366
    content = dialog.content
    for form in content.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            label = item.widget() if item is not None else None
            if isinstance(label, QLabel) and label.text():
                assert label.width() >= label.sizeHint().width(), f"{label.text()!r} is cut"
    for note in content.findChildren(QLabel):
        if note.isVisible() and note.wordWrap() and note.text():
            assert note.heightForWidth(note.width()) <= note.height() + 1, f"{note.text()[:40]!r} is cut"
    prices = tuple(dialog.gpu_prices.boxes.values())  # the GPU prices table, below the other sections
    for field in (dialog.secret_key.edit, dialog.api_key.edit, dialog.ngrok_token.edit, dialog.bucket, *prices):
        assert field.height() >= field.sizeHint().height(), "a field is collapsed"
    for price in prices:
        assert price.width() >= price.sizeHint().width(), f"{price.text()!r} is cut"
    bar = dialog.scroll_area.verticalScrollBar()
    if content.height() > dialog.scroll_area.viewport().height():
        assert bar.maximum() > 0
    button = dialog.tunnel_test_button
    assert "starts the tunnel" in button.text()
    dialog.reject()
