"""What AppContext's mixins (context_runs, context_sync, context_trials, context_tunnel) use of the
context, declared once for the type checker. At run time the class is empty: AppContext itself
provides all of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from actor_trainer.core.events import EventBus
    from actor_trainer.core.library import Library
    from actor_trainer.core.storage.base import SyncStatus
    from actor_trainer.gui.selector.actor_list_model import ActorListModel
    from actor_trainer.gui.tasks import TaskRunner
    from actor_trainer.runtime import Services

T = TypeVar("T")


class ContextParts:
    """The base of AppContext's mixins: no state, no signals, no code."""

    if TYPE_CHECKING:
        services: Services
        tasks: TaskRunner
        events: EventBus
        library: Library
        sync_states: dict[int, SyncStatus]
        actor_model: ActorListModel
        statusMessage: SignalInstance
        errorRaised: SignalInstance
        syncStateChanged: SignalInstance
        syncRunning: SignalInstance

        @property
        def is_sandbox(self) -> bool: ...
        @property
        def services_state(self) -> str: ...
        def report_error(self, exc: BaseException, title: str, *, quiet: bool = False) -> None: ...
        def run_task_name(self, what: str, ref: str) -> str: ...
        def _when_ready(self, make: Callable[[], Awaitable[T]]) -> Coroutine[Any, Any, T]: ...
