"""The demo library that ships with the app, and seeding the per-user library from it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from actor_trainer.core.errors import LibraryError


def demo_library_path() -> Path | None:
    """Where the shipped demo library is: beside the package in a clone, or in a frozen bundle."""
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "data")
    candidates.append(Path(__file__).resolve().parents[2] / "data")
    for candidate in candidates:
        if (candidate / "actors.json").is_file():
            return candidate
    return None


def ensure_library(folder: Path, *, seed_from_demo: bool) -> bool:
    """Make sure `folder` holds a library. Returns True when the demo library was copied there.

    Only the default per-user library is seeded, and only when it does not exist yet: a folder
    the user chose is never written into behind their back.
    """
    if (folder / "actors.json").is_file():
        return False
    if not seed_from_demo:
        raise LibraryError(
            f"{folder} is not an Actor Trainer library (no actors.json).",
            "Choose a folder that holds actors.json, or start without --data-dir to use the demo library.",
        )
    source = demo_library_path()
    if source is None:
        raise LibraryError(
            "The demo library is missing from this installation.",
            "Reinstall Actor Trainer, or open an existing library with --data-dir.",
        )
    if folder.exists() and any(folder.iterdir()):
        raise LibraryError(
            f"{folder} exists and is not empty, but holds no actors.json.",
            "Move its contents away or choose another folder; nothing was changed.",
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.seeding")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(source, staging)
    if folder.exists():
        folder.rmdir()
    staging.rename(folder)  # appears whole or not at all
    return True
