"""Issue 10, item 12: Help → User guide opens docs/user-guide.md in the app, with its screenshots,
and every screenshot it shows is one scripts/make_screenshots.py makes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from actor_trainer.gui.context import AppContext
from actor_trainer.gui.shell.main_window import MainWindow
from actor_trainer.gui.shell.user_guide import UserGuideDialog, user_guide_path
from tests.gui.test_main_window import window_opener
from tests.waits import QT_WAIT_MS

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "user-guide.md"
SECTIONS = (
    "First start",
    "Choosing an actor",
    "Parameters and Auto-adjust",
    "tunnel and the webhook modes",
    "A run",
    "Versions and Mark as good",
    "Samples, Compare and Try",
    "real RunPod endpoint",
    "S3 bucket",
    "ngrok account",
    "What each error means",
)


@pytest.fixture
def open_window(light_ctx: AppContext, qtbot: QtBot) -> Iterator[Callable[..., MainWindow]]:
    yield from window_opener(light_ctx, qtbot)


def test_help_user_guide_opens_the_guide_with_its_pictures(
    open_window: Callable[..., MainWindow], qtbot: QtBot
) -> None:
    window = open_window()
    action = window.actions_.user_guide
    assert action is not None and action.text() == "User guide"
    assert action in window.menuBar().actions()[-1].menu().actions()  # in the Help menu
    action.trigger()
    dialog = window.findChild(UserGuideDialog)
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=QT_WAIT_MS)
    assert dialog.path == GUIDE == user_guide_path()
    headings = dialog.headings()
    for section in SECTIONS:
        assert any(section in h for h in headings), (section, headings)
    image = dialog.browser.document().resource(
        QTextDocument.ResourceType.ImageResource, QUrl("screenshots/guide-auto-adjust.png")
    )
    assert image is not None and not image.isNull()
    action.trigger()  # a second time: the same dialog comes forward, no second one
    assert len([w for w in QApplication.topLevelWidgets() if isinstance(w, UserGuideDialog) and w.isVisible()]) == 1
    dialog.reject()


def test_a_missing_guide_says_where_it_was_looked_for(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actor_trainer.gui.shell import user_guide

    nowhere = tmp_path / "docs" / "user-guide.md"
    monkeypatch.setattr(user_guide, "guide_candidates", lambda: [nowhere])  # an install without docs/
    dialog = UserGuideDialog()
    qtbot.addWidget(dialog)
    assert dialog.path is None and not dialog.open_button.isEnabled()
    assert "not part of this installation" in dialog.missing.text() and str(nowhere) in dialog.missing.text()


def test_every_picture_in_the_guide_exists_and_is_made_by_the_script() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\((screenshots/[^)]+)\)", text)
    assert len(pictures) >= 7
    script = (ROOT / "scripts" / "make_screenshots.py").read_text(encoding="utf-8")
    for picture in pictures:
        assert (GUIDE.parent / picture).is_file(), picture
        assert f'"{Path(picture).name}"' in script, picture
    assert "../shared" not in text
