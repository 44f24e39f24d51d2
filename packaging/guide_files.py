"""The files Help → User guide needs in a frozen build: docs/user-guide.md and what it links to.

The guide is rendered in the app from `<bundle>/docs/user-guide.md` (actor_trainer/gui/shell/
user_guide.py; the bundle's folder is `sys._MEIPASS`), with its pictures from `docs/screenshots/`,
and its links to other pages of docs/ open in the same window. So the bundle holds the guide and
every file of docs/ it links to, followed through the pages it links to (links out of docs/ and to
web pages are not bundled). Used by packaging/actor-trainer.spec (what to bundle) and
packaging/linux/check_packages.py (that it was). Standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = "user-guide.md"
#: where the guide's folder goes in the bundle (relative to sys._MEIPASS), as user_guide.py looks
BUNDLE_FOLDER = "docs"
_LINK = re.compile(r"\]\(\s*<?([^)#\s>]+)")


def guide_files(docs: Path) -> tuple[list[Path], list[str]]:
    """(the guide's files, relative to `docs`; the links it makes to files of docs/ that do not exist)."""
    docs = docs.resolve()
    found: list[Path] = []
    missing: list[str] = []
    todo = [docs / GUIDE]
    while todo:
        page = todo.pop()
        relative = page.relative_to(docs)
        if relative in found:
            continue
        if not page.is_file():
            missing.append(relative.as_posix())
            continue
        found.append(relative)
        if page.suffix != ".md":
            continue
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            path = (page.parent / target).resolve()
            if path == docs or docs not in path.parents:
                continue  # outside docs/: not part of the guide
            todo.append(path)
    return sorted(found), sorted(set(missing))
