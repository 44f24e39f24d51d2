"""The whole app as a process, offscreen: it starts, shows its window and quits cleanly; a second
launch on the same library raises the first and exits; broken files end in a clear message."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.library_factory import make_library

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 60


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)  # the per-test HOME/XDG folders of tests/conftest.py
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ACTOR_TRAINER_QUIT_AFTER_S", None)
    env.update(extra)
    return env


def _command(library: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "actor_trainer", "--data-dir", str(library), *more]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    source = make_library(tmp_path / "made")
    copy = tmp_path / "library"
    shutil.copytree(source, copy)
    return copy


def _run(library: Path, *more: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(library, *more), cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=LIMIT_S
    )


def _log_dir() -> Path:
    from actor_trainer.core.settings import log_dir

    return log_dir()


@pytest.mark.slow
def test_app_starts_shows_its_window_and_quits_cleanly(library: Path) -> None:
    done = _run(library, ACTOR_TRAINER_QUIT_AFTER_S="3")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "Error" not in done.stderr and "ERROR" not in done.stderr
    log = (_log_dir() / "actor-trainer.log").read_text(encoding="utf-8")
    assert "window shown" in log
    assert "shut down cleanly" in log
    from actor_trainer.gui.shell.main_window import window_settings_path

    assert window_settings_path().is_file()  # the window was closed the normal way: layout saved


class _Reader:
    """Collects a process's stderr lines on a thread, so the test can wait for one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        assert process.stderr is not None
        self._stream = process.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def text(self) -> str:
        self._thread.join(5)
        return "".join(self.lines)


@pytest.fixture
def first_instance(library: Path) -> Iterator[tuple[subprocess.Popen[str], _Reader]]:
    process = subprocess.Popen(
        _command(library, "-v"),
        cwd=ROOT,
        env=_env(ACTOR_TRAINER_QUIT_AFTER_S="45"),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    reader = _Reader(process)
    try:
        yield process, reader
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM ends a process at once on Windows")
def test_second_launch_raises_the_first_and_exits(
    library: Path, first_instance: tuple[subprocess.Popen[str], _Reader]
) -> None:
    first, reader = first_instance
    assert reader.wait_for("window shown", LIMIT_S), reader.text()

    second = _run(library, ACTOR_TRAINER_QUIT_AFTER_S="3")
    assert second.returncode == 0, second.stderr
    assert "already open" in second.stderr
    assert "brought to the front" in second.stderr
    assert reader.wait_for("asked this window to come to the front", 10)

    # The first one is still running, and SIGTERM shuts it down in order.
    assert first.poll() is None
    first.send_signal(signal.SIGTERM)
    assert first.wait(LIMIT_S) == 0
    stderr = reader.text()
    assert "shut down cleanly" in stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_a_crashed_instance_does_not_block_the_next_launch(
    library: Path, first_instance: tuple[subprocess.Popen[str], _Reader]
) -> None:
    first, reader = first_instance
    assert reader.wait_for("window shown", LIMIT_S), reader.text()
    first.kill()  # no clean-up: its socket file stays behind
    first.wait(10)

    again = _run(library, ACTOR_TRAINER_QUIT_AFTER_S="0.5")
    assert again.returncode == 0, again.stderr
    assert "already open" not in again.stderr
    assert "Traceback" not in again.stderr


def test_corrupt_actors_json_exits_1_naming_the_file(library: Path) -> None:
    actors = library / "actors.json"
    actors.write_text('[{"id": 0, "name": ', encoding="utf-8")
    done = _run(library, ACTOR_TRAINER_QUIT_AFTER_S="3")
    assert done.returncode == 1
    assert str(actors) in done.stderr
    assert "not valid JSON" in done.stderr
    assert "Restore it from a backup or fix it by hand" in done.stderr
    assert "Traceback" not in done.stderr
    assert actors.read_text(encoding="utf-8") == '[{"id": 0, "name": '  # left untouched


def test_corrupt_settings_file_exits_1_naming_the_file(library: Path) -> None:
    from actor_trainer.core.settings import Settings

    path = Settings.path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"poll_seconds": "often"}', encoding="utf-8")
    done = _run(library, ACTOR_TRAINER_QUIT_AFTER_S="3")
    assert done.returncode == 1
    assert str(path) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_folder_that_is_not_a_library_exits_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _run(empty, ACTOR_TRAINER_QUIT_AFTER_S="3")
    assert done.returncode == 1
    assert "is not an Actor Trainer library" in done.stderr
    assert "Traceback" not in done.stderr
