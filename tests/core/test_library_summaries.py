"""Library.summaries (the selector's fast road) counts exactly what scan_training_data and
poster_path find, on folders with every case the slow road distinguishes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actor_trainer.core.errors import CorruptFileError
from actor_trainer.core.library import ActorSummary, Library


def _library(root: Path, count: int) -> Library:
    root.mkdir(parents=True, exist_ok=True)
    records = [{"id": i, "name": f"Actor {i}"} for i in range(count)]
    (root / "actors.json").write_text(json.dumps(records), "utf-8")
    return Library(root)


def _touch(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_summaries_match_the_scan_and_the_poster_lookup(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib", 6)
    data = lib.training_data_folder
    # 0: images, paired and unpaired captions, upper-case suffixes, hidden files, a sub-folder
    names = ("a.png", "b.JPG", "c.webp", "a.txt", "b.TXT", "orphan.txt", ".hidden.png", "notes.md", "noext", "odd.")
    for name in names:
        _touch(data(0) / name)
    (data(0) / "folder.png").mkdir()
    (data(0) / "sub").mkdir()
    _touch(lib.actor_folder(0) / "poster.png")
    _touch(lib.actor_folder(0) / "poster.jpg")  # .jpg comes first in POSTER_SUFFIXES
    # 1: a caption spelled twice (a.txt and a.TXT) counts once, as in the scan
    for name in ("a.png", "a.txt", "a.TXT"):
        _touch(data(1) / name)
    _touch(lib.actor_folder(1) / "poster.webp")
    # 2: an actor folder without training_data; 3: no folder at all
    lib.actor_folder(2).mkdir(parents=True)
    # 4: captions only
    for name in ("x.txt", "y.txt"):
        _touch(data(4) / name)
    # 5: empty training_data
    data(5).mkdir(parents=True)

    summaries = lib.summaries()
    assert [s.actor.id for s in summaries] == list(range(6))
    for summary in summaries:
        scan = lib.scan_training_data(summary.actor.id)
        assert (summary.image_count, summary.caption_count, summary.unsupported_count) == (
            scan.image_count,
            len(scan.captions),
            len(scan.unsupported),
        ), summary.actor.id
        assert summary.poster == lib.poster_path(summary.actor.id)
    first = summaries[0]
    assert (first.image_count, first.caption_count, first.unsupported_count) == (3, 2, 4)
    assert first.poster == lib.actor_folder(0) / "poster.jpg"
    assert first.poster_file == str(lib.actor_folder(0) / "poster.jpg")


def test_summary_is_a_value(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib", 1)
    actor = lib.load_actors()[0]
    a = ActorSummary(actor=actor, image_count=1, caption_count=0, unsupported_count=0, poster=Path("/p/poster.png"))
    b = ActorSummary(actor, 1, 0, 0, "/p/poster.png")
    assert a == b and a.poster == Path("/p/poster.png")
    with pytest.raises(AttributeError):
        a.image_count = 2  # type: ignore[misc]
    assert a != ActorSummary(actor, 2, 0, 0, None)


def test_load_actors_fast_road_keeps_the_checks(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib", 3)
    assert [a.id for a in lib.load_actors()] == [0, 1, 2]
    # The {"actors": [...]} wrapper other tools write still loads.
    lib.actors_file.write_text(json.dumps({"actors": [{"id": 7, "name": "Seven", "extra": 1}]}), "utf-8")
    (actor,) = lib.load_actors()
    assert actor.id == 7 and actor.to_json()["extra"] == 1
    # Duplicated ids and schema errors are reported as before, with the file's path.
    lib.actors_file.write_text(json.dumps([{"id": 1, "name": "A"}, {"id": 1, "name": "B"}]), "utf-8")
    with pytest.raises(CorruptFileError, match="more than once"):
        lib.load_actors()
    lib.actors_file.write_text(json.dumps([{"id": 1, "name": ""}]), "utf-8")
    with pytest.raises(CorruptFileError, match="actor #1"):
        lib.load_actors()
    lib.actors_file.write_text("[{", "utf-8")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        lib.load_actors()
