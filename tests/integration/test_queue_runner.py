"""The queue's runner inside one process (core/queue_runner.py), over the real services: the sandbox
endpoint, the webhook server, the local bucket. What a crash leaves behind is written as the crash
would leave it; the runner must neither lose an entry nor submit one twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actor_trainer.core.models import TrainingParameters, utc_now
from actor_trainer.core.queue import EntryState, QueueFile, QueueStore
from actor_trainer.core.queue_runner import QueueRunner
from actor_trainer.runtime import Services
from tests.integration.e2e_support import FAST_PARAMS, running

pytestmark = pytest.mark.asyncio


def _runner(services: Services) -> QueueRunner:
    assert services.queue is not None
    return services.queue


def _store(services: Services) -> QueueStore:
    return QueueStore(services.library.root)


def _as_if_submitting(store: QueueStore, entry_id: str) -> None:
    """What `_submit` has written when it calls RunControl.submit (core/queue_runner.py)."""

    def change(queue: QueueFile) -> None:
        now = utc_now()
        queue.batch_started_at = now
        entry = queue.find(entry_id)
        assert entry is not None
        entry.state, entry.attempts, entry.submitting_at, entry.started_at = EntryState.SUBMITTED, 1, now, now

    store.update(change)


def _run_count(services: Services) -> int:
    assert services.sandbox is not None
    return services.sandbox.request_count("run")


async def test_a_version_made_before_the_crash_is_adopted_not_submitted_again(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _rec):
        store = _store(services)
        entry = store.add(0, "0000", FAST_PARAMS)
        # The runner died after the version was written and /run was sent, before it noted the version.
        _as_if_submitting(store, entry.id)
        crashed = store.load().find(entry.id)
        assert crashed is not None
        version = await services.require_runs().submit(
            0, FAST_PARAMS, description=crashed.marker, allow_concurrent=False
        )
        summary = await _runner(services).run()
        assert summary is not None and summary.completed == 1 and summary.failed == 0
        assert _run_count(services) == 1  # adopted: no second /run
        done = store.load().find(entry.id)
        assert done is not None and done.state is EntryState.DONE and done.version_ref == version.key
        assert done.attempts == 1 and done.versions == [version.key]


async def test_an_entry_caught_before_its_version_existed_waits_and_runs_once(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, rec):
        store = _store(services)
        entry = store.add(1, "0001", FAST_PARAMS)
        _as_if_submitting(store, entry.id)  # the runner died before the version was written
        summary = await _runner(services).run()
        assert summary is not None and summary.completed == 1
        assert _run_count(services) == 1
        done = store.load().find(entry.id)
        assert done is not None and done.attempts == 1 and done.state is EntryState.DONE
        assert any("nothing was sent, it waits again" in line for line in rec.logs())
        assert [v.description for v in services.library.load_versions(1)] == [f"queue {entry.id}#1"]


async def test_doctor_blocks_unless_forced_and_one_actor_runs_once_at_a_time(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _rec):
        folder = Path(services.library.training_data_folder(0))
        (folder / "empty.png").write_bytes(b"")
        await services.sync.sync(0)
        store = _store(services)
        blocked = store.add(0, "0000", FAST_PARAMS)
        forced = store.add(0, "0000", FAST_PARAMS, force=True)
        again = store.add(1, "0001", FAST_PARAMS)
        twice = store.add(1, "0001", TrainingParameters(max_train_steps=20, network_dim=4, network_alpha=4))
        seen_in_flight: list[int] = []

        def watch(_event: object) -> None:
            queue = store.load()
            seen_in_flight.append(len({e.actor_id for e in queue.in_flight()}) - len(queue.in_flight()))

        services.events.subscribe(watch)
        summary = await _runner(services).run(max_concurrent=3)
        # Forced, the run is sent and fails at the worker on the empty file, as the doctor said it would.
        assert summary is not None and (summary.completed, summary.failed) == (2, 2)
        assert summary.failed_actors == ["0000", "0000"]
        queue = store.load()
        failed = queue.find(blocked.id)
        assert failed is not None and failed.state is EntryState.FAILED and "block training" in (failed.error or "")
        sent = queue.find(forced.id)
        assert sent is not None and sent.state is EntryState.FAILED and sent.version_ref is not None
        assert "empty.png" in (sent.error or "")
        version = services.library.get_version(0, sent.version_ref)
        assert [r["code"] for r in (version.model_extra or {})["forced"]] == ["empty_file"]
        assert _run_count(services) == 3  # the blocked entry cost nothing
        assert [e.state if e else None for e in (queue.find(again.id), queue.find(twice.id))] == [EntryState.DONE] * 2
        assert seen_in_flight and min(seen_in_flight) == 0  # never two runs of one actor at once, though N was 3


async def test_paused_queue_submits_nothing_and_resumes(tmp_path: Path) -> None:
    async with running(tmp_path) as (services, _rec):
        store = _store(services)
        store.add(0, "0000", FAST_PARAMS)
        store.set_paused(True)
        assert await _runner(services).run() is None
        assert _run_count(services) == 0 and store.load().entries[0].state is EntryState.WAITING
        store.set_paused(False)
        summary = await asyncio.wait_for(_runner(services).run(), 60)
        assert summary is not None and summary.completed == 1 and _run_count(services) == 1


async def test_an_entry_removed_while_its_data_syncs_is_not_sent(tmp_path: Path) -> None:
    from actor_trainer.core.events import Event, LogEvent

    async with running(tmp_path) as (services, _rec):
        store = _store(services)
        entry = store.add(0, "0000", FAST_PARAMS)

        def remove_when_syncing(event: Event) -> None:
            if isinstance(event, LogEvent) and event.message.startswith("Syncing") and event.actor_id == 0:
                assert store.load().find(entry.id).state is EntryState.SYNCING  # type: ignore[union-attr]
                store.remove(entry.id)  # what the panel's Remove does meanwhile

        services.events.subscribe(remove_when_syncing)
        await _runner(services).run()
        assert _run_count(services) == 0 and services.library.load_versions(0) == []
        assert store.load().entries[0].state is EntryState.REMOVED
