"""A frozen build's build_info.json (written by packaging/actor-trainer.spec) read back for About."""

from __future__ import annotations

import json
from pathlib import Path

from actor_trainer.core.build_info import BUILD_INFO_FILE, BuildInfo, build_info


def test_a_bundle_s_build_info_is_read_and_described(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    (tmp_path / BUILD_INFO_FILE).write_text(
        json.dumps({"version": "1.2.3", "built": "2026-12-02T07:14:45Z", "commit": commit}), encoding="utf-8"
    )
    info = build_info(tmp_path)
    assert info == BuildInfo(version="1.2.3", built="2026-12-02T07:14:45Z", commit=commit)
    assert info.describe() == "1.2.3, built 2026-12-02 from commit 0123456789"


def test_no_build_info_outside_a_frozen_build_or_when_the_file_is_broken(tmp_path: Path) -> None:
    assert build_info() is None  # the test run is not a frozen build
    assert build_info(tmp_path) is None  # no file
    (tmp_path / BUILD_INFO_FILE).write_text("{not json", encoding="utf-8")
    assert build_info(tmp_path) is None
    (tmp_path / BUILD_INFO_FILE).write_text(json.dumps({"version": "1"}), encoding="utf-8")
    assert build_info(tmp_path) is None


def test_an_unknown_commit_is_said_so() -> None:
    assert BuildInfo("1.0", "2026-01-01T00:00:00Z", "unknown").describe() == "1.0, built 2026-01-01 from commit unknown"
