"""The one bridge from core events to Qt signals.

Core services emit events on the asyncio loop, which (under qasync) is the GUI thread; the bridge
re-emits each as a typed Qt signal, so widgets connect to signals and never know about the bus.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, Signal

from actor_trainer.core.events import (
    ActorChanged,
    Event,
    EventBus,
    LogEvent,
    RunProgress,
    SyncProgressEvent,
    TunnelChanged,
    VersionChanged,
    WebhookReceived,
)


class EventBridge(QObject):
    log = Signal(object)  # LogEvent
    versionChanged = Signal(int, object)  # actor id, TrainingVersion
    runProgress = Signal(int, str, object)  # actor id, version id, Progress
    tunnelChanged = Signal(object)  # TunnelChanged
    webhookReceived = Signal(object)  # WebhookReceived
    actorChanged = Signal(int)  # actor id (actors.json changed for it)
    syncProgress = Signal(object)  # SyncProgressEvent

    def __init__(self, events: EventBus, parent: QObject | None = None, *, backlog: int = 500) -> None:
        super().__init__(parent)
        # Log lines emitted before any widget listened (start-up: sandbox, webhook server…).
        self._recent_logs: deque[LogEvent] = deque(maxlen=backlog)
        self._unsubscribe = events.subscribe(self._dispatch)

    def recent_logs(self) -> list[LogEvent]:
        """The last log events, oldest first, for a console created after they were emitted."""
        return list(self._recent_logs)

    def detach(self) -> None:
        self._unsubscribe()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, LogEvent):
            self._recent_logs.append(event)
            self.log.emit(event)
        elif isinstance(event, VersionChanged):
            self.versionChanged.emit(event.actor_id, event.version)
        elif isinstance(event, RunProgress):
            self.runProgress.emit(event.actor_id, event.version_id, event.progress)
        elif isinstance(event, TunnelChanged):
            self.tunnelChanged.emit(event)
        elif isinstance(event, WebhookReceived):
            self.webhookReceived.emit(event)
        elif isinstance(event, ActorChanged):
            self.actorChanged.emit(event.actor_id)
        elif isinstance(event, SyncProgressEvent):
            self.syncProgress.emit(event)
