"""The library's records and helpers that need no `Library`: what a training_data folder holds
(`TrainingDataScan`, counted fast by `_count_training_data`), one actor as the selector shows it
(`ActorSummary`), the clean-up of interrupted writes' temp files, and readable schema errors.

Split out of library.py (issue 8); library.py re-exports the public names.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from actor_trainer.core.models import Actor
from actor_trainer.core.storage.base import LocalFile

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CAPTION_SUFFIX = ".txt"
POSTER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

log = logging.getLogger("actor_trainer.core.library")  # the library's logger, as before the split


#: Temp files older than this are a killed writer's leftovers (a live write takes seconds).
STALE_TEMP_S = 15 * 60
# atomic.py's `.{name}.<random>.tmp` and the storage's `.at-part-<random>-{name}`.
_TEMP_NAME = re.compile(r"^\.(?:.+\.[A-Za-z0-9_]+\.tmp|at-part-.+)$")


def remove_stale_temp_files(folder: Path, older_than_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete the temp files of interrupted writes in `folder` (not below it); return what was deleted.
    Only names our writers make, and only when untouched for `older_than_s`."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime > older_than_s:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    if removed:
        log.info("Removed %d temp file(s) left by an interrupted write in %s", len(removed), folder)
    return removed


def _is_inside(real_path: str, real_root: str) -> bool:
    """Whether a resolved path lies in the resolved library root."""
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)


def outside_message(scan: TrainingDataScan) -> tuple[str, str]:
    """What to say when training data links out of the library: (message, hint)."""
    if scan.outside == (scan.folder,):
        message = f"{scan.folder} is a link to a folder outside the library: its files are never uploaded."
        hint = "Replace the link with a real folder and copy the pictures into it."
    else:
        names = ", ".join(p.name for p in scan.outside[:5]) + (" …" if len(scan.outside) > 5 else "")
        message = (
            f"{len(scan.outside)} file(s) in {scan.folder} are links to files outside the library "
            f"({names}): they are never uploaded."
        )
        hint = "Copy those files into the training_data folder instead of linking them, or remove the links."
    return message, hint


@dataclass(frozen=True)
class TrainingDataScan:
    """What is really in an actor's training_data folder (the source of counts, never a marker)."""

    actor_id: int
    folder: Path
    images: tuple[LocalFile, ...]
    captions: tuple[LocalFile, ...]  # only captions paired with an image
    unsupported: tuple[Path, ...]  # neither an image nor a paired caption
    #: links that lead out of the library (or the folder itself, when it does): never read, never
    #: uploaded; sync and preflight refuse while there are any (`outside_message`)
    outside: tuple[Path, ...] = ()

    @property
    def image_count(self) -> int:
        return len(self.images)

    @property
    def files(self) -> tuple[LocalFile, ...]:
        """Everything that is uploaded and sent to the worker: images and their captions."""
        return tuple(sorted(self.images + self.captions, key=lambda f: f.name))

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


class ActorSummary:
    """One actor as the selector shows it (immutable).

    `poster` is a Path made on first use: `Library.summaries` builds 10,000 of these at once and
    the selector only needs the poster's path as text (`poster_file`).
    """

    __slots__ = ("_poster", "actor", "caption_count", "image_count", "poster_file", "unsupported_count")

    actor: Actor
    image_count: int
    caption_count: int
    unsupported_count: int
    poster_file: str | None
    _poster: Path | None

    def __init__(
        self,
        actor: Actor,
        image_count: int,
        caption_count: int,
        unsupported_count: int,
        poster: Path | str | None,
    ) -> None:
        # The slots' own setters (object.__setattr__ would look each name up): 10,000 at a time.
        _set_actor(self, actor)
        _set_image_count(self, image_count)
        _set_caption_count(self, caption_count)
        _set_unsupported_count(self, unsupported_count)
        if poster is None or type(poster) is str:
            _set_poster_file(self, poster)
            _set_poster(self, None)
        else:
            _set_poster_file(self, os.fspath(poster))
            _set_poster(self, poster if isinstance(poster, Path) else None)

    @property
    def poster(self) -> Path | None:
        if self._poster is None and self.poster_file is not None:
            object.__setattr__(self, "_poster", Path(self.poster_file))
        return self._poster

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"ActorSummary is immutable (cannot set {name})")

    def _key(self) -> tuple[Any, ...]:
        return (self.actor, self.image_count, self.caption_count, self.unsupported_count, self.poster_file)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActorSummary):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # like the frozen dataclass it replaces: Actor is unhashable

    def __repr__(self) -> str:
        return (
            f"ActorSummary(actor={self.actor!r}, image_count={self.image_count}, caption_count={self.caption_count}, "
            f"unsupported_count={self.unsupported_count}, poster={self.poster_file!r})"
        )


