"""Polling: the webhook's backup, and the only source of live progress (RunPod sends no progress
webhooks).

Every `interval_s` (ACTOR_TRAINER_POLL_SECONDS, 30 by default) each non-terminal version of the
current endpoint is checked; runs started or watched in this session are checked every
`live_interval_s` so the console moves while a run trains. Idle (one wait, no timer work) while
nothing is in flight. A jump of the wall clock past the monotonic clock means the machine slept:
everything in flight is reconciled at once.

A run seen in flight here can end elsewhere (cancelled by `actor-trainer cancel` or another window,
completed and recorded by another process): the library then says it is over and nothing in this
process announced it. Such a run is announced (`VersionChanged`) at the next look, so whoever waits
for it — `train --wait`, the console, the versions table — learns it within one interval (one live
interval for a run followed closely).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from actor_trainer.core.errors import VersionNotFoundError
from actor_trainer.core.events import EventBus, LogLevel, VersionChanged
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingVersion
from actor_trainer.core.orchestrator import TrainingOrchestrator

log = logging.getLogger(__name__)

#: How much further the wall clock must run than the monotonic clock to count as a resume.
RESUME_JUMP_S = 20.0


class StatusPoller:
    def __init__(
        self,
        orchestrator: TrainingOrchestrator,
        library: Library,
        events: EventBus,
        *,
        interval_s: float = 30.0,
        live_interval_s: float = 5.0,
        resume_check_s: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.orchestrator = orchestrator
        self.library = library
        self.events = events
        self.interval_s = interval_s
        self.live_interval_s = min(live_interval_s, interval_s)
        self.resume_check_s = resume_check_s
        self._wall = wall_clock
        self._wake = asyncio.Event()
        self._live: set[tuple[int, str]] = set()
        #: runs in flight at the last look, until something in this process announces their end
        self._seen: set[tuple[int, str]] = set()
        self._ending: set[tuple[int, str]] = set()  # left flight at the last look; to announce if over
        self._over: set[tuple[int, str]] = set()  # whose end this process has announced (since they last moved)
        events.subscribe(self._on_event)
        self._tasks: list[asyncio.Task[None]] = []
        self._check_lock = asyncio.Lock()
        self.checks_made = 0

    # --- control --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._poll_loop(), name="status-poller"),
            asyncio.create_task(self._resume_loop(), name="resume-watch"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def watch(self, actor_id: int, ref: str) -> None:
        """Follow this run closely (every live interval) until it ends, and poll now."""
        if (actor_id, ref) in self._over:
            return  # already over (its end was announced before this call)
        self._live.add((actor_id, ref))
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # --- work -----------------------------------------------------------------------------------

    async def reconcile(self, reason: str = "start-up") -> list[TrainingVersion]:
        """Check every non-terminal version of this endpoint now (start-up, resume, `reconcile`)."""
        in_flight = await asyncio.to_thread(self.library.in_flight_versions)
        for problem in self.library.unreadable.values():  # one broken file blocks only its actor
            self.events.log(
                LogLevel.WARNING,
                f"{problem} — runs in that file are not followed until it is fixed; the other actors are not affected.",
            )
        mine = [(a.id, v) for a, v in in_flight if v.endpoint in (None, self.orchestrator.endpoint_label)]
        if mine:
            self.events.log(LogLevel.INFO, f"Reconciling {len(mine)} run(s) in flight ({reason}).")
        results = []
        for actor_id, version in mine:
            results.append(await self._check(actor_id, version.key))
        return results

    async def _check(self, actor_id: int, ref: str) -> TrainingVersion:
        async with self._check_lock:  # one status round at a time: never two writers racing on a version
            self.checks_made += 1
            try:
                version = await self.orchestrator.check(actor_id, ref)
            except Exception as exc:  # a broken check must not kill the poller; it is reported
                log.exception("status check of %s failed", ref)
                self.events.log(LogLevel.ERROR, f"Status check failed unexpectedly: {exc}", actor_id=actor_id)
                raise
        key = (actor_id, ref)
        if version.status.is_terminal and (key in self._live or key in self._seen):
            # Over, and not announced here (an announcement would have dropped it): ended elsewhere.
            self._announce_ended(actor_id, version)
        return version

    def _on_event(self, event: object) -> None:
        if not isinstance(event, VersionChanged):
            return
        key = (event.actor_id, event.version.key)
        if event.version.status.is_terminal:
            self._over.add(key)
            self._live.discard(key)
            self._seen.discard(key)
            self._ending.discard(key)
        else:
            self._over.discard(key)  # e.g. reopened by a retry

    def _announce_ended(self, actor_id: int, version: TrainingVersion) -> None:
        if (actor_id, version.key) in self._over:
            return  # already announced here (e.g. a webhook applied it before /run answered)
        self.events.log(
            LogLevel.INFO,
            f"{version.name} ended elsewhere: {version.status.label}.",
            actor_id=actor_id,
            version_id=version.id,
        )
        self.events.emit(VersionChanged(actor_id=actor_id, version=version))  # drops it from _live/_seen

    async def _announce_ended_elsewhere(self, ended: set[tuple[int, str]]) -> None:
        self._ending |= ended
        for actor_id, ref in sorted(ended):
            try:
                version = await asyncio.to_thread(self.library.get_version, actor_id, ref)
            except VersionNotFoundError:
                continue
            if version.status.is_terminal and (actor_id, ref) in self._ending:
                self._announce_ended(actor_id, version)
        self._ending -= ended

    async def _poll_loop(self) -> None:
        # Start-up: whatever was in flight when the app last closed (or the laptop slept) first.
        with contextlib.suppress(Exception):
            await self.reconcile("start-up")
        last_full = time.monotonic()
        while True:
            in_flight = await asyncio.to_thread(self.library.in_flight_versions)
            mine = {(a.id, v.key) for a, v in in_flight if v.endpoint in (None, self.orchestrator.endpoint_label)}
            ended = (self._live | self._seen) - mine
            self._live &= mine  # runs that ended or left this endpoint are no longer followed
            self._seen = set(mine)
            if ended:
                with contextlib.suppress(Exception):
                    await self._announce_ended_elsewhere(ended)
            if not mine:
                self._wake.clear()
                await self._wake.wait()  # idle: nothing in flight, nothing to time
                continue
            timeout = self.live_interval_s if self._live else self.interval_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            full = time.monotonic() - last_full >= self.interval_s
            targets = mine if full else (mine & self._live)
            if full:
                last_full = time.monotonic()
            for actor_id, ref in sorted(targets):
                with contextlib.suppress(Exception):
                    await self._check(actor_id, ref)

    async def _resume_loop(self) -> None:
        wall, mono = self._wall(), time.monotonic()
        while True:
            await asyncio.sleep(self.resume_check_s)
            new_wall, new_mono = self._wall(), time.monotonic()
            if (new_wall - wall) - (new_mono - mono) > RESUME_JUMP_S:
                self.events.log(LogLevel.INFO, "The computer was asleep; checking every run in flight.")
                with contextlib.suppress(Exception):
                    await self.reconcile("resume from sleep")
            wall, mono = new_wall, new_mono
