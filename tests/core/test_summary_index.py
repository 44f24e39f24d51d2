"""The summaries index (core/summary_index.py): folders that did not change are not listed again,
and whatever other tools change in the library behind the app's back is seen on the next load.

Each test compares the summaries with a load that remembers nothing (`SummaryIndex(None)` and a
racy window no folder can leave) and with `scan_training_data`/`poster_path`, the slow road.
The index's clock is set a minute ahead ("the index is written a minute after the last change")
so that freshly made folders are remembered; `_fs_tick` waits until the file system's clock has
moved past the folders' times before a change, as it has when a change comes after a listing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from actor_trainer.core.library import ActorSummary, Library
from actor_trainer.core.summary_index import RACY_NS, IndexUse, SummaryIndex
from tests.library_factory import make_library, write_png
from tests.waits import WAIT_S

MINUTE_NS = 60 * 10**9


def _ahead() -> int:
    return time.time_ns() + MINUTE_NS


def _index(path: Path) -> SummaryIndex:
    return SummaryIndex(path, clock=_ahead)


def _library(tmp_path: Path) -> Library:
    """Four actors: 0 and 1 with images (0 with captions too), 2 without training_data, 3 without a folder."""
    root = make_library(
        tmp_path / "lib",
        actors=[{"id": i, "name": f"Actor {i}"} for i in range(4)],
        images={0: 3, 1: 2},
    )
    (root / "actors" / "0000" / "training_data" / "img_00.txt").write_text("a caption", "utf-8")
    (root / "actors" / "0002").mkdir(parents=True)
    return Library(root, summary_index=_index(tmp_path / "cache" / "lib.index"))


def _truth(lib: Library) -> list[ActorSummary]:
    """What a load that remembers nothing finds (checked against the slow road as well)."""
    fresh = Library(lib.root, summary_index=SummaryIndex(None, racy_ns=10**30)).summaries()
    for summary in fresh:
        folder = lib.actor_folder(summary.actor.id)
        if folder.exists() and not folder.is_dir():
            assert (summary.image_count, summary.poster) == (0, None)  # the scan refuses such a folder
            continue
        scan = lib.scan_training_data(summary.actor.id)
        counts = (scan.image_count, len(scan.captions), len(scan.unsupported))
        assert (summary.image_count, summary.caption_count, summary.unsupported_count) == counts
        assert summary.poster == lib.poster_path(summary.actor.id)
    return fresh


def _reopen(lib: Library) -> Library:
    """The same library in a new process: a new index object on the same file."""
    index = lib.summary_index
    assert index.path is not None
    return Library(lib.root, summary_index=_index(index.path))


def _fs_tick(tmp_path: Path, lib: Library) -> None:
    """Wait until a file written now gets a later time than any folder of the library has."""
    newest = 0
    for folder, _dirs, _files in os.walk(lib.root):
        st = os.stat(folder)
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    probe = tmp_path / "clock-probe"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        probe.write_bytes(b"x")
        if probe.stat().st_mtime_ns > newest:
            return
        time.sleep(0.001)
    raise AssertionError(f"the file system's clock did not move in {WAIT_S:g} s")


def _use(lib: Library) -> IndexUse:
    assert lib.summary_index.last is not None
    return lib.summary_index.last


def test_unchanged_folders_are_not_listed_again(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    first = lib.summaries()
    assert first == _truth(lib)
    # Three actors have a folder to remember; actor 3 has none (a failed stat per load).
    assert _use(lib) == IndexUse(reused=0, listed=4, saved=True, ignored=None)
    assert [(s.image_count, s.caption_count) for s in first] == [(3, 1), (2, 0), (0, 0), (0, 0)]

    again = _reopen(lib)
    assert again.summaries() == first
    assert _use(again) == IndexUse(reused=3, listed=1, saved=False, ignored=None)
    assert again.summaries() == first  # and from memory in the same process
    assert _use(again).reused == 3


CHANGES = {
    "image added": lambda root: write_png(root / "actors/0001/training_data/new.webp"),
    "image removed": lambda root: (root / "actors/0000/training_data/img_02.png").unlink(),
    "caption added": lambda root: (root / "actors/0000/training_data/img_01.txt").write_text("x", "utf-8"),
    "image renamed to a caption": lambda root: (root / "actors/0001/training_data/img_01.png").rename(
        root / "actors/0001/training_data/img_00.txt"
    ),
    "file becomes a folder": lambda root: (
        (root / "actors/0001/training_data/img_01.png").unlink(),
        (root / "actors/0001/training_data/img_01.png").mkdir(),
    ),
    "poster of higher rank added": lambda root: write_png(root / "actors/0001/poster.jpg"),
    "poster removed": lambda root: (root / "actors/0000/poster.png").unlink(),
    "training_data removed": lambda root: shutil.rmtree(root / "actors/0000/training_data"),
    "training_data created": lambda root: write_png(root / "actors/0002/training_data/a.png"),
    "actor folder created": lambda root: write_png(root / "actors/0003/training_data/a.png"),
    "actor folder removed": lambda root: shutil.rmtree(root / "actors/0001"),
    "actor folder becomes a file": lambda root: (
        shutil.rmtree(root / "actors/0001"),
        (root / "actors/0001").write_bytes(b"not a folder"),
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_behind_the_apps_back_is_seen(tmp_path: Path, change: str) -> None:
    lib = _library(tmp_path)
    before = lib.summaries()
    assert _use(lib).saved
    _fs_tick(tmp_path, lib)
    CHANGES[change](lib.root)
    expected = _truth(lib)
    assert expected != before  # the change is one a user would see
    reopened = _reopen(lib)
    assert reopened.summaries() == expected
    assert lib.summaries() == expected  # the process that wrote the index sees it as well
    assert _use(reopened).listed >= 1


def test_a_training_data_folder_swapped_for_a_copy_with_the_same_times_is_seen(tmp_path: Path) -> None:
    """A tool that rebuilds training_data elsewhere and moves it into place, times copied over
    (rsync -a, cp -a): the folder's inode and ctime change even when its mtime is the old one."""
    lib = _library(tmp_path)
    lib.summaries()
    _fs_tick(tmp_path, lib)
    old = lib.training_data_folder(1)
    times = os.stat(old)
    staging = tmp_path / "staging"
    shutil.copytree(old, staging)
    write_png(staging / "extra.png")
    os.utime(staging, ns=(times.st_atime_ns, times.st_mtime_ns))
    actor_folder = lib.actor_folder(1)
    folder_times = os.stat(actor_folder)
    shutil.rmtree(old)
    os.rename(staging, old)
    os.utime(actor_folder, ns=(folder_times.st_atime_ns, folder_times.st_mtime_ns))
    assert os.stat(old).st_mtime_ns == times.st_mtime_ns  # mtimes say nothing changed
    assert os.stat(actor_folder).st_mtime_ns == folder_times.st_mtime_ns
    reopened = _reopen(lib)
    assert [s.image_count for s in reopened.summaries()] == [3, 3, 0, 0]


