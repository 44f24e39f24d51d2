"""What opening the library repaired or cleaned reaches the console and a command's stderr (core/library_notes.py): a
good mark a crash interrupted, finished on the next open, and temp files killed writers left."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from actor_trainer.core.events import LogEvent, LogLevel
from actor_trainer.core.library import GOOD_MARK_INTENT, Library
from actor_trainer.core.library_notes import opening_notes
from actor_trainer.core.settings import Settings
from actor_trainer.gui.context import AppContext
from actor_trainer.runtime import Services
from tests.integration.e2e_support import sandbox_config
from tests.library_factory import completed_version, make_library


class Crash(OSError):
    pass


def stale(path: Path) -> Path:
    path.write_bytes(b"half")
    hours_ago = time.time() - 2 * 3600
    os.utime(path, (hours_ago, hours_ago))
    return path


def broken_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A library whose last mark-good was killed between its two writes, with 4 stale temp files."""
    root = make_library(tmp_path / "lib", versions={0: [completed_version("job-2", "V2")]})
    with monkeypatch.context() as m:

        def killed(self: Library, *args: object) -> None:
            raise Crash("killed between the writes")

        m.setattr(Library, "_write_actors", killed)
        with pytest.raises(Crash):
            Library(root).mark_good(0, "V2")
    assert (root / GOOD_MARK_INTENT).exists()
    for name in ("a", "b", "c", "d"):
        stale(root / f".actors.json.{name}1.tmp")
    return root


def test_the_notes_name_the_repair_and_the_removed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notes = opening_notes(Library(broken_library(tmp_path, monkeypatch)))
    assert len(notes) == 2
    assert "V2" in notes[0] and "marked good" in notes[0]
    assert notes[1].startswith("Removed 4 temporary file(s)") and "and 1 more" in notes[1]
    assert opening_notes(Library(tmp_path / "lib")) == []  # nothing left to say on the next open


def test_the_console_is_told_what_opening_the_library_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot: Any
) -> None:
    services = Services(sandbox_config(broken_library(tmp_path, monkeypatch)))
    said: list[tuple[LogLevel, str]] = []
    services.events.subscribe(lambda e: said.append((e.level, e.message)) if isinstance(e, LogEvent) else None)
    AppContext(Settings(), services.config, services)
    warnings = [m for level, m in said if level is LogLevel.WARNING]
    assert any("V2" in m and "marked good" in m for m in warnings), said
    assert any(m.startswith("Removed 4 temporary file(s)") for m in warnings), said


def test_a_command_says_it_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    root = broken_library(tmp_path, monkeypatch)
    done = subprocess.run(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(root), "actors", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "note: " in done.stderr and "V2" in done.stderr and "Removed 4 temporary file(s)" in done.stderr
    assert "Removed" not in done.stdout  # stdout stays the JSON
