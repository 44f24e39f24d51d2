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

import gc
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from pydantic import TypeAdapter, ValidationError

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.errors import (
    ActorNotFoundError,
    CorruptFileError,
    LibraryError,
    VersionNotFoundError,
)
from actor_trainer.core.good_marks import GOOD_MARK_INTENT, GoodMarks
from actor_trainer.core.library_records import (
    CAPTION_SUFFIX,
    IMAGE_SUFFIXES,
    POSTER_SUFFIXES,
    STALE_TEMP_S,
    ActorSummary,
    TrainingDataScan,
    _describe,
    outside_message,
    remove_stale_temp_files,
    scan_folder,
)
from actor_trainer.core.locks import refuse_linked_lock
from actor_trainer.core.models import (
    Actor,
    ActorRegistry,
    TrainingVersion,
    VersionsFile,
)
from actor_trainer.core.summary_index import SummaryIndex

# Split out (issue 8), still importable from here: the records and helpers, the good-mark intent file.
__all__ = [
    "CAPTION_SUFFIX",
    "GOOD_MARK_INTENT",
    "IMAGE_SUFFIXES",
    "LOCK_NAME",
    "POSTER_SUFFIXES",
    "STALE_TEMP_S",
    "ActorSummary",
    "Library",
    "TrainingDataScan",
    "outside_message",
    "remove_stale_temp_files",
]

LOCK_NAME = ".actor-trainer.lock"
_ACTOR_LIST: TypeAdapter[list[Actor]] = TypeAdapter(list[Actor])

T = TypeVar("T")
log = logging.getLogger(__name__)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (reference counting goes on); resumed after, if it was on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


class Library(GoodMarks):
    """One library folder. Cheap to construct; every read goes to disk (files are the truth)."""

    def __init__(self, root: Path, *, summary_index: SummaryIndex | None = None) -> None:
        self.root = Path(root)
        self._thread_lock = threading.RLock()
        #: `summaries`' memory of the actor folders (default: `SummaryIndex.for_library`, on first use)
        self._summary_index = summary_index
        self._index_lock = threading.Lock()
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
                    f"Another program has held the library's lock ({lock_path}) for {self._file_lock.timeout:g} s.",
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
            raise LibraryError(f"No readable versions file has {ref!r}. Could not read: {broken}", skipped[0].hint)
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
        return scan_folder(self.root, self.training_data_folder(actor_id), actor_id)

    def summaries(self) -> list[ActorSummary]:
        """Every actor with its training-data counts and poster, as the selector shows them.

        Counts follow `scan_training_data` exactly. An actor's folders are listed only when they
        changed since the last load (`core/summary_index.py`: one stat per folder otherwise): about
        200 ms for 10,000 actors on a quiet 2-core machine, against 490 ms listing every folder, and
        a first open (no index yet) about as long as before (benchmarks/bench_selector.py). The
        actors are read and validated from actors.json every time.

        The cyclic garbage collector is paused meanwhile: the 10,000 actors and summaries made here
        (none of them in a cycle) would otherwise set off full collections, ~15 % of the load.
        """
        with _collector_paused():
            return self.summary_index.summaries(self.root, self.load_actors())

    @property
    def summary_index(self) -> SummaryIndex:
        """What the last loads found in the actor folders (per-user cache; made on first use)."""
        with self._index_lock:
            if self._summary_index is None:
                self._summary_index = SummaryIndex.for_library(self.root)
            return self._summary_index

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
