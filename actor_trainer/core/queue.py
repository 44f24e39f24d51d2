"""The training queue: many actors trained one after another (or N at a time), overnight (docs/queue.md).

The queue lives in the library, in one JSON file (`training_queue.json` at the library root),
written atomically (core/atomic.py) and changed only by read-modify-write under a short file lock,
so the app, `actor-trainer queue …` in a terminal and the runner can all edit it. One runner per
library at a time holds a second, long lock (core/queue_runner.py).

An entry moves waiting → syncing → waiting (data synced ahead) → submitted → running → done |
failed; `removed` entries stay in the file (listed only on request). An entry that has asked for a
run records `submitting_at` before `/run` and the version's key once the version exists; the
version's description carries the entry's marker (`queue <id>#<attempt>`), so a runner that died
between the two finds the version again instead of submitting twice.

No Qt. Everything here blocks (file I/O): call it off the event loop.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.errors import ActorTrainerError, CorruptFileError
from actor_trainer.core.events import Event
from actor_trainer.core.locks import refuse_linked_lock
from actor_trainer.core.models import TrainingParameters, utc_now

QUEUE_FILE = "training_queue.json"
STORE_LOCK = ".training_queue.json.lock"
RUNNER_LOCK = ".training_queue.runner.lock"
#: How many runs the queue keeps in flight at once unless told otherwise (`/health` reports the
#: workers running now, not the endpoint's maximum, so the app cannot know better than the user).
DEFAULT_MAX_CONCURRENT = 1

T = TypeVar("T")


class EntryState(StrEnum):
    WAITING = "waiting"
    SYNCING = "syncing"
    SUBMITTED = "submitted"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REMOVED = "removed"

    @property
    def in_flight(self) -> bool:
        """A run of this entry was asked for and has not ended (it takes one of the N places)."""
        return self in (EntryState.SUBMITTED, EntryState.RUNNING)

    @property
    def finished(self) -> bool:
        return self in (EntryState.DONE, EntryState.FAILED)


class QueueError(ActorTrainerError):
    """A queue action was refused."""


class QueueEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    actor_id: int
    actor_name: str = ""
    parameters: TrainingParameters = Field(default_factory=TrainingParameters)
    force: bool = False  # start despite the dataset doctor's blocking findings (recorded as `forced`)
    description: str | None = None
    state: EntryState = EntryState.WAITING
    synced: bool = False  # its data was synced ahead, while other runs trained
    version_ref: str | None = None  # the key (request id) of the version of the current attempt
    version_name: str | None = None
    versions: list[str] = Field(default_factory=list)  # every version this entry made, oldest first
    attempts: int = 0  # runs asked for (a resubmission after an interrupted sandbox is a new attempt)
    error: str | None = None
    note: str | None = None  # what happened besides the error (e.g. "V1 was interrupted; resubmitted as V2")
    added_at: datetime = Field(default_factory=utc_now)
    submitting_at: datetime | None = None
    started_at: datetime | None = None  # first submission
    finished_at: datetime | None = None

    @property
    def marker(self) -> str:
        """What the version's description says about the entry and attempt that made it."""
        return f"queue {self.id}#{self.attempts}"


class QueueFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    entries: list[QueueEntry] = Field(default_factory=list)
    paused: bool = False
    max_concurrent: int = Field(default=DEFAULT_MAX_CONCURRENT, ge=1, le=64)
    batch_started_at: datetime | None = None  # the first submission since the queue was last idle

    def visible(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.state is not EntryState.REMOVED]

    def find(self, entry_id: str) -> QueueEntry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def in_flight(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.state.in_flight]

    def waiting(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.state in (EntryState.WAITING, EntryState.SYNCING)]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# --- the summary --------------------------------------------------------------------------------


