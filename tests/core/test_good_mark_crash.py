"""`mark-good` changes two files; a crash between the writes is finished on the next open (issue 9,
item 15). The crash is simulated by making the second (or first) write raise, as a killed process
or a full disk would stop it, then the library is opened again as the next process would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.core.library import GOOD_MARK_INTENT, Library
from tests.library_factory import completed_version, make_library


class Crash(OSError):
    pass


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_library(
        tmp_path / "lib", versions={0: [completed_version("job-2", "V2"), completed_version("job-1", "V1")]}
    )
    Library(root).mark_good(0, "job-1")
    return root


def state(root: Path) -> tuple[list[str], str | None]:
    library = Library(root)
    good = [v.name for v in library.load_versions(0) if v.isGood]
    model = library.get_actor(0).validated_lora_model
    return good, model.version_name if model else None


def crash_on(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    def boom(self: Library, *args: object) -> None:
        raise Crash("killed between the writes")

    monkeypatch.setattr(Library, method, boom)


def test_a_crash_between_the_two_writes_is_finished_on_the_next_open(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        crash_on(m, "_write_actors")  # the versions file is written, actors.json is not
        with pytest.raises(Crash):
            Library(root).mark_good(0, "V2")
    # What a reader without the repair would see: the two files disagree.
    assert '"isGood": true' in (root / "actor_training_versions" / "0000.json").read_text().replace("\n", "")
    assert (root / GOOD_MARK_INTENT).exists()

    reopened = Library(root)
    assert len(reopened.repaired) == 1 and "V2" in reopened.repaired[0] and "marked good" in reopened.repaired[0]
    assert not (root / GOOD_MARK_INTENT).exists()
    assert state(root) == (["V2"], "V2")
    assert Library(root).repaired == []  # nothing left to repair


def test_a_crash_before_any_write_finishes_the_recorded_change(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        crash_on(m, "_write_versions")
        with pytest.raises(Crash):
            Library(root).mark_good(0, "V2")
    assert state(root) == (["V2"], "V2")  # opening (inside `state`) finished it


def test_unmark_is_crash_safe_too(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        crash_on(m, "_write_actors")
        with pytest.raises(Crash):
            Library(root).unmark_good(0, "V1")
    reopened = Library(root)
    assert reopened.repaired and "unmarked" in reopened.repaired[0]
    assert state(root) == ([], None)


def test_the_next_mark_finishes_a_pending_one_first(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = Library(root)  # opened before the crash: it never saw the intent at open
    with monkeypatch.context() as m:
        crash_on(m, "_write_actors")
        with pytest.raises(Crash):
            Library(root).mark_good(0, "V2")
    library.mark_good(0, "V1")
    assert library.repaired and "V2" in library.repaired[0]
    assert state(root) == (["V1"], "V1") and not (root / GOOD_MARK_INTENT).exists()


def test_the_cli_reports_what_it_repaired(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        crash_on(m, "_write_actors")
        with pytest.raises(Crash):
            Library(root).mark_good(0, "V2")
    result = subprocess.run(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(root), "versions", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert "Finished an interrupted change: V2" in result.stderr
    assert state(root) == (["V2"], "V2")
