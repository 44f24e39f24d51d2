"""Training data never leaves the library by a symlink (issue 9, item 13): a linked picture or a
linked training_data folder that points outside the library is refused by sync and by the
preflight, with a sentence naming it, and never reaches the bucket. Real processes, the sandbox's
local bucket."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.core.library import Library
from actor_trainer.core.storage.configured import sandbox_bucket_dir
from tests.library_factory import make_library, write_png


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


@pytest.fixture
def library_with_links(tmp_path: Path) -> tuple[Path, Path]:
    lib = make_library(tmp_path / "lib", images={0: 3, 1: 2})
    outside = tmp_path / "outside"
    secret = write_png(outside / "private_photo.png", (1, 2, 3), size=80)
    data0 = lib / "actors" / "0000" / "training_data"
    (data0 / "leak.png").symlink_to(secret)
    (data0 / "leak.txt").symlink_to(outside / "private_photo.png")
    # A link that stays inside the library is fine: actor 1's poster used for actor 0 too.
    (data0 / "borrowed.png").symlink_to(lib / "actors" / "0001" / "poster.png")
    # Actor 1's whole training_data folder is a link out of the library.
    data1 = lib / "actors" / "0001" / "training_data"
    moved = outside / "actor1_data"
    data1.rename(moved)
    data1.symlink_to(moved, target_is_directory=True)
    return lib, secret


def test_the_scan_names_links_out_of_the_library_and_leaves_them_out(library_with_links: tuple[Path, Path]) -> None:
    lib, _ = library_with_links
    library = Library(lib)
    scan0 = library.scan_training_data(0)
    assert sorted(f.name for f in scan0.files) == ["borrowed.png", "img_00.png", "img_01.png", "img_02.png"]
    assert sorted(p.name for p in scan0.outside) == ["leak.png", "leak.txt"]
    scan1 = library.scan_training_data(1)
    assert scan1.files == () and scan1.outside == (lib / "actors" / "0001" / "training_data",)


def test_sync_and_preflight_refuse_and_nothing_leaves(library_with_links: tuple[Path, Path]) -> None:
    lib, secret = library_with_links
    synced = cli("--data-dir", str(lib), "sync", "--all", "--json")
    assert synced.returncode == 1
    assert "links to files outside the library (leak.png, leak.txt)" in synced.stderr
    assert "training_data is a link to a folder outside the library" in synced.stderr
    assert "Traceback" not in synced.stderr
    dry = cli("--data-dir", str(lib), "train", "0", "--dry-run")
    assert dry.returncode == 1 and "outside the library" in dry.stderr and "leak.png" in dry.stderr
    assert dry.stdout == ""
    dry1 = cli("--data-dir", str(lib), "train", "1", "--dry-run")
    assert dry1.returncode == 1 and "link to a folder outside the library" in dry1.stderr

    # Nothing of the private picture (by name or by content) is in the bucket.
    bucket = sandbox_bucket_dir(lib)
    secret_bytes = secret.read_bytes()
    stored = [p for p in bucket.rglob("*") if p.is_file()] if bucket.exists() else []
    assert not any(p.name in ("leak.png", "leak.txt", "private_photo.png") for p in stored)
    assert not any(p.read_bytes() == secret_bytes for p in stored)