class QueueSummary(BaseModel):
    completed: int
    failed: int
    seconds: float
    failed_actors: list[str] = Field(default_factory=list)
    #: ≈ US dollars of the batch's runs: each run's estimate (core/estimate.py) scaled to its actual
    #: time on the endpoint; None when no run had a priced estimate
    cost: float | None = None
    #: (actor id, version key) of every run the batch's entries made, interrupted attempts included
    runs: list[tuple[int, str]] = Field(default_factory=list)

    @property
    def text(self) -> str:
        text = f"{self.completed} completed, {self.failed} failed — {format_duration(self.seconds)}"
        if self.cost is not None:
            from actor_trainer.core.estimate import format_cost

            cost = format_cost(self.cost)
            text += f", {cost}" if cost.startswith("<") else f", ≈ {cost}"
        return text


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min"
    if m:
        return f"{m} min {s} s" if m < 10 else f"{m} min"
    return f"{s} s"


def batch_summary(queue: QueueFile, until: datetime | None = None) -> QueueSummary:
    """The entries that ended since the batch began (all finished entries when it is unknown)."""
    since = queue.batch_started_at
    ended = [
        e
        for e in queue.entries
        if e.state.finished and (since is None or (e.finished_at is not None and e.finished_at >= since))
    ]
    end = until or max((e.finished_at for e in ended if e.finished_at is not None), default=utc_now())
    start = since or min((e.started_at for e in ended if e.started_at is not None), default=end)
    return QueueSummary(
        completed=sum(1 for e in ended if e.state is EntryState.DONE),
        failed=sum(1 for e in ended if e.state is EntryState.FAILED),
        seconds=max(0.0, (end - start).total_seconds()),
        failed_actors=[e.actor_name or f"{e.actor_id:04d}" for e in ended if e.state is EntryState.FAILED],
        runs=[(e.actor_id, ref) for e in ended for ref in e.versions],
    )


# --- events (the GUI's Queue panel and the notifications listen) --------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueChanged(Event):
    """This process wrote the queue file (entries, states, pause)."""


@dataclass(frozen=True, kw_only=True)
class QueueFinished(Event):
    """The queue ran dry: every entry of the batch ended. `summary.text` is the one summary line."""

    summary: QueueSummary


# --- the store ----------------------------------------------------------------------------------


