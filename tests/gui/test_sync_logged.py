"""Issue 10, item 11: a sync is logged in the console and in console.log: the start, the counts,
the bytes, the time and each failure."""

from __future__ import annotations

import re
from pathlib import Path

from pytestqt.qtbot import QtBot

from actor_trainer.gui.console.console_panel import ConsolePanel
from actor_trainer.gui.context import AppContext
from tests.library_factory import write_png
from tests.waits import QT_WAIT_MS


def test_sync_is_logged_in_the_console_and_the_file(light_ctx: AppContext, qtbot: QtBot, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "console.log"
    console = ConsolePanel(light_ctx, log_path=log_file)
    qtbot.addWidget(console)
    console.show()
    light_ctx.select_actor(0)
    folder = Path(light_ctx.library.training_data_folder(0))
    write_png(folder / "new-one.png", size=96)
    write_png(folder / "new-two.png", size=80)

    light_ctx.sync_now(0)  # what "Sync now" does
    lines = lambda: [line.message for line in console.visible_lines()]  # noqa: E731
    qtbot.waitUntil(lambda: any(m.startswith("Sync: uploaded") for m in lines()), timeout=QT_WAIT_MS)
    start = next(m for m in lines() if m.startswith("Syncing "))
    assert re.match(r"Syncing 8 training image\(s\) \(\d+(\.\d+)? (KB|kB|B|MB)\) with the bucket…", start), start
    end = next(m for m in lines() if m.startswith("Sync: uploaded"))
    done = r"Sync: uploaded 2 file\(s\) \(\d+(\.\d+)? (KB|kB|B|MB)\), 6 already there, in \d+\.\d s$"
    assert re.match(done, end), end

    # A failure names the file: the scan lists a picture that is gone by the time it is uploaded.
    write_png(folder / "vanishing.png")
    scan = light_ctx.library.scan_training_data(0)
    (folder / "vanishing.png").unlink()
    task = light_ctx.tasks.start("stale-sync", light_ctx.services.sync.sync(0, scan=scan))
    qtbot.waitUntil(task.done, timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: any("FAILED" in m for m in lines()), timeout=QT_WAIT_MS)
    assert any(m.strip().startswith("vanishing.png:") for m in lines())

    console.log._file_log.close()
    written = log_file.read_text(encoding="utf-8")
    for text in (start, end, "1 FAILED", "vanishing.png:"):
        assert text in written
