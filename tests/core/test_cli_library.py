"""The headless library commands, run as a user would: a real process, exit codes, stdout/stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.library_factory import completed_version, make_library


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_actors_json_lists_every_actor_with_counts(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 6, 1: 3})
    (lib / "actors" / "0001" / "training_data" / "clip.mp4").write_bytes(b"\0" * 10)
    result = run_cli("--data-dir", str(lib), "actors", "--json", "--local")
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    assert [(d["id"], d["images"], d["unsupported_files"]) for d in docs] == [(0, 6, 0), (1, 3, 1)]


def test_actors_search(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib")
    result = run_cli("--data-dir", str(lib), "actors", "--json", "--local", "--search", "paramedic")
    assert [d["name"] for d in json.loads(result.stdout)] == ["0001_african_34_female"]


def test_versions_and_mark_good_keep_unknown_fields(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", versions={0: [completed_version("job-1-e1", "V1", studio_note="hero")]})
    result = run_cli("--data-dir", str(lib), "versions", "0", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["studio_note"] == "hero"
    result = run_cli("--data-dir", str(lib), "mark-good", "0000", "job-1-e1")
    assert result.returncode == 0, result.stderr
    assert "V1" in result.stderr and result.stdout == ""
    actors = json.loads((lib / "actors.json").read_text())
    assert actors[0]["validated_lora_model"]["version_name"] == "V1"
    saved = json.loads((lib / "actor_training_versions" / "0000.json").read_text())["versions"][0]
    assert saved["studio_note"] == "hero" and saved["isGood"] is True


@pytest.mark.parametrize(
    "args",
    [["actors", "--json", "--local"], ["versions", "0"], ["mark-good", "0", "job-1-e1"]],
)
def test_truncated_actors_json_exits_1_naming_the_file_and_leaves_it_untouched(tmp_path: Path, args: list[str]) -> None:
    lib = make_library(tmp_path / "lib", versions={0: [completed_version("job-1-e1", "V1")]})
    actors_file = lib / "actors.json"
    actors_file.write_bytes(actors_file.read_bytes()[:37])
    before = actors_file.read_bytes()
    result = run_cli("--data-dir", str(lib), *args)
    assert result.returncode == 1
    assert str(actors_file) in result.stderr and "not valid JSON" in result.stderr
    assert result.stdout == ""
    assert actors_file.read_bytes() == before


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert run_cli("versions").returncode == 2
    assert run_cli("no-such-command").returncode == 2


def test_unknown_actor_exits_1_with_a_hint(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib")
    result = run_cli("--data-dir", str(lib), "versions", "42")
    assert result.returncode == 1 and "No actor matches '42'" in result.stderr and "actors" in result.stderr


def test_first_run_seeds_the_per_user_library_from_the_demo(tmp_path: Path) -> None:
    import os

    from actor_trainer.core.demo import demo_library_path

    if demo_library_path() is None:
        pytest.fail("the demo library (data/actors.json) is missing from the repository")
    env = dict(os.environ)
    result = run_cli("actors", "--json", "--local", env=env)
    assert result.returncode == 0, result.stderr
    assert "Created your library" in result.stderr
    assert len(json.loads(result.stdout)) >= 10
    again = run_cli("actors", "--json", "--local", env=env)
    assert "Created your library" not in again.stderr
