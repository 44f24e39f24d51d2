"""The data library on disk: the actor registry, the versions files and the training-data folders.

```
<library>/actors.json                              a JSON list of actor records
<library>/actor_training_versions/<NNNN>.json      {"versions": [...]}, newest first
<library>/actors/<NNNN>/training_data/             images (png/jpg/jpeg/webp) + same-name .txt captions
<library>/actors/<NNNN>/poster.<ext>               the poster frame
```

All methods are blocking (small files, fsync): coroutines call them through `asyncio.to_thread`.
Writes are read-modify-write under one lock per library: a re-entrant thread lock in this
process plus a file lock across processes (the CLI and the GUI may run at once). A file that does
not parse is reported with its path and never overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from pydantic import TypeAdapter, ValidationError

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.errors import (
    ActorNotFoundError,
    ActorTrainerError,
    CorruptFileError,
    LibraryError,
    MarkGoodRefusedError,
    VersionNotFoundError,
)
from actor_trainer.core.locks import refuse_linked_lock
from actor_trainer.core.models import (
    Actor,
    ActorRegistry,
    TrainingVersion,
    ValidatedLoraModel,
    VersionsFile,
    VersionStatus,
    utc_now,
)
from actor_trainer.core.storage.base import LocalFile

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CAPTION_SUFFIX = ".txt"
POSTER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
LOCK_NAME = ".actor-trainer.lock"
GOOD_MARK_INTENT = ".good-mark-intent.json"  # a good-mark change in progress (see Library._run_intent)
_ACTOR_LIST: TypeAdapter[list[Actor]] = TypeAdapter(list[Actor])
_POSTER_NAMES = tuple(f"poster{suffix}" for suffix in POSTER_SUFFIXES)

T = TypeVar("T")
log = logging.getLogger(__name__)


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
        message = (f"{scan.folder} is a link to a folder outside the library: its files are never "
                   "uploaded.")
        hint = "Replace the link with a real folder and copy the pictures into it."
    else:
        names = ", ".join(p.name for p in scan.outside[:5]) + (" …" if len(scan.outside) > 5 else "")
        message = (f"{len(scan.outside)} file(s) in {scan.folder} are links to files outside the library "
                   f"({names}): they are never uploaded.")
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
        set_ = object.__setattr__
        set_(self, "actor", actor)
        set_(self, "image_count", image_count)
        set_(self, "caption_count", caption_count)
        set_(self, "unsupported_count", unsupported_count)
        set_(self, "poster_file", None if poster is None else os.fspath(poster))
        set_(self, "_poster", poster if isinstance(poster, Path) else None)

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


class Library:
    """One library folder. Cheap to construct; every read goes to disk (files are the truth)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._thread_lock = threading.RLock()
        #: versions files that could not be read by the last library-wide look (`in_flight_versions`,
        #: `find_version`): path → what is wrong. Each blocks only its own actor.
        self.unreadable: dict[Path, str] = {}
        self._file_lock = FileLock(str(self.root / LOCK_NAME), timeout=30)
        #: what opening the library repaired (an interrupted good-mark change), as sentences
        self.repaired: list[str] = []
        if os.path.exists(self.root / GOOD_MARK_INTENT):
            self.finish_interrupted()
        #: temp files a killed process left behind, removed when the library was opened
        self.removed_orphans: list[Path] = []
        for folder in (self.root, self.root / "actor_training_versions"):
            self.removed_orphans.extend(remove_stale_temp_files(folder))

    # --- paths ----------------------------------------------------------------------------------

    @property
    def actors_file(self) -> Path:
        return self.root / "actors.json"

    def versions_file(self, actor_id: int) -> Path:
        return self.root / "actor_training_versions" / f"{actor_id:04d}.json"

    def actor_folder(self, actor_id: int) -> Path:
        return self.root / "actors" / f"{actor_id:04d}"

    def training_data_folder(self, actor_id: int) -> Path:
        return self.actor_folder(actor_id) / "training_data"

    def poster_path(self, actor_id: int) -> Path | None:
        folder = self.actor_folder(actor_id)
        for suffix in POSTER_SUFFIXES:
            candidate = folder / f"poster{suffix}"
            if candidate.is_file():
                return candidate
        return None

    def exists(self) -> bool:
        return self.actors_file.is_file()

    # --- locking --------------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the library's write lock (re-entrant in this process, exclusive across processes)."""
        with self._thread_lock:
            if not self.root.is_dir():
                raise LibraryError(
                    f"The library folder {self.root} does not exist.",
                    "Choose an existing library folder (--data-dir or Settings).",
                )
            lock_path = self.root / LOCK_NAME
            refuse_linked_lock(lock_path)  # locking would open (create, truncate) whatever it points at
            try:
                self._file_lock.acquire()
            except Timeout:
                raise LibraryError(
                    f"Another program has held the library's lock ({lock_path}) for "
                    f"{self._file_lock.timeout:g} s.",
                    "Wait for the other window or command to finish, then try again.",
                ) from None
            except OSError as exc:
                raise LibraryError(
                    f"The library's lock file {lock_path} cannot be used ({exc.strerror or exc}).",
                    "Check that the library folder is writable and that the lock file is an ordinary file; "
                    "delete it if it is not.",
                ) from None
            try:
                yield
            finally:
                self._file_lock.release()

    # --- reading --------------------------------------------------------------------------------

    def _read_json(self, path: Path) -> Any:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise LibraryError(f"Cannot read {path}: {exc.strerror or exc}.", "Check the file's permissions.") from exc
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CorruptFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            raise CorruptFileError(path, problem) from exc

    def load_actors(self) -> list[Actor]:
        path = self.actors_file
        try:
            raw = path.read_bytes()
        except OSError:
            raw = None  # the checked road below says what is wrong
        if raw is not None:
            try:
                # The common case in one pass (JSON parsed and validated in pydantic-core: half the
                # time of json.loads + validate_python for 10,000 actors); anything unusual (an
                # {"actors": ...} wrapper, a schema error, bad JSON) takes the checked road.
                actors = _ACTOR_LIST.validate_json(raw)
            except ValidationError:
                pass
            else:
                if len({a.id for a in actors}) == len(actors):
                    return actors
        try:
            data = self._read_json(path)
        except FileNotFoundError as exc:
            raise LibraryError(
                f"{path} does not exist: {self.root} is not an Actor Trainer library.",
                "Open a folder that holds actors.json (--data-dir), or start without one to get the demo library.",
            ) from exc
        if isinstance(data, dict) and isinstance(data.get("actors"), list):
            data = data["actors"]  # tolerate {"actors": [...]} written by other tools
        if not isinstance(data, list):
            raise CorruptFileError(path, "expected a JSON list of actor records")
        try:
            return ActorRegistry(actors=data).actors
        except ValidationError as exc:
            raise CorruptFileError(path, _describe(exc, "actor")) from exc

    def get_actor(self, ref: str | int) -> Actor:
        """An actor by id (`0`, `0000`) or exact name (case-insensitive)."""
        actors = self.load_actors()
        text = str(ref).strip()
        if text.isdigit():
            wanted = int(text)
            for actor in actors:
                if actor.id == wanted:
                    return actor
        for actor in actors:
            if actor.name.lower() == text.lower():
                return actor
        raise ActorNotFoundError(text)

    def load_versions(self, actor_id: int) -> list[TrainingVersion]:
        """The actor's versions, newest first. No file yet means no versions."""
        return self._load_versions_file(actor_id).versions

    def _load_versions_file(self, actor_id: int) -> VersionsFile:
        path = self.versions_file(actor_id)
        try:
            data = self._read_json(path)
        except FileNotFoundError:
            return VersionsFile()
        if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
            raise CorruptFileError(path, 'expected an object {"versions": [...]}')
        try:
            return VersionsFile.model_validate(data)
        except ValidationError as exc:
            raise CorruptFileError(path, _describe(exc, "version")) from exc

    def get_version(self, actor_id: int, version_ref: str) -> TrainingVersion:
        """A version by id (job id or request id) or name (V3)."""
        for version in self.load_versions(actor_id):
            if version_ref in (version.id, version.requestId) or version.name.lower() == version_ref.lower():
                return version
        raise VersionNotFoundError(version_ref, actor_id)

    def find_version(self, ref: str) -> tuple[Actor, TrainingVersion]:
        """The version whose job id or request id is `ref`, in any actor. A versions file that cannot
        be read is passed over (named in the error when `ref` is found nowhere else)."""
        skipped: list[CorruptFileError] = []
        for actor in self.load_actors():
            try:
                versions = self.load_versions(actor.id)
            except CorruptFileError as exc:
                skipped.append(self._unreadable_versions(exc))
                continue
            for version in versions:
                if ref in (version.id, version.requestId):
                    return actor, version
        if skipped:
            broken = "; ".join(e.message for e in skipped)
            raise LibraryError(f"No readable versions file has {ref!r}. Could not read: {broken}",
                               skipped[0].hint)
        raise VersionNotFoundError(ref)

    def in_flight_versions(self) -> list[tuple[Actor, TrainingVersion]]:
        """Every non-terminal version of every actor (what reconcile and polling look at)."""
        found: list[tuple[Actor, TrainingVersion]] = []
        versions_dir = self.root / "actor_training_versions"
        if not versions_dir.is_dir():
            return found
        actors = {a.id: a for a in self.load_actors()}
        for entry in sorted(versions_dir.glob("[0-9][0-9][0-9][0-9].json")):
            actor = actors.get(int(entry.stem))
            if actor is None:
                continue
            try:
                versions = self.load_versions(actor.id)
            except CorruptFileError as exc:  # blocks its own actor only; named in `unreadable`
                self._unreadable_versions(exc)
                continue
            self.unreadable.pop(entry, None)
            found.extend((actor, v) for v in versions if not v.status.is_terminal)
        return found

    def _unreadable_versions(self, exc: CorruptFileError) -> CorruptFileError:
        if self.unreadable.get(exc.path) != exc.message:
            log.info("%s — the other actors are not affected.", exc.message)
        self.unreadable[exc.path] = exc.message
        return exc

    def scan_training_data(self, actor_id: int) -> TrainingDataScan:
        folder = self.training_data_folder(actor_id)
        images: list[LocalFile] = []
        texts: dict[str, LocalFile] = {}
        others: list[Path] = []
        outside: list[Path] = []
        root = os.path.realpath(self.root)
        if os.path.lexists(folder) and not _is_inside(os.path.realpath(folder), root):
            # training_data (or the actor's folder) is a link out of the library: read nothing in it
            return TrainingDataScan(actor_id=actor_id, folder=folder, images=(), captions=(), unsupported=(),
                                    outside=(folder,))
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

    def summaries(self) -> list[ActorSummary]:
        """Every actor with its training-data counts and poster, as the selector shows them.

        Counts follow `scan_training_data` exactly, but are made from two directory listings per
        actor (the actor folder and its training_data) with plain strings: no Path objects, no
        stat calls (sizes are not needed to count), which keeps 10,000 actors well under 300 ms
        (benchmarks/bench_selector.py).
        """
        sep = os.sep
        actors_dir = f"{os.fspath(self.root)}{sep}actors"
        out: list[ActorSummary] = []
        for actor in self.load_actors():
            folder = f"{actors_dir}{sep}{actor.id:04d}"
            poster: str | None = None
            images = captions = unsupported = 0
            try:
                names = set(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                names = set()
            for name in _POSTER_NAMES:
                # Presence by name (no stat per actor): a folder called poster.png is not a case.
                if name in names:
                    poster = f"{folder}{sep}{name}"
                    break
            if "training_data" in names:
                images, captions, unsupported = _count_training_data(f"{folder}{sep}training_data")
            out.append(
                ActorSummary(
                    actor=actor,
                    image_count=images,
                    caption_count=captions,
                    unsupported_count=unsupported,
                    poster=poster,
                )
            )
        return out

    # --- writing --------------------------------------------------------------------------------

    def _write_versions(self, actor_id: int, versions_file: VersionsFile) -> None:
        versions_file.versions.sort(key=lambda v: v.number, reverse=True)
        atomic_write_json(self.versions_file(actor_id), versions_file.to_json())

    def next_version_name(self, actor_id: int) -> str:
        """V(highest existing + 1): names are never reused, even after a version is removed."""
        versions = self.load_versions(actor_id)
        return f"V{max((v.number for v in versions), default=0) + 1}"

    def append_version(self, actor_id: int, make: Callable[[str], TrainingVersion]) -> TrainingVersion:
        """Create the next version atomically: `make(name)` builds it with the name V(n+1)."""
        with self.locked():
            self.get_actor(actor_id)
            versions_file = self._load_versions_file(actor_id)
            name = f"V{max((v.number for v in versions_file.versions), default=0) + 1}"
            version = make(name)
            if version.name != name:
                raise LibraryError(f"New version must be named {name}, not {version.name}.")
            if any(v.id == version.id for v in versions_file.versions):
                raise LibraryError(f"A version with id {version.id} already exists.")
            versions_file.versions.insert(0, version)
            self._write_versions(actor_id, versions_file)
            return version

    def update_version(
        self, actor_id: int, version_ref: str, change: Callable[[TrainingVersion], T]
    ) -> tuple[TrainingVersion, T]:
        """Read-modify-write one version under the lock. `change` mutates it (and may raise to
        abort without writing); returns the saved version and what `change` returned."""
        with self.locked():
            versions_file = self._load_versions_file(actor_id)
            for index, version in enumerate(versions_file.versions):
                if version_ref in (version.id, version.requestId):
                    working = version.model_copy(deep=True)
                    result = change(working)
                    # Re-validate the whole record: a change must not write what we could not read.
                    checked = TrainingVersion.model_validate(working.to_json())
                    if checked.to_json() != version.to_json():
                        versions_file.versions[index] = checked
                        self._write_versions(actor_id, versions_file)
                    return checked, result
            raise VersionNotFoundError(version_ref, actor_id)

    def mark_good(
        self, actor_id: int, version_ref: str, checkpoint_step: int | None = None
    ) -> tuple[Actor, TrainingVersion]:
        """Record `version_ref` as the actor's validated model. Idempotent.

        With `checkpoint_step`, that kept checkpoint's LoRA is the validated file (the registry's
        `lora_url` and `checkpoint_step`, the version's `goodCheckpointStep`; issue 12).

        `isGood` becomes true on that version only; `validated_lora_model` is written to the actor
        in actors.json. Refused (nothing written) for a version that is not completed or has no
        LoRA URL. Crash-safe across its two files (`_run_intent`).
        """
        with self.locked():
            self.finish_interrupted()
            actors = self.load_actors()
            actor = next((a for a in actors if a.id == actor_id), None)
            if actor is None:
                raise ActorNotFoundError(str(actor_id))
            versions_file = self._load_versions_file(actor_id)
            target = next(
                (v for v in versions_file.versions if version_ref in (v.id, v.requestId) or v.name == version_ref),
                None,
            )
            if target is None:
                raise VersionNotFoundError(version_ref, actor_id)
            if target.status is not VersionStatus.COMPLETED:
                raise MarkGoodRefusedError(
                    f"{target.name} is {target.status.label}; only a completed version can be marked good.",
                    "Wait for the run to complete, or pick a completed version.",
                )
            if checkpoint_step is not None:
                checkpoint = next((c for c in target.checkpoints or [] if c.step == checkpoint_step), None)
                if checkpoint is None:
                    raise MarkGoodRefusedError(
                        f"{target.name} kept no checkpoint at step {checkpoint_step}.",
                        "Pick one of its kept checkpoints, or mark the final LoRA good.",
                    )
                lora_url: str | None = checkpoint.url
            else:
                lora_url = target.loraUrl
            if not lora_url:
                raise MarkGoodRefusedError(
                    f"{target.name} has no LoRA URL, so there is no model to validate.",
                    "Check its status again; if the worker stored no LoRA, train a new version.",
                )
            current = actor.validated_lora_model
            already = (
                target.isGood
                and target.goodCheckpointStep == checkpoint_step
                and all(not v.isGood for v in versions_file.versions if v is not target)
                and current is not None
                and current.version_id == target.id
                and current.lora_url == lora_url
            )
            if already:
                return actor, target
            extra = {"checkpoint_step": checkpoint_step} if checkpoint_step is not None else {}
            model = ValidatedLoraModel(
                version_id=target.id, version_name=target.name, lora_url=lora_url, marked_at=utc_now(), **extra
            )
            return self._run_intent({"op": "mark", "actor_id": actor_id, "version_id": target.id,
                                     "model": model.to_json(), "checkpoint_step": checkpoint_step})

    def unmark_good(self, actor_id: int, version_ref: str) -> tuple[Actor, TrainingVersion]:
        """Take the good mark off `version_ref`: `isGood` becomes false on it, and the actor's
        `validated_lora_model` is removed when it names this version. Idempotent (a version that is
        not marked good changes nothing). Crash-safe across its two files (`_run_intent`)."""
        with self.locked():
            self.finish_interrupted()
            actors = self.load_actors()
            actor = next((a for a in actors if a.id == actor_id), None)
            if actor is None:
                raise ActorNotFoundError(str(actor_id))
            versions_file = self._load_versions_file(actor_id)
            target = next(
                (v for v in versions_file.versions if version_ref in (v.id, v.requestId) or v.name == version_ref),
                None,
            )
            if target is None:
                raise VersionNotFoundError(version_ref, actor_id)
            current = actor.validated_lora_model
            names_target = current is not None and current.version_id in (target.id, target.requestId)
            if not target.isGood and not names_target:
                return actor, target
            return self._run_intent({"op": "unmark", "actor_id": actor_id, "version_id": target.id})

    # --- two files, one change: the good mark -----------------------------------------------------
    #
    # Marking a version good changes the versions file (isGood) and actors.json (validated_lora_model).
    # The change is written first as an intent (`GOOD_MARK_INTENT`, atomically), then applied to both
    # files, then the intent is removed. A crash between the writes leaves the intent behind; the
    # next `Library` opened on the folder (or the next mark) applies it again — applying is
    # idempotent — and reports it in `repaired` and the log.

    def _run_intent(self, intent: dict[str, Any]) -> tuple[Actor, TrainingVersion]:
        """Under the lock: record `intent`, apply it to both files, drop it."""
        path = self.root / GOOD_MARK_INTENT
        atomic_write_json(path, intent)
        result = self._apply_intent(intent)
        path.unlink(missing_ok=True)
        return result

    def _apply_intent(self, intent: dict[str, Any]) -> tuple[Actor, TrainingVersion]:
        actor_id, version_id = int(intent["actor_id"]), str(intent["version_id"])
        actors = self.load_actors()
        actor = next((a for a in actors if a.id == actor_id), None)
        if actor is None:
            raise ActorNotFoundError(str(actor_id))
        versions_file = self._load_versions_file(actor_id)
        target = next((v for v in versions_file.versions if v.id == version_id), None)
        if target is None:
            raise VersionNotFoundError(version_id, actor_id)
        if intent["op"] == "mark":
            step = intent.get("checkpoint_step")  # a checkpoint marked good (issue 12), else None

            def good_step(v: TrainingVersion) -> int | None:
                return step if v is target else None

            if any(v.isGood != (v is target) or v.goodCheckpointStep != good_step(v) for v in versions_file.versions):
                for version in versions_file.versions:
                    version.isGood = version is target
                    if version.goodCheckpointStep != good_step(version):
                        version.goodCheckpointStep = good_step(version)
                self._write_versions(actor_id, versions_file)
            model = ValidatedLoraModel.model_validate(intent["model"])
            if actor.validated_lora_model != model:
                actor.validated_lora_model = model
                self._write_actors(actors)
        else:
            if target.isGood or target.goodCheckpointStep is not None:
                target.isGood = False
                target.goodCheckpointStep = None
                self._write_versions(actor_id, versions_file)
            current = actor.validated_lora_model
            if current is not None and current.version_id in (target.id, target.requestId):
                actor.validated_lora_model = None
                self._write_actors(actors)
        return actor, target

    def finish_interrupted(self) -> list[str]:
        """Finish a good-mark change a crash interrupted (see above); returns what was repaired
        (also kept in `repaired` and logged). Nothing to do costs one stat."""
        path = self.root / GOOD_MARK_INTENT
        if not path.exists():
            return []
        with self.locked():
            try:
                intent = json.loads(path.read_bytes())
            except FileNotFoundError:  # another process finished it while we waited for the lock
                return []
            except ValueError:  # written atomically, so never half; but a hand edit could break it
                log.warning("%s cannot be read; removed (the good mark may need to be set again).", path)
                path.unlink(missing_ok=True)
                return []
            try:
                actor, version = self._apply_intent(intent)
            except ActorTrainerError as exc:
                log.warning("An interrupted good-mark change could not be finished: %s", exc)
                return []
            path.unlink(missing_ok=True)
        what = "marked good" if intent.get("op") == "mark" else "unmarked"
        note = (f"Finished an interrupted change: {version.name} of {actor.name} {what} in both "
                f"{self.versions_file(actor.id).name} and {self.actors_file.name}.")
        log.warning("%s", note)
        self.repaired.append(note)
        return [note]

    def update_actor(self, actor_id: int, change: Callable[[Actor], T]) -> tuple[Actor, T]:
        """Read-modify-write one actor record under the lock (like `update_version`): `change`
        mutates it (and may raise to abort without writing); returns the saved actor and what
        `change` returned. Fields of other tools on every record are kept."""
        with self.locked():
            actors = self.load_actors()
            for index, actor in enumerate(actors):
                if actor.id == actor_id:
                    working = actor.model_copy(deep=True)
                    result = change(working)
                    checked = Actor.model_validate(working.to_json())
                    if checked.id != actor_id:
                        raise LibraryError(f"An actor's id cannot change ({actor_id} → {checked.id}).")
                    if checked.to_json() != actor.to_json():
                        actors[index] = checked
                        self._write_actors(actors)
                    return checked, result
            raise ActorNotFoundError(str(actor_id))

    def _write_actors(self, actors: list[Actor]) -> None:
        atomic_write_json(self.actors_file, [a.to_json() for a in actors])


def _count_training_data(folder: str) -> tuple[int, int, int]:
    """(images, paired captions, unsupported files) of a training_data folder, counted as
    `Library.scan_training_data` classifies them."""
    image_stems: set[str] = set()
    text_stems: set[str] = set()  # keyed by stem like scan_training_data: of a.txt and a.TXT one counts
    images = others = 0
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                name = entry.name
                if name[0] == "." or not entry.is_file():
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
        return 0, 0, 0
    if not text_stems:
        return images, 0, others
    paired = len(text_stems & image_stems)
    return images, paired, others + len(text_stems) - paired


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
