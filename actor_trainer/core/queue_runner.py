"""The queue's runner: submit at most N at once, sync the next actor while others train, follow
every run through the library's versions, resume after a restart without submitting twice.

One runner per library at a time (a lock file beside `training_queue.json`, held while it runs;
the OS frees it when the process dies, even on SIGKILL). It submits through the same road as
everything else (RunControl.submit → the orchestrator's preflight and `/run`), after the same
sync (SyncService) and the same dataset doctor as `train` (a blocking finding fails the entry
unless it was added with force, which is then recorded in the version as `forced`).

Restart (docs/queue.md; core/queue.py explains the states):
- an entry caught syncing waits again;
- an entry caught submitting is matched to its version by the marker in the version's description;
  without one, nothing was sent, and it waits again;
- an entry in flight is checked once (RunControl.check): a real endpoint's run is picked up where it
  is; a sandbox run whose process died with the old runner is settled as interrupted by the
  orchestrator (core/run_owner.py) — the entry is then submitted again as a new attempt. RunPod's
  `/retry` cannot reach a job of a sandbox that is gone, so the new attempt is a new version (V2 after
  the interrupted V1); the entry's note says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from filelock import FileLock, Timeout

from actor_trainer.core.errors import ActorTrainerError, VersionNotFoundError
from actor_trainer.core.events import Event, EventBus, LogLevel, VersionChanged
from actor_trainer.core.library import Library
from actor_trainer.core.locks import refuse_linked_lock
from actor_trainer.core.models import TrainingVersion, VersionStatus, utc_now
from actor_trainer.core.queue import (
    RUNNER_LOCK,
    EntryState,
    QueueChanged,
    QueueEntry,
    QueueError,
    QueueFile,
    QueueFinished,
    QueueStore,
    QueueSummary,
    batch_summary,
)
from actor_trainer.core.run_control import RunControl
from actor_trainer.core.run_owner import INTERRUPTED_KIND
from actor_trainer.core.sync_service import SyncService

log = logging.getLogger(__name__)

Watch = Callable[[int, str], None]


class QueueBusyError(QueueError):
    def __init__(self) -> None:
        super().__init__(
            "Another runner is already working through this library's queue (the app, or "
            "`actor-trainer queue run` in another terminal).",
            "Let it finish, or stop it; the queue file can still be edited meanwhile.",
        )


def is_interrupted(version: TrainingVersion) -> bool:
    """A sandbox run whose simulated worker died with its process (never a real endpoint's run)."""
    details = version.error.details if version.error is not None else None
    return (
        version.status is VersionStatus.FAILED and isinstance(details, dict) and details.get("kind") == INTERRUPTED_KIND
    )


class QueueRunner:
    def __init__(
        self,
        *,
        store: QueueStore,
        library: Library,
        sync: SyncService,
        runs: RunControl,
        events: EventBus,
        watch: Watch | None = None,
        follow_interval_s: float = 2.0,
        doctor: bool = True,
    ) -> None:
        self.store = store
        self.library = library
        self.sync = sync
        self.runs = runs
        self.events = events
        self.watch = watch
        self.follow_interval_s = follow_interval_s
        self.doctor = doctor
        # Acquired and released on the event loop's thread (timeout 0: it never waits), not thread-local.
        self._lock = FileLock(str(store.root / RUNNER_LOCK), timeout=0, thread_local=False)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    # --- control --------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the queue now (after an edit) instead of at the next interval."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task[Any]:
        """Run in the background until stopped (the app): a queue that runs dry waits for more."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(until_idle=False), name="queue-runner")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ActorTrainerError):
                await task

    async def run(
        self, *, until_idle: bool = True, submit_only: bool = False, max_concurrent: int | None = None
    ) -> QueueSummary | None:
        """Work through the queue. `until_idle`: return (with the batch's summary) once nothing waits
        and nothing is in flight. `submit_only`: return after submitting what may be submitted now."""
        refuse_linked_lock(self.store.root / RUNNER_LOCK)
        try:
            self._lock.acquire()
        except Timeout:
            raise QueueBusyError() from None
        unsubscribe = self.events.subscribe(self._on_event)
        try:
            if max_concurrent is not None:
                await asyncio.to_thread(self.store.set_max_concurrent, max_concurrent)
            await self._resume()
            while True:
                try:
                    queue = await self._pass()
                except ActorTrainerError as exc:
                    if until_idle:
                        raise
                    # The app's runner goes on (e.g. a queue file being repaired by hand); it says why it waits.
                    self.events.log(LogLevel.ERROR, f"Queue: {exc.message}")
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.follow_interval_s * 5)
                    continue
                if submit_only:
                    return None
                if not queue.in_flight():
                    if not queue.waiting():
                        summary = await self._finish_batch()
                        if until_idle:
                            return summary
                    elif queue.paused and until_idle:
                        self.events.log(LogLevel.INFO, f"Queue paused: {len(queue.waiting())} entr(ies) wait.")
                        return None
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.follow_interval_s)
        finally:
            unsubscribe()
            self._lock.release()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, VersionChanged) and (
            event.version.status.is_terminal or event.version.status is VersionStatus.IN_PROGRESS
        ):
            self._wake.set()

    # --- writing the queue ----------------------------------------------------------------------

    async def _update(self, entry_id: str, **changes: Any) -> None:
        def change(entry: QueueEntry) -> None:
            if entry.state is EntryState.REMOVED:
                return  # removed by the user meanwhile (it was not in flight): it stays removed
            for name, value in changes.items():
                setattr(entry, name, value)

        await asyncio.to_thread(self.store.update_entry, entry_id, change)
        self.events.emit(QueueChanged())

    async def _fail(self, entry: QueueEntry, message: str) -> None:
        await self._update(entry.id, state=EntryState.FAILED, error=message, finished_at=utc_now(), submitting_at=None)
        self.events.log(LogLevel.ERROR, f"Queue: {entry.actor_name} failed — {message}", actor_id=entry.actor_id)

    # --- resuming -------------------------------------------------------------------------------

    async def _resume(self) -> None:
        queue = await asyncio.to_thread(self.store.load)
        for entry in queue.entries:
            if entry.state is EntryState.SYNCING:
                await self._update(entry.id, state=EntryState.WAITING)
            elif entry.state.in_flight and entry.version_ref is None:
                found = await self._version_by_marker(entry)
                if found is None:  # the version was never written, so /run was never called
                    self.events.log(
                        LogLevel.INFO,
                        f"Queue: {entry.actor_name} was being submitted when the "
                        "runner stopped; nothing was sent, it waits again.",
                        actor_id=entry.actor_id,
                    )
                    await self._update(
                        entry.id, state=EntryState.WAITING, submitting_at=None, attempts=max(0, entry.attempts - 1)
                    )
                else:
                    await self._adopt(entry, found)
                    await self._check(entry.actor_id, found.key)
            elif entry.state.in_flight and entry.version_ref is not None:
                await self._check(entry.actor_id, entry.version_ref)

    async def _check(self, actor_id: int, ref: str) -> None:
        """Ask about a run found in flight at start-up: a live run is picked up, a dead sandbox settled."""
        try:
            await self.runs.check(actor_id, ref, explain_queue=False)
        except ActorTrainerError as exc:
            self.events.log(
                LogLevel.WARNING, f"Queue: could not check a run in flight: {exc.message}", actor_id=actor_id
            )
        if self.watch is not None:
            self.watch(actor_id, ref)

    async def _version_by_marker(self, entry: QueueEntry) -> TrainingVersion | None:
        try:
            versions = await asyncio.to_thread(self.library.load_versions, entry.actor_id)
        except ActorTrainerError:
            return None
        marker = entry.marker
        return next(
            (
                v
                for v in versions
                if v.description is not None and (v.description == marker or v.description.startswith(marker + ":"))
            ),
            None,
        )

    async def _adopt(self, entry: QueueEntry, version: TrainingVersion) -> None:
        await self._update(
            entry.id,
            version_ref=version.key,
            version_name=version.name,
            submitting_at=None,
            versions=[*entry.versions, version.key] if version.key not in entry.versions else entry.versions,
        )

    # --- one pass: follow, then submit, then sync ahead -----------------------------------------

    async def _pass(self) -> QueueFile:
        queue = await asyncio.to_thread(self.store.load)
        for entry in queue.in_flight():
            if entry.version_ref is not None:
                await self._follow(entry)
        queue = await asyncio.to_thread(self.store.load)
        if queue.paused:
            return queue
        busy = {e.actor_id for e in queue.in_flight()}
        free = queue.max_concurrent - len(queue.in_flight())
        for entry in queue.waiting():
            if free <= 0:
                break
            if entry.actor_id in busy:
                continue  # one run per actor at a time: this entry waits for the other to end
            await self._submit(entry)
            busy.add(entry.actor_id)
            free -= 1
        queue = await asyncio.to_thread(self.store.load)
        busy = {e.actor_id for e in queue.in_flight()}
        ahead = next((e for e in queue.waiting() if not e.synced and e.actor_id not in busy), None)
        if ahead is not None and not queue.paused:
            await self._sync_ahead(ahead)
            queue = await asyncio.to_thread(self.store.load)
        return queue

    async def _follow(self, entry: QueueEntry) -> None:
        assert entry.version_ref is not None
        try:
            version = await asyncio.to_thread(self.library.get_version, entry.actor_id, entry.version_ref)
        except VersionNotFoundError:
            await self._fail(
                entry, f"its version ({entry.version_name or entry.version_ref}) is no longer in the library."
            )
            return
        if not version.status.is_terminal:
            state = EntryState.RUNNING if version.status is VersionStatus.IN_PROGRESS else EntryState.SUBMITTED
            if state is not entry.state:
                await self._update(entry.id, state=state)
            return
        if version.status is VersionStatus.COMPLETED:
            await self._update(entry.id, state=EntryState.DONE, finished_at=utc_now(), error=None)
            self.events.log(
                LogLevel.SUCCESS,
                f"Queue: {entry.actor_name} {version.name} completed.",
                actor_id=entry.actor_id,
                version_id=version.id,
            )
        elif is_interrupted(version):
            note = (
                f"{version.name} was interrupted (its sandbox stopped with the runner); submitted again "
                f"as a new version (attempt {entry.attempts + 1})."
            )
            self.events.log(LogLevel.WARNING, f"Queue: {entry.actor_name}: {note}", actor_id=entry.actor_id)
            await self._update(entry.id, state=EntryState.WAITING, version_ref=None, note=note)
        else:
            why = version.error.message if version.error is not None else f"it ended {version.status.label}"
            await self._fail(entry, f"{version.name}: {why}")

    async def _sync(self, entry: QueueEntry) -> bool:
        try:
            result = await self.sync.sync(entry.actor_id)
        except ActorTrainerError as exc:
            await self._fail(entry, f"sync failed: {exc.message}")
            return False
        if result.failed:
            await self._fail(entry, f"sync failed for {len(result.failed)} file(s): {result.failed[0][1]}")
            return False
        return True

    async def _sync_ahead(self, entry: QueueEntry) -> None:
        await self._update(entry.id, state=EntryState.SYNCING)
        if await self._sync(entry):
            await self._update(entry.id, state=EntryState.WAITING, synced=True)

    async def _submit(self, entry: QueueEntry) -> None:
        def start(queue: QueueFile) -> None:
            now = utc_now()
            queue.batch_started_at = queue.batch_started_at or now
            found = queue.find(entry.id)
            if found is not None and found.state in (EntryState.WAITING, EntryState.SYNCING):
                found.state = EntryState.SYNCING
                found.started_at = found.started_at or now

        await asyncio.to_thread(self.store.update, start)
        self.events.emit(QueueChanged())
        if not await self._sync(entry):
            return
        forced: list[dict[str, Any]] = []
        if self.doctor:
            blocked = await self._doctor(entry)
            if blocked is None:
                return
            forced = blocked
        current = (await asyncio.to_thread(self.store.load)).find(entry.id)
        if current is None or current.state is not EntryState.SYNCING:
            return  # removed (or paused and cleared) while its data synced: nothing is sent
        attempt = entry.attempts + 1
        await self._update(
            entry.id, state=EntryState.SUBMITTED, synced=True, attempts=attempt, submitting_at=utc_now(), error=None
        )
        entry = entry.model_copy(update={"attempts": attempt})
        description = entry.marker + (f": {entry.description}" if entry.description else "")
        try:
            version = await self.runs.submit(
                entry.actor_id, entry.parameters, description=description, allow_concurrent=False
            )
        except Exception as exc:
            found = await self._version_by_marker(entry)
            if found is not None:  # the version exists (e.g. /run's answer was lost): follow it
                await self._adopt(entry, found)
                return
            message = exc.message if isinstance(exc, ActorTrainerError) else f"{type(exc).__name__}: {exc}"
            await self._fail(entry, message)
            if not isinstance(exc, ActorTrainerError):
                log.exception("queue submit of %s failed", entry.actor_name)
            return
        await self._adopt(entry, version)
        self.events.log(
            LogLevel.INFO,
            f"Queue: {entry.actor_name} submitted as {version.name} (attempt {attempt}).",
            actor_id=entry.actor_id,
            version_id=version.id,
        )
        if forced:
            from actor_trainer.core.dataset_doctor import record_forced

            await asyncio.to_thread(record_forced, self.library, entry.actor_id, version.key, forced)

    async def _doctor(self, entry: QueueEntry) -> list[dict[str, Any]] | None:
        """The dataset doctor's verdict: None when a blocking finding stops the entry (it failed),
        else the reasons `force` overrode (empty when nothing blocks)."""
        from actor_trainer.core.dataset_doctor import DatasetBlockedError, check_actor, forced_reasons

        try:
            actor = await asyncio.to_thread(self.library.get_actor, entry.actor_id)
            report = await asyncio.to_thread(check_actor, self.library, actor, entry.parameters)
        except ActorTrainerError as exc:
            await self._fail(entry, exc.message)
            return None
        if not report.has_blocking:
            return []
        if not entry.force:
            await self._fail(entry, DatasetBlockedError(report).message)
            return None
        return forced_reasons(report)

    def _cost(self, runs: list[tuple[int, str]]) -> float | None:
        """≈ what the runs cost: each one's estimated cost scaled to its actual time (blocking)."""
        total, known = 0.0, False
        for actor_id, ref in runs:
            try:
                version = self.library.get_version(actor_id, ref)
            except ActorTrainerError:
                continue
            estimate = version.estimate
            if estimate is None or estimate.cost is None:
                continue
            actual = version.actual_seconds
            scale = actual / estimate.seconds if actual is not None and estimate.seconds > 0 else 1.0
            total += estimate.cost * scale
            known = True
        return total if known else None

    # --- the end --------------------------------------------------------------------------------

    async def _finish_batch(self) -> QueueSummary | None:
        if (await asyncio.to_thread(self.store.load)).batch_started_at is None:
            return None  # idle and nothing to sum up: no write (an idle app's runner looks every few seconds)

        def finish(queue: QueueFile) -> QueueSummary | None:
            if queue.batch_started_at is None:
                return None
            summary = batch_summary(queue)
            queue.batch_started_at = None
            return summary

        _, summary = await asyncio.to_thread(self.store.update, finish)
        if summary is None:
            return None
        summary.cost = await asyncio.to_thread(self._cost, summary.runs)
        level = LogLevel.WARNING if summary.failed else LogLevel.SUCCESS
        self.events.log(level, f"Queue finished: {summary.text}.")
        self.events.emit(QueueChanged())
        self.events.emit(QueueFinished(summary=summary))
        return summary
