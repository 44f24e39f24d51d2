"""The training queue's file and its edits (core/queue.py), and the one-runner-per-library lock."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from actor_trainer.core.errors import CorruptFileError
from actor_trainer.core.models import TrainingParameters, utc_now
from actor_trainer.core.queue import (
    QUEUE_FILE,
    RUNNER_LOCK,
    EntryState,
    QueueError,
    QueueFile,
    QueueStore,
    batch_summary,
    format_duration,
)


@pytest.fixture
def store(tmp_path: Path) -> QueueStore:
    return QueueStore(tmp_path)


def _names(store: QueueStore) -> list[str]:
    return [e.actor_name for e in store.load().visible()]


def test_entries_are_written_to_the_library_and_read_back(store: QueueStore, tmp_path: Path) -> None:
    assert store.load().entries == []  # no file yet: an empty queue
    a = store.add(0, "anna", TrainingParameters(max_train_steps=30), description=" night run ")
    store.add(1, "ben", TrainingParameters())
    raw = json.loads((tmp_path / QUEUE_FILE).read_text(encoding="utf-8"))
    assert [e["actor_id"] for e in raw["entries"]] == [0, 1]
    assert raw["entries"][0]["state"] == "waiting" and raw["entries"][0]["parameters"]["max_train_steps"] == 30
    assert raw["max_concurrent"] == 1 and raw["paused"] is False
    loaded = store.load().find(a.id)
    assert loaded is not None and loaded.description == "night run" and loaded.attempts == 0
    assert loaded.marker == f"queue {a.id}#0"
    assert not list(tmp_path.glob(".training_queue.json.*.tmp"))  # atomic write left no temp file


def test_reorder_pause_clear_remove_retry(store: QueueStore) -> None:
    ids = [store.add(i, name, TrainingParameters()).id for i, name in enumerate(["a", "b", "c", "d"])]
    store.move(ids[3], -2)
    assert _names(store) == ["a", "d", "b", "c"]
    store.move(ids[0], 10)  # clamped to the end
    assert _names(store) == ["d", "b", "c", "a"]

    store.set_paused(True)
    assert store.load().paused
    store.set_paused(False)
    store.set_max_concurrent(3)
    assert store.load().max_concurrent == 3
    with pytest.raises(QueueError):
        store.set_max_concurrent(0)

    # An entry in flight cannot be removed; finished and waiting ones can.
    store.update_entry(ids[1], lambda e: setattr(e, "state", EntryState.RUNNING))
    with pytest.raises(QueueError, match="in flight"):
        store.remove(ids[1])
    store.update_entry(ids[2], lambda e: setattr(e, "state", EntryState.FAILED))
    removed = store.remove("x", actor_id=0)  # by actor
    assert [e.id for e in removed] == [ids[0]]
    assert _names(store) == ["d", "b", "c"]
    assert [e.state for e in store.load().entries if e.id == ids[0]] == [EntryState.REMOVED]  # kept, hidden
    with pytest.raises(QueueError, match="No queue entry"):
        store.remove("nope")

    assert store.clear() == 1  # only "d" waits; "b" runs and "c" failed
    assert _names(store) == ["b", "c"]
    retried = store.retry_failed()
    assert [e.id for e in retried] == [ids[2]] and store.load().find(ids[2]).state is EntryState.WAITING  # type: ignore[union-attr]


def test_a_damaged_queue_file_is_reported_and_kept(store: QueueStore, tmp_path: Path) -> None:
    (tmp_path / QUEUE_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptFileError):
        store.load()
    with pytest.raises(CorruptFileError):
        store.add(0, "a", TrainingParameters())
    assert (tmp_path / QUEUE_FILE).read_text(encoding="utf-8") == "{not json"


def test_summary_line() -> None:
    assert format_duration(3 * 3600 + 12 * 60 + 5) == "3 h 12 min"
    assert format_duration(65) == "1 min 5 s" and format_duration(9) == "9 s"
    start = utc_now()
    queue = QueueFile.model_validate(
        {
            "batch_started_at": start.isoformat(),
            "entries": [
                {
                    "id": f"e{i}",
                    "actor_id": i,
                    "state": "done" if i < 8 else "failed",
                    "finished_at": (start + timedelta(hours=3, minutes=12)).isoformat(),
                }
                for i in range(9)
            ]
            + [{"id": "old", "actor_id": 20, "state": "done", "finished_at": (start - timedelta(days=1)).isoformat()}],
        }
    )
    summary = batch_summary(queue)
    assert summary.text == "8 completed, 1 failed — 3 h 12 min"  # the entry of an earlier batch is not counted
    assert summary.failed_actors == ["0008"]
    summary.cost = 14.6  # the runs' estimates scaled to their actual times (core/queue_runner.py)
    assert summary.text == "8 completed, 1 failed — 3 h 12 min, ≈ $14.60"


def test_one_runner_per_library(tmp_path: Path) -> None:
    """A second runner is refused while another process runs the queue; the lock goes with its holder."""
    import asyncio

    from actor_trainer.core.events import EventBus
    from actor_trainer.core.library import Library
    from actor_trainer.core.queue_runner import QueueBusyError, QueueRunner

    store = QueueStore(tmp_path)
    runner = QueueRunner(
        store=store,
        library=Library(tmp_path),
        sync=None,
        runs=None,  # type: ignore[arg-type]
        events=EventBus(),
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, filelock; l = filelock.FileLock(sys.argv[1]); l.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
            str(tmp_path / RUNNER_LOCK),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(QueueBusyError):
            asyncio.run(runner.run())
    finally:
        holder.kill()  # SIGKILL: the OS frees the lock
        holder.wait()
    assert asyncio.run(runner.run()) is None  # empty queue, no batch: runs and returns at once