class QueueStore:
    """`training_queue.json` of one library: read it, change it under its lock, write it atomically."""

    def __init__(self, library_root: Path) -> None:
        self.root = Path(library_root)
        self.path = self.root / QUEUE_FILE
        self._lock = FileLock(str(self.root / STORE_LOCK), timeout=30)

    def load(self) -> QueueFile:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return QueueFile()
        except (OSError, ValueError) as exc:
            raise CorruptFileError(self.path, f"not readable as JSON ({exc})") from exc
        try:
            return QueueFile.model_validate(raw)
        except ValidationError as exc:
            raise CorruptFileError(self.path, f"not a training queue ({exc.error_count()} problem(s))") from exc

    def update(self, change: Callable[[QueueFile], T]) -> tuple[QueueFile, T]:
        """Read, `change` in place, write — all under the lock (other processes edit it too)."""
        refuse_linked_lock(self.root / STORE_LOCK)
        with self._lock:
            queue = self.load()
            result = change(queue)
            atomic_write_json(self.path, queue.to_json())
            return queue, result

    def update_entry(self, entry_id: str, change: Callable[[QueueEntry], None]) -> QueueEntry | None:
        def apply(queue: QueueFile) -> QueueEntry | None:
            entry = queue.find(entry_id)
            if entry is not None:
                change(entry)
            return entry

        return self.update(apply)[1]

    # --- what the user does -----------------------------------------------------------------------

    def add(
        self,
        actor_id: int,
        actor_name: str,
        params: TrainingParameters,
        *,
        force: bool = False,
        description: str | None = None,
    ) -> QueueEntry:
        entry = QueueEntry(
            id=secrets.token_hex(4),
            actor_id=actor_id,
            actor_name=actor_name,
            parameters=params,
            force=force,
            description=(description or "").strip() or None,
        )

        def apply(queue: QueueFile) -> QueueEntry:
            while queue.find(entry.id) is not None:  # 32 random bits: a clash is rare, never silent
                entry.id = secrets.token_hex(4)
            queue.entries.append(entry)
            return entry

        return self.update(apply)[1]

    def resolve(self, queue: QueueFile, ref: str, actor_id: int | None = None) -> list[QueueEntry]:
        """Entries named by `ref`: an entry id, or (given `actor_id`) every visible entry of that actor."""
        exact = queue.find(ref)
        if exact is not None and exact.state is not EntryState.REMOVED:
            return [exact]
        if actor_id is not None:
            return [e for e in queue.visible() if e.actor_id == actor_id]
        return []

    def remove(self, ref: str, actor_id: int | None = None) -> list[QueueEntry]:
        """Remove entries that are not in flight (a run in flight is cancelled with `cancel`, not here)."""

        def apply(queue: QueueFile) -> list[QueueEntry]:
            targets = self.resolve(queue, ref, actor_id)
            if not targets:
                raise QueueError(f"No queue entry matches {ref!r}.", "`actor-trainer queue list` shows the entries.")
            busy = [e for e in targets if e.state.in_flight]
            if busy and len(busy) == len(targets):
                names = ", ".join(f"{e.actor_name} ({e.version_name or e.state.value})" for e in busy)
                raise QueueError(
                    f"{names}: the run is in flight, so the entry stays until it ends.",
                    "Cancel the run (`actor-trainer cancel JOB_ID`, or Cancel in the app) first.",
                )
            removed = [e for e in targets if not e.state.in_flight]
            for e in removed:
                e.state = EntryState.REMOVED
            return removed

        return self.update(apply)[1]

    def clear(self) -> int:
        """Remove every entry still waiting; entries in flight or ended stay."""

        def apply(queue: QueueFile) -> int:
            waiting = [e for e in queue.entries if e.state is EntryState.WAITING]
            for e in waiting:
                e.state = EntryState.REMOVED
            return len(waiting)

        return self.update(apply)[1]

    def set_paused(self, paused: bool) -> None:
        def apply(queue: QueueFile) -> None:
            queue.paused = paused

        self.update(apply)

    def set_max_concurrent(self, n: int) -> None:
        if not 1 <= n <= 64:
            raise QueueError(f"{n} runs at once is not possible.", "Choose between 1 and 64.")

        def apply(queue: QueueFile) -> None:
            queue.max_concurrent = n

        self.update(apply)

    def move(self, entry_id: str, offset: int) -> None:
        """Move a visible entry `offset` places among the visible entries (negative: earlier)."""

        def apply(queue: QueueFile) -> None:
            visible = queue.visible()
            entry = queue.find(entry_id)
            if entry is None or entry not in visible:
                raise QueueError(f"No queue entry {entry_id!r}.", "The queue may have changed; look again.")
            index = visible.index(entry)
            target = max(0, min(len(visible) - 1, index + offset))
            if target == index:
                return
            anchor = visible[target]
            queue.entries.remove(entry)
            at = queue.entries.index(anchor)
            queue.entries.insert(at + (1 if offset > 0 else 0), entry)

        self.update(apply)

    def retry_failed(self, entry_id: str | None = None) -> list[QueueEntry]:
        """Failed entries (one, or all) wait again; their next run is a new attempt."""

        def apply(queue: QueueFile) -> list[QueueEntry]:
            targets = [
                e for e in queue.entries if e.state is EntryState.FAILED and (entry_id is None or e.id == entry_id)
            ]
            for e in targets:
                e.state = EntryState.WAITING
                e.error = None
                e.version_ref = None
                e.version_name = None
                e.synced = False
                e.finished_at = None
            return targets

        return self.update(apply)[1]