_SETTERS: dict[str, Callable[[ActorSummary, Any], None]] = {
    name: vars(ActorSummary)[name].__set__ for name in ActorSummary.__slots__
}
_set_actor = _SETTERS["actor"]
_set_image_count = _SETTERS["image_count"]
_set_caption_count = _SETTERS["caption_count"]
_set_unsupported_count = _SETTERS["unsupported_count"]
_set_poster_file = _SETTERS["poster_file"]
_set_poster = _SETTERS["_poster"]


def scan_folder(library_root: Path, folder: Path, actor_id: int) -> TrainingDataScan:
    """What is in `folder`, an actor's training_data (`Library.scan_training_data`): links out of
    `library_root` are listed in `outside`, never read."""
    images: list[LocalFile] = []
    texts: dict[str, LocalFile] = {}
    others: list[Path] = []
    outside: list[Path] = []
    root = os.path.realpath(library_root)
    if os.path.lexists(folder) and not _is_inside(os.path.realpath(folder), root):
        # training_data (or the actor's folder) is a link out of the library: read nothing in it
        return TrainingDataScan(
            actor_id=actor_id, folder=folder, images=(), captions=(), unsupported=(), outside=(folder,)
        )
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        entries = []
    if any(_TEMP_NAME.match(e.name) for e in entries):  # a killed dataset fix or copy left one
        remove_stale_temp_files(folder)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink() and not _is_inside(os.path.realpath(entry.path), root):
            outside.append(Path(entry.path))
            continue
        if not entry.is_file():
            continue
        path = Path(entry.path)
        suffix = path.suffix.lower()
        local = LocalFile(name=entry.name, path=path, size=entry.stat().st_size)
        if suffix in IMAGE_SUFFIXES:
            images.append(local)
        elif suffix == CAPTION_SUFFIX:
            texts[path.stem] = local
        else:
            others.append(path)
    image_stems = {Path(i.name).stem for i in images}
    captions = [c for stem, c in texts.items() if stem in image_stems]
    others.extend(c.path for stem, c in texts.items() if stem not in image_stems)
    return TrainingDataScan(
        actor_id=actor_id,
        folder=folder,
        images=tuple(images),
        captions=tuple(sorted(captions, key=lambda c: c.name)),
        unsupported=tuple(sorted(others)),
        outside=tuple(outside),
    )


def _count_training_data(folder: str) -> tuple[int, int, int, bool]:
    """(images, paired captions, unsupported files, whether any name is a symbolic link) of a
    training_data folder, counted as `Library.scan_training_data` classifies them. A link's kind
    follows its target, which can change without the folder changing (core/summary_index.py)."""
    image_stems: set[str] = set()
    text_stems: set[str] = set()  # keyed by stem like scan_training_data: of a.txt and a.TXT one counts
    images = others = 0
    links = False
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                name = entry.name
                if name[0] == ".":
                    continue
                if entry.is_symlink():
                    links = True
                if not entry.is_file():
                    continue
                i = name.rfind(".")
                if 0 < i < len(name) - 1:  # pathlib's suffix rule
                    suffix = name[i:].lower()
                    if suffix in IMAGE_SUFFIXES:
                        images += 1
                        image_stems.add(name[:i])
                        continue
                    if suffix == CAPTION_SUFFIX:
                        text_stems.add(name[:i])
                        continue
                others += 1
    except (FileNotFoundError, NotADirectoryError):
        return 0, 0, 0, False
    if not text_stems:
        return images, 0, others, links
    paired = len(text_stems & image_stems)
    return images, paired, others + len(text_stems) - paired, links


def _describe(exc: ValidationError, what: str) -> str:
    """A short, readable summary of a schema error: where, and what is wrong."""
    parts: list[str] = []
    for err in exc.errors()[:3]:
        location = _location(err.get("loc", ()), what)
        parts.append(f"{location}: {err.get('msg', 'invalid')}")
    more = exc.error_count() - len(parts)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "schema error — " + "; ".join(parts) + suffix


def _location(loc: tuple[Any, ...], what: str) -> str:
    words: list[str] = []
    items = list(loc)
    if items and items[0] in ("actors", "versions"):
        items = items[1:]
    if items and isinstance(items[0], int):
        words.append(f"{what} #{items[0] + 1}")
        items = items[1:]
    if items:
        words.append(".".join(str(i) for i in items))
    return " ".join(words) or what
