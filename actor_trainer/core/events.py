"""Typed events from core services, delivered to whoever subscribed (the CLI, the GUI bridge).

Services never know who listens. `EventBus.emit` calls each subscriber synchronously on the
caller's thread; services emit from the event loop, so the GUI bridge re-emits them as Qt signals
on the GUI thread without any locking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from actor_trainer.core.models import Progress, TrainingVersion, utc_now

log = logging.getLogger(__name__)


class LogLevel(StrEnum):
    """The console's kinds of line (the original web app's console coloured them)."""

    DEBUG = "debug"
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    REQUEST = "request"
    RESPONSE = "response"


@dataclass(frozen=True, kw_only=True)
class Event:
    at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, kw_only=True)
class LogEvent(Event):
    level: LogLevel
    message: str
    actor_id: int | None = None
    version_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class VersionChanged(Event):
    """A version record was written (created, state change, progress, mark good)."""

    actor_id: int
    version: TrainingVersion


@dataclass(frozen=True, kw_only=True)
class RunProgress(Event):
    actor_id: int
    version_id: str
    progress: Progress


@dataclass(frozen=True, kw_only=True)
class ActorChanged(Event):
    """actors.json changed for this actor (e.g. a validated model was recorded)."""

    actor_id: int


@dataclass(frozen=True, kw_only=True)
class TunnelChanged(Event):
    state: str  # "stopped" | "starting" | "running" | "error"
    public_url: str | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class WebhookReceived(Event):
    job_id: str | None
    accepted: bool
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class SyncProgressEvent(Event):
    actor_id: int
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    current: str | None = None


Subscriber = Callable[[Event], Any]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Register `fn`; returns a function that unsubscribes it."""
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:  # a broken listener must not break the service that emitted
                log.exception("event subscriber %r failed on %s", fn, type(event).__name__)

    def log(self, level: LogLevel, message: str, *, actor_id: int | None = None, version_id: str | None = None) -> None:
        self.emit(LogEvent(level=level, message=message, actor_id=actor_id, version_id=version_id))
