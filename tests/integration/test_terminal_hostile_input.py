"""Hostile names and texts at the terminal (issue 9, item 16): control characters in file names,
actor names and server text are shown as visible escapes; `actors --json | head -1` ends quietly;
a symlinked lock file gives a sentence; names too long for a request are refused. Real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.commands.output import clean, say
from tests.library_factory import completed_version, make_library, write_png

RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\x00")
EVIL = "bad\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil"


def cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        **kwargs,
    )  # type: ignore[call-overload]


def no_raw_controls(text: str) -> bool:
    return not any(c in text for c in RAW_CONTROLS)


def test_say_and_clean_show_control_characters_as_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    say(f"server said: {EVIL}\nsecond line\tindented")
    err = capsys.readouterr().err
    assert no_raw_controls(err)
    assert "\\x1b]0;pwned\\x07" in err and "\\x9b" in err and "\\u202e" in err
    assert "second line\tindented" in err  # newlines and tabs are kept
    assert clean("plain text ünïcode") == "plain text ünïcode"


def test_file_and_actor_names_with_control_characters(tmp_path: Path) -> None:
    actors = [
        {
            "id": 0,
            "name": f"0000_{EVIL}",
            "sex": "male",
            "ethnicity": "x",
            "age": 30,
            "description": "",
            "validated_lora_model": None,
        }
    ]
    lib = make_library(
        tmp_path / "lib", actors=actors, images={0: 2}, versions={0: [completed_version("job-\x1b[31m1", "V1")]}
    )
    data = lib / "actors" / "0000" / "training_data"
    write_png(data / "pic\x1b[2J.png")
    (data / "notes\x1b]0;x\x07.bin").write_bytes(b"x")
    for args in (("actors", "--local"), ("sync", "0"), ("versions", "0"), ("train", "0", "--dry-run")):
        result = cli("--data-dir", str(lib), *args)
        assert no_raw_controls(result.stdout) and no_raw_controls(result.stderr), (args, result.stderr)
    listing = cli("--data-dir", str(lib), "actors", "--local")
    assert "\\x1b]0;pwned\\x07" in listing.stdout
    synced = cli("--data-dir", str(lib), "sync", "0")
    assert "notes\\x1b]0;x\\x07.bin" in synced.stderr
    documents = cli("--data-dir", str(lib), "actors", "--json", "--local")
    assert no_raw_controls(documents.stdout)
    assert json.loads(documents.stdout)[0]["name"] == f"0000_{EVIL}"  # the JSON value is exact


def test_actors_json_into_head_ends_without_a_traceback(tmp_path: Path) -> None:
    many = [
        {
            "id": i,
            "name": f"{i:04d}_actor_{'x' * 200}",
            "sex": "male",
            "ethnicity": "x",
            "age": 30,
            "description": "d" * 300,
            "validated_lora_model": None,
        }
        for i in range(2000)
    ]
    lib = make_library(tmp_path / "lib", actors=many, images={})
    # Much more than a pipe holds: the command is still writing when the reader goes away.
    proc = subprocess.Popen(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), "actors", "--json", "--local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == b"["
    proc.stdout.close()  # what `head -1` does
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert code == 141
    shell = subprocess.run(
        f"'{sys.executable}' -m actor_trainer --data-dir '{lib}' actors --json --local | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert shell.stdout == "[\n" and "Traceback" not in shell.stderr


def test_a_symlinked_lock_file_is_a_sentence_and_its_target_is_untouched(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", versions={0: [completed_version("job-1", "V1")]})
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (lib / ".actor-trainer.lock").symlink_to(target)
    result = cli("--data-dir", str(lib), "mark-good", "0", "V1")
    assert result.returncode == 1
    assert "lock file" in result.stderr and "is a symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text() == "keep me"
    dangling = tmp_path / "lib2"
    make_library(dangling, versions={0: [completed_version("job-1", "V1")]})
    (dangling / ".actor-trainer.lock").symlink_to(tmp_path / "would-be-created")
    result = cli("--data-dir", str(dangling), "mark-good", "0", "V1")
    assert result.returncode == 1 and "is a symbolic link" in result.stderr
    assert not (tmp_path / "would-be-created").exists()
    # The training queue's lock too.
    queue_lib = make_library(tmp_path / "lib3", images={0: 2})
    (queue_lib / ".training_queue.json.lock").symlink_to(target)
    queued = cli("--data-dir", str(queue_lib), "queue", "add", "0")
    assert queued.returncode == 1 and "is a symbolic link" in queued.stderr and "Traceback" not in queued.stderr
    assert target.read_text() == "keep me"


def test_names_too_long_for_a_request_are_refused(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 2})
    long_trigger = cli("--data-dir", str(lib), "train", "0", "--dry-run", "--trigger", "t" * 500)
    assert long_trigger.returncode == 1 and "longer than 200 characters" in long_trigger.stderr
    assert long_trigger.stdout == ""
    control = cli("--data-dir", str(lib), "train", "0", "--dry-run", "--trigger", "ok\x1b[2Jtrigger")
    assert control.returncode == 1 and "control characters" in control.stderr
    assert no_raw_controls(control.stderr)
    fine = cli("--data-dir", str(lib), "train", "0", "--dry-run", "--trigger", "t" * 200)
    assert fine.returncode == 0, fine.stderr

    actors = [
        {
            "id": 0,
            "name": "n" * 300,
            "sex": "male",
            "ethnicity": "x",
            "age": 30,
            "description": "",
            "validated_lora_model": None,
        }
    ]
    long_name = make_library(tmp_path / "lib2", actors=actors, images={0: 2})
    refused = cli("--data-dir", str(long_name), "train", "0", "--dry-run")
    assert refused.returncode == 1 and "longer than 200 characters" in refused.stderr


def test_log_lines_on_the_terminal_are_cleaned_and_redacted() -> None:
    code = (
        "import logging; from actor_trainer.cli import _configure_logging; _configure_logging(0); "
        "logging.getLogger('actor_trainer.x').warning('server said %s', 'a\\x1b[2Jb\\x9b Bearer tok123456789')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert "server said a\\x1b[2Jb\\x9b Bearer [redacted]" in result.stderr, result.stderr
    assert no_raw_controls(result.stderr)