def test_files_added_and_the_folders_mtime_set_back_are_seen(tmp_path: Path) -> None:
    """rsync -t or tar into an existing folder: new files, the folder's old mtime restored. Only
    its ctime tells (no tool can set it)."""
    lib = _library(tmp_path)
    lib.summaries()
    _fs_tick(tmp_path, lib)
    folder = lib.training_data_folder(0)
    times = os.stat(folder)
    write_png(folder / "synced.jpg")
    os.utime(folder, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert (os.stat(folder).st_ino, os.stat(folder).st_mtime_ns) == (times.st_ino, times.st_mtime_ns)
    reopened = _reopen(lib)
    assert [s.image_count for s in reopened.summaries()] == [4, 2, 0, 0]


def test_a_folder_changed_just_before_the_index_is_written_is_listed_again(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    newest = max(max(os.stat(folder).st_mtime_ns, os.stat(folder).st_ctime_ns) for folder, _d, _f in os.walk(lib.root))
    path = tmp_path / "cache" / "racy.index"
    racy = Library(lib.root, summary_index=SummaryIndex(path, clock=lambda: newest + RACY_NS - 10**9))
    assert racy.summaries() == _truth(lib)
    assert _use(racy) == IndexUse(reused=0, listed=4, saved=False, ignored=None)  # nothing old enough to keep
    assert racy.summaries() == _truth(lib)
    assert _use(racy).reused == 0
    settled = Library(lib.root, summary_index=SummaryIndex(path, clock=lambda: newest + RACY_NS + 10**9))
    settled.summaries()
    assert _use(settled).saved
    assert Library(lib.root, summary_index=SummaryIndex(path, clock=time.time_ns)).summaries() == _truth(lib)


def test_training_data_with_links_is_never_remembered(tmp_path: Path) -> None:
    """A link's kind follows its target: deleting the target changes the count, not the folder."""
    lib = _library(tmp_path)
    target = lib.root / "shared" / "face.png"
    write_png(target)
    try:
        os.symlink(target, lib.training_data_folder(1) / "face.png")
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    assert [s.image_count for s in lib.summaries()] == [3, 3, 0, 0]
    _fs_tick(tmp_path, lib)
    target.unlink()  # training_data itself does not change
    reopened = _reopen(lib)
    assert [s.image_count for s in reopened.summaries()] == [3, 2, 0, 0]
    assert reopened.summaries() == _truth(lib)


def test_actors_added_and_removed_in_actors_json(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    lib.summaries()
    records = [{"id": 1, "name": "Actor 1"}, {"id": 2, "name": "Actor 2"}, {"id": 7, "name": "Seven"}]
    lib.actors_file.write_text(json.dumps(records), "utf-8")
    write_png(lib.training_data_folder(7) / "a.png")
    reopened = _reopen(lib)
    summaries = reopened.summaries()
    assert [(s.actor.id, s.actor.name, s.image_count) for s in summaries] == [
        (1, "Actor 1", 2),
        (2, "Actor 2", 0),
        (7, "Seven", 1),
    ]
    assert summaries == _truth(lib)
    assert _use(reopened).saved  # actor 0 dropped from the index, actor 7 added
    assert _use(reopened).reused == 2  # actors 1 and 2


def _corrupt(path: Path, how: str) -> None:
    raw = path.read_bytes()
    header_end = raw.index(b"\n")
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(raw[: len(raw) - 5])
    elif how == "flipped byte":  # an image count in the body, say: the checksum no longer matches
        flipped = bytearray(raw)
        flipped[header_end + 1 + 8 * 8] ^= 0x01
        path.write_bytes(bytes(flipped))
    elif how == "not JSON":
        path.write_bytes(b"\x00\xffgarbage\n" + raw[header_end + 1 :])
    elif how == "another library":
        header = json.loads(raw[:header_end])
        header["root"] = "/somewhere/else"
        path.write_bytes(json.dumps(header).encode() + raw[header_end:])
    elif how == "newer format":
        header = json.loads(raw[:header_end])
        header["version"] = 99
        path.write_bytes(json.dumps(header).encode() + raw[header_end:])
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["empty", "truncated", "flipped byte", "not JSON", "another library", "newer format"])
def test_a_damaged_index_is_ignored_and_rebuilt(tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture) -> None:
    lib = _library(tmp_path)
    lib.summaries()
    path = lib.summary_index.path
    assert path is not None
    _fs_tick(tmp_path, lib)
    write_png(lib.training_data_folder(0) / "new.png")  # so trusting the damaged file would show
    _corrupt(path, how)
    reopened = _reopen(lib)
    with caplog.at_level(logging.INFO, logger="actor_trainer.core.library"):
        assert reopened.summaries() == _truth(lib)
    use = _use(reopened)
    assert use.reused == 0 and use.saved and use.ignored
    assert "is not used" in caplog.text and str(path) in caplog.text
    rebuilt = _reopen(lib)
    assert rebuilt.summaries() == _truth(lib)
    assert _use(rebuilt) == IndexUse(reused=3, listed=1, saved=False, ignored=None)


def test_an_index_that_cannot_be_written_changes_nothing_but_speed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lib = _library(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"a file where the cache folder should be")
    stuck = Library(lib.root, summary_index=_index(blocker / "lib.index"))
    with caplog.at_level(logging.WARNING, logger="actor_trainer.core.library"):
        assert stuck.summaries() == _truth(lib)
        _fs_tick(tmp_path, lib)
        write_png(lib.training_data_folder(1) / "new.png")  # so the next load tries to write again
        assert stuck.summaries() == _truth(lib)
    assert not _use(stuck).saved
    assert caplog.text.count("could not be written") == 1  # said once, not at every load


def test_the_default_index_lives_in_the_user_cache_not_in_the_library(
    tmp_path: Path, isolated_environment: Path
) -> None:
    root = make_library(tmp_path / "lib")
    versions = root / "actor_training_versions"
    versions.mkdir()
    (versions / "0001.json").write_text('{"versions": [', "utf-8")  # a corrupt versions file
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    lib = Library(root)
    assert [s.image_count for s in lib.summaries()] == [6, 6]  # summaries read no versions file
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written in the library
    path = lib.summary_index.path
    assert path is not None and path.is_relative_to(isolated_environment)
    assert path.parent.name == "summaries"
