"""The AppContext: built once at start-up and passed to every window and widget. No globals.

It owns the running core services, the event bridge, the task runner, the shared actor model and
thumbnail loader, the current actor, and the cached sync state of each actor (the real bucket
listing, refreshed on demand — never a marker file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, Signal

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import LogLevel, TunnelChanged
from actor_trainer.core.library import ActorSummary, Library
from actor_trainer.core.library_notes import opening_notes
from actor_trainer.core.models import TrainingParameters, TrainingVersion
from actor_trainer.core.parameter_memory import ParameterMemory
from actor_trainer.core.settings import GPU_PRICES_AS_OF, Config, Settings, cache_dir, config_dir
from actor_trainer.core.storage.base import SyncStatus
from actor_trainer.core.thumbnails import ThumbnailCache
from actor_trainer.gui.bridge import EventBridge
from actor_trainer.gui.context_runs import RunActions
from actor_trainer.gui.context_sync import SyncActions, state_word
from actor_trainer.gui.context_trials import TrialActions
from actor_trainer.gui.context_tunnel import TunnelActions
from actor_trainer.gui.current_versions import CurrentVersions
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.parameter_store import ParameterStore
from actor_trainer.gui.sample_image_loader import SampleImageLoader
from actor_trainer.gui.selector.actor_list_model import ActorListModel
from actor_trainer.gui.tasks import TaskRunner
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader

if TYPE_CHECKING:
    from actor_trainer.core.estimate import EstimateReport
    from actor_trainer.core.orchestrator import TrainingOrchestrator
    from actor_trainer.core.queue_runner import (
        QueueRunner,  # the window is built before the services' modules are needed (issue 11, item 3)
    )
    from actor_trainer.runtime import Services

log = logging.getLogger(__name__)
T = TypeVar("T")


class AppContext(RunActions, SyncActions, TunnelActions, TrialActions, QObject):
    """Everything a widget may use. Widgets call methods here; results arrive as signals."""

    #: the actor being worked on changed (ActorSummary, or None when none is chosen)
    currentActorChanged = Signal(object)
    #: the library was (re)read: summaries changed
    libraryReloaded = Signal()
    #: an actor's sync state is known (SyncStatus) or unknown again (None, after an error)
    syncStateChanged = Signal(int, object)
    #: a sync of this actor started (True) or ended (False)
    syncRunning = Signal(int, bool)
    #: something failed that the user must see: (title, message, hint)
    errorRaised = Signal(str, str, str)
    #: a short message for the status bar
    statusMessage = Signal(str)

    def __init__(self, settings: Settings, config: Config, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.config = config
        self.services = services
        self.library: Library = services.library
        self.events = services.events
        self.bridge = EventBridge(self.events, self)
        for warning in config.warnings:  # kept in the bridge's backlog until the console shows it
            self.events.log(LogLevel.WARNING, warning)
        for note in opening_notes(self.library):  # a crash's good mark finished, temp files removed
            self.events.log(LogLevel.WARNING, note)
        self.tasks = TaskRunner(self)
        self.tasks.unhandledError.connect(self._on_unhandled)
        self.actor_model = ActorListModel(parent=self)
        self.thumbnails = ThumbnailLoader(180, disk_cache=_disk_cache(), parent=self)
        #: the training parameters per actor: the form's one holder, remembered in one place
        self.parameters = ParameterStore(ParameterMemory(config_dir() / "actor_parameters.json"), self.tasks, self)
        self._summaries: dict[int, ActorSummary] = {}
        self._current_id: int | None = None
        self.sync_states: dict[int, SyncStatus] = {}
        #: the current actor's versions, the one copy every panel reads
        self.versions = CurrentVersions(self)
        #: sample and Try images, cached on disk and decoded off the loop
        self.sample_images = SampleImageLoader(services.storage, self.tasks, self)
        self.bridge.versionChanged.connect(self._on_version_changed)
        self.bridge.actorChanged.connect(lambda _id: self.reload_library())

    # --- services -------------------------------------------------------------------------------

    @property
    def orchestrator(self) -> TrainingOrchestrator:
        return self.services.require_orchestrator()

    @property
    def queue_runner(self) -> QueueRunner | None:
        """The training queue's runner (core/queue_runner.py), once the services have started."""
        return self.services.queue

    @property
    def is_sandbox(self) -> bool:
        return self.config.sandbox

    # --- the services start behind the window (issue 11, item 3) ---------------------------------

    #: the services have started: runs, the tunnel, the queue and Try can work now
    servicesReady = Signal()
    #: the services could not start: (message, hint); what needs them fails with that error
    servicesFailed = Signal(str, str)

    @property
    def services_state(self) -> str:
        """ "new" (never started: a test's light context), "starting", "ready" or "failed"."""
        return self.services.state

    async def start_services(self) -> None:
        """Start the services (the app does it once its window is shown); then servicesReady,
        or servicesFailed and the error is raised."""
        self.services.starting_soon()
        try:
            await self.services.start()
        except Exception as exc:
            message, hint = (
                (exc.message, exc.hint)
                if isinstance(exc, ActorTrainerError)
                else (f"{type(exc).__name__}: {exc}", tr("This is a bug; the log file has the details."))
            )
            self.servicesFailed.emit(message, hint)
            raise
        status = self.services.tunnel_status()  # the views showed no webhook server until now
        self.events.emit(TunnelChanged(state=status.state.value, public_url=status.public_url))
        for actor_id, ref in self.__dict__.pop("_watch_later", []):
            self.watch_run(actor_id, ref)
        self.servicesReady.emit()
        self.follow_trials()  # tries left in flight by an earlier session (issue 12)

    def _when_ready(self, make: Callable[[], Awaitable[T]]) -> Coroutine[Any, Any, T]:
        """`make()`, awaited once the services run: at once when they do, after the start while
        they are starting; the start's error (or "not awaited") when they cannot."""

        async def run() -> T:
            if not self.services.is_ready:
                await self.services.wait_ready()
            return await make()

        return run()

    # --- library and selection ------------------------------------------------------------------

    def summaries(self) -> list[ActorSummary]:
        return list(self._summaries.values())

    def summary(self, actor_id: int) -> ActorSummary | None:
        return self._summaries.get(actor_id)

    @property
    def current_actor_id(self) -> int | None:
        return self._current_id

    @property
    def current_summary(self) -> ActorSummary | None:
        return self._summaries.get(self._current_id) if self._current_id is not None else None

    def reload_library(self) -> asyncio.Task[list[ActorSummary]] | None:
        """Re-read actors and their folders off the loop; the model and selection follow."""
        return self.tasks.start(
            "library-reload",
            asyncio.to_thread(self.library.summaries),
            on_done=self._apply_summaries,
            on_error=self._library_error,
        )

    async def load_library(self) -> None:
        """The first read, awaited by start-up (errors propagate to it)."""
        self._apply_summaries(await asyncio.to_thread(self.library.summaries))
        await self._mark_in_flight()

    def _apply_summaries(self, summaries: list[ActorSummary]) -> None:
        self._summaries = {s.actor.id: s for s in summaries}
        self.actor_model.set_summaries(summaries)
        for actor_id, status in self.sync_states.items():
            self.actor_model.set_sync_state(actor_id, state_word(status))
        self.libraryReloaded.emit()
        if self._current_id is not None:
            self.currentActorChanged.emit(self._summaries.get(self._current_id))

    def _library_error(self, exc: BaseException) -> None:
        self.report_error(exc, tr("The library could not be read"))

    async def _mark_in_flight(self) -> None:
        in_flight = await asyncio.to_thread(self.library.in_flight_versions)
        for actor, _version in in_flight:
            self.actor_model.set_training(actor.id, True)

    def select_actor(self, actor_id: int | None) -> None:
        if actor_id is not None and actor_id not in self._summaries:
            return
        self._current_id = actor_id
        self.currentActorChanged.emit(self.current_summary)
        if actor_id is not None and actor_id not in self.sync_states:
            self.refresh_sync(actor_id)

    # --- errors ---------------------------------------------------------------------------------

    def report_error(self, exc: BaseException, title: str, *, quiet: bool = False) -> None:
        """Show what happened and what to do. `quiet` puts it in the status bar only."""
        if isinstance(exc, ActorTrainerError):
            message, hint = exc.message, exc.hint
        else:
            log.error("%s", title, exc_info=exc)
            message, hint = f"{type(exc).__name__}: {exc}", tr("This is a bug; the log file has the details.")
        if quiet:
            self.statusMessage.emit(f"{title}: {message}")
        else:
            self.errorRaised.emit(title, message, hint)

    def _on_unhandled(self, name: str, exc: object) -> None:
        if isinstance(exc, BaseException):
            self.report_error(exc, tr("Something went wrong ({name})").format(name=name))

    def _on_version_changed(self, actor_id: int, version: TrainingVersion) -> None:
        in_flight = not version.status.is_terminal
        if in_flight:
            self.actor_model.set_training(actor_id, True)
        else:
            self.tasks.start(f"in-flight-{actor_id}", self._refresh_training_flag(actor_id))

    async def _refresh_training_flag(self, actor_id: int) -> None:
        versions = await asyncio.to_thread(self.library.load_versions, actor_id)
        self.actor_model.set_training(actor_id, any(not v.status.is_terminal for v in versions))

    # --- webhook mode, applied at once (issue 10, item 9) ----------------------------------------

    #: the webhook mode was switched while running (the new mode); self.config follows it
    webhookModeChanged = Signal(str)

    def apply_webhook_mode(
        self,
        mode: str,
        public_url: str | None = None,
        *,
        on_done: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        """Switch the running services to `mode` now (webhook server and tunnel started or stopped)."""

        def done(_: None) -> None:
            self.config = self.services.config
            self.webhookModeChanged.emit(self.config.webhook_mode)
            if on_done is not None:
                on_done()

        def failed(exc: BaseException) -> None:
            if on_error is not None:
                on_error(exc)
            else:
                self.report_error(exc, tr("The webhook mode could not be applied"))

        self.tasks.start(
            "apply-webhook-mode",
            self._when_ready(lambda: self.services.apply_webhook_mode(mode, public_url)),
            on_done=done,
            on_error=failed,
            owner=owner,
        )

    # --- shutdown -------------------------------------------------------------------------------

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        self.parameters.flush_at_exit()
        await self.tasks.cancel_all(timeout_s=min(2.0, timeout_s))
        await self.services.stop(timeout_s=timeout_s)
        self.thumbnails.shutdown(wait=False)
        self.bridge.detach()

    # --- the run estimate (issue 13, item 2) -----------------------------------------------------

    def estimate(
        self,
        actor_id: int,
        params: TrainingParameters,
        on_done: Callable[[EstimateReport], None],
        *,
        owner: QObject | None = None,
    ) -> None:
        """What a run of `params` for the actor will take and cost on this endpoint (core/estimate.py):
        the library's history is read off the event loop; `on_done` gets the report. A failure is
        logged, never shown: an estimate is a help, not a gate."""
        self.tasks.start(
            f"estimate-{actor_id}",
            asyncio.to_thread(self.services.estimate, params),
            on_done=on_done,
            on_error=lambda exc: log.warning("No estimate for actor %s: %s", actor_id, exc),
            replace=True,
            owner=owner,
        )

    #: the GPU prices were changed in Settings: estimates are made again with them
    pricesChanged = Signal()

    def apply_gpu_prices(self, prices: dict[str, float], as_of: str | None, gpu_class: str | None = None) -> None:
        """Estimate with these prices (US dollars per second over the defaults) and, unless
        ACTOR_TRAINER_GPU_CLASS says otherwise, this GPU class from now on, not at restart."""
        changes: dict[str, object] = {"gpu_prices": dict(prices), "gpu_prices_as_of": as_of or GPU_PRICES_AS_OF}
        if gpu_class is not None and not os.environ.get("ACTOR_TRAINER_GPU_CLASS"):
            changes["gpu_class"] = gpu_class
        self.services.config = dataclasses.replace(self.services.config, **changes)  # type: ignore[arg-type]
        self.config = dataclasses.replace(self.config, **changes)  # type: ignore[arg-type]
        self.pricesChanged.emit()


def _disk_cache() -> ThumbnailCache:
    return ThumbnailCache(Path(cache_dir()) / "thumbnails", size=256)
