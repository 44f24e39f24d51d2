"""Help → User guide: docs/user-guide.md rendered in the app (a QTextBrowser reading Markdown,
its screenshots from docs/screenshots/), with a button to open the file in the system's viewer.

The guide is found beside the package in a checkout (`<repository>/docs`), or in a frozen build's
bundle (`<bundle>/docs`, when the packaging adds it). When it is missing the dialog says so and
where it was looked for, instead of showing nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from actor_trainer.gui.i18n import tr

GUIDE_NAME = "user-guide.md"


def guide_candidates() -> list[Path]:
    """Where the user guide may be, in the order looked at."""
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "docs" / GUIDE_NAME)
    candidates.append(Path(__file__).resolve().parents[3] / "docs" / GUIDE_NAME)
    return candidates


def user_guide_path() -> Path | None:
    return next((p for p in guide_candidates() if p.is_file()), None)


class UserGuideDialog(QDialog):
    """The user guide, readable in the app; links to web pages open in the browser."""

    def __init__(self, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userGuide")
        self.setWindowTitle(tr("User guide"))
        self.path = path if path is not None else user_guide_path()
        self.browser = QTextBrowser(self)
        self.browser.setObjectName("userGuideText")
        self.browser.setOpenExternalLinks(True)
        self.missing = QLabel(self)
        self.missing.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.missing)
        layout.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.open_button = buttons.addButton(tr("Open the file"), QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_file)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if self.path is not None:
            self.browser.setSearchPaths([str(self.path.parent)])
            self.browser.setSource(QUrl.fromLocalFile(str(self.path)), QTextDocument.ResourceType.MarkdownResource)
            self.missing.hide()
        else:
            self.browser.hide()
            self.open_button.setEnabled(False)
            self.missing.setText(
                tr(
                    "The user guide is not part of this installation (looked in: {places}). "
                    "It is docs/user-guide.md in Actor Trainer's source."
                ).format(places=", ".join(str(p) for p in guide_candidates()))
            )
        self.resize(900, 720)

    def headings(self) -> list[str]:
        """The guide's section titles, as rendered (for tests and a quick look)."""
        document = self.browser.document()
        found = []
        block = document.begin()
        while block.isValid():
            if block.blockFormat().headingLevel() in (1, 2):
                found.append(block.text())
            block = block.next()
        return found

    def open_file(self) -> None:
        if self.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.path)))
