"""Issue 10, item 11: right after Mark as good the row shows the good mark; the button is
disabled on the good version; a good version can be unmarked (GUI and CLI), registry updated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from actor_trainer.gui.context import AppContext
from actor_trainer.gui.versions.versions_model import Column
from tests.gui.test_versions_panel import button, cell, choose, make_panel, static_history, write_versions
from tests.library_factory import completed_version, make_library
from tests.waits import QT_WAIT_MS


def validated(ctx: AppContext) -> dict[str, Any] | None:
    actors = json.loads(ctx.library.actors_file.read_text(encoding="utf-8"))
    return next(a for a in actors if a["id"] == 0)["validated_lora_model"]


def test_mark_shows_at_once_disables_and_unmark_takes_it_off(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())
    light_ctx.library.mark_good(0, "job-1")
    panel = make_panel(qtbot, light_ctx)
    panel.version_actions.confirm = lambda _title, _question: True
    choose(qtbot, light_ctx, panel, 0)
    panel.select_version("V3")
    mark, unmark = button(panel, "markGood"), button(panel, "unmarkGood")
    assert mark.isEnabled() and not unmark.isVisible()

    # The row says "good" when Mark as good answers, without waiting for the library's events.
    seen: list[str] = []
    panel.version_actions.markedGood.connect(lambda _a, _v: seen.append(cell(panel, 0, Column.NAME)))
    with qtbot.waitSignal(panel.version_actions.markedGood, timeout=QT_WAIT_MS):
        qtbot.mouseClick(mark, Qt.MouseButton.LeftButton)
    qtbot.wait(0)
    assert cell(panel, 0, Column.NAME) == "V3  ✓ Good"
    assert cell(panel, 2, Column.NAME) == "V1"  # the mark moved: one good version

    assert not mark.isEnabled() and unmark.isVisible() and unmark.isEnabled()
    assert validated(light_ctx)["version_id"] == "job-3"  # type: ignore[index]

    with qtbot.waitSignal(panel.version_actions.unmarkedGood, timeout=QT_WAIT_MS):
        qtbot.mouseClick(unmark, Qt.MouseButton.LeftButton)
    qtbot.wait(0)
    assert cell(panel, 0, Column.NAME) == "V3"
    assert not panel.details.good_badge.isVisible()
    assert mark.isEnabled() and not unmark.isVisible()
    assert validated(light_ctx) is None  # the registry no longer names a validated model
    on_disk = json.loads(light_ctx.library.versions_file(0).read_text())["versions"]
    assert not any(v["isGood"] for v in on_disk)
    qtbot.waitUntil(
        lambda: light_ctx.summary(0) is not None and light_ctx.summary(0).actor.validated_lora_model is None,
        timeout=QT_WAIT_MS,
    )  # type: ignore[union-attr]
    assert seen and seen[0] == "V3  ✓ Good"


def test_the_version_column_makes_room_for_a_new_good_badge(qtbot: QtBot, light_ctx: AppContext) -> None:
    write_versions(light_ctx, 0, static_history())  # no version is good yet: the column fits "V3"
    panel = make_panel(qtbot, light_ctx)
    choose(qtbot, light_ctx, panel, 0)
    panel.select_version("V3")
    header = panel.table.horizontalHeader()
    before = header.sectionSize(Column.NAME)
    with qtbot.waitSignal(panel.version_actions.markedGood, timeout=QT_WAIT_MS):
        qtbot.mouseClick(button(panel, "markGood"), Qt.MouseButton.LeftButton)
    qtbot.wait(0)
    assert header.sectionSize(Column.NAME) >= panel.table.sizeHintForColumn(Column.NAME) > before


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def test_cli_mark_good_unmark(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", versions={0: [completed_version("job-1-e1", "V1")]})
    assert run_cli("--data-dir", str(lib), "mark-good", "0", "V1").returncode == 0
    result = run_cli("--data-dir", str(lib), "mark-good", "0", "v1", "--unmark")
    assert result.returncode == 0, result.stderr
    assert "V1 is no longer marked good" in result.stderr
    actors = json.loads((lib / "actors.json").read_text())
    assert actors[0]["validated_lora_model"] is None
    saved = json.loads((lib / "actor_training_versions" / "0000.json").read_text())["versions"][0]
    assert saved["isGood"] is False
    again = run_cli("--data-dir", str(lib), "mark-good", "0", "V1", "--unmark")
    assert again.returncode == 0 and "was not marked good; nothing changed" in again.stderr
