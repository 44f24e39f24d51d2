"""What keeps the webhook port usable when hostile clients find it (in `public` mode it faces the internet).

- **A connection cap.** At most `max_connections` sockets are open. When the cap is reached, a new
  connection evicts the oldest one that has not yet sent a complete request head (an idle socket
  holds nothing worth keeping); when every open connection is busy with a request, the new one is
  closed at once. So a flood of idle sockets never exhausts file descriptors, and a real delivery
  still gets through it.
- **A header timeout.** A connection must send a complete request head within `header_timeout_s`
  of opening, or it is closed (the same for one that never sends anything). Between requests on a
  kept-alive connection aiohttp's `keepalive_timeout` closes it (`WebhookServer` sets it to the same
  few seconds); the delivery handler bounds the time a body may take.
- **A bounded, rate-limited log** of what was refused (`RejectLog`): at most `lines_per_window`
  lines per window, then one line counting what was not shown.

The guard is a protocol factory wrapped around aiohttp's (`web.Server`): each connection's protocol
forwards every call to aiohttp's `RequestHandler` and only adds the accounting. It uses no private
aiohttp API, so it holds for every aiohttp version the project allows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from actor_trainer.core.events import EventBus, LogLevel

log = logging.getLogger("actor_trainer.core.webhook_server")

HEADER_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 256  # far below a desktop's 1024 descriptors; deliveries come a few at a time
_HEAD_END = b"\r\n\r\n"


class RejectLog:
    """Log lines about refused requests and connections, at most `lines_per_window` per `window_s`;
    what is held back is counted and reported in one line when the next window opens (or at `flush`)."""

    def __init__(
        self,
        events: EventBus | None,
        *,
        lines_per_window: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events = events
        self.lines_per_window = lines_per_window
        self.window_s = window_s
        self._clock = clock
        self._window_start = clock()
        self._shown = 0
        self._held: dict[str, int] = {}
        self.lines_written = 0  # for tests and the record: every line this log ever wrote

    def note(self, message: str, kind: str) -> None:
        """Record one refusal: `message` is shown if this window still has room, else counted under `kind`."""
        now = self._clock()
        if now - self._window_start >= self.window_s:
            self.flush()
            self._window_start = now
            self._shown = 0
        if self._shown < self.lines_per_window:
            self._shown += 1
            self._write(message)
        else:
            self._held[kind] = self._held.get(kind, 0) + 1

    def flush(self) -> None:
        if not self._held:
            return
        counted = ", ".join(f"{n} × {kind}" for kind, n in sorted(self._held.items()))
        self._held.clear()
        self._write(
            f"Webhook server: more refused than shown ({counted}); the log holds back "
            f"after {self.lines_per_window} lines a minute."
        )

    def _write(self, message: str) -> None:
        self.lines_written += 1
        log.warning("%s", message)
        if self.events is not None:
            self.events.log(LogLevel.WARNING, message)


class ServerLogLimiter(logging.Filter):
    """On the `aiohttp.server` logger: its "Error handling request" records (with a traceback, one
    per malformed request a client cares to send) go through the `RejectLog` as one short line."""

    def __init__(self, rejects: RejectLog) -> None:
        super().__init__()
        self.rejects = rejects

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        reason = ""
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            reason = f" ({type(exc).__name__}: {str(exc)[:120]})"
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        self.rejects.note(f"Webhook server: {message[:160]}{reason}", "malformed request")
        return False


class ConnectionGuard:
    """The protocol factory given to `loop.create_server` in place of aiohttp's `web.Server`."""

    def __init__(
        self,
        make_handler: Callable[[], asyncio.Protocol],
        rejects: RejectLog,
        *,
        max_connections: int = MAX_CONNECTIONS,
        header_timeout_s: float = HEADER_TIMEOUT_S,
    ) -> None:
        self._make_handler = make_handler
        self.rejects = rejects
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        # Open connections, oldest first; a value is True while it has not sent a full request head.
        self._open: OrderedDict[_Guarded, None] = OrderedDict()
        self.peak = 0  # the most connections ever open at once

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self._make_handler())

    # -- called by the connections --

    def _admit(self, conn: _Guarded) -> bool:
        if len(self._open) >= self.max_connections:
            idle = next((c for c in self._open if not c.head_seen), None)
            if idle is None:
                self.rejects.note(
                    f"Webhook server: {self.max_connections} connections busy; a new one was closed.",
                    "connection over the cap",
                )
                return False
            self.rejects.note(
                f"Webhook server: {self.max_connections} connections open; the oldest idle one was closed.",
                "idle connection evicted",
            )
            idle.drop()
        self._open[conn] = None
        self.peak = max(self.peak, len(self._open))
        return True

    def _gone(self, conn: _Guarded) -> None:
        self._open.pop(conn, None)


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's handler plus the guard's accounting."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.head_seen = False
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self._forwarded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.guard._admit(self):
            transport.abort()  # connection_lost follows; the handler never saw this connection
            return
        self._timer = asyncio.get_running_loop().call_later(self.guard.header_timeout_s, self._expire)
        self._forwarded = True
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._forwarded:
            return
        if not self.head_seen:
            seen = self._tail + data
            if _HEAD_END in seen:
                self.head_seen = True
                self._cancel_timer()
            else:
                self._tail = seen[-(len(_HEAD_END) - 1) :]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self._forwarded else None

    def pause_writing(self) -> None:
        if self._forwarded:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._forwarded:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.guard._gone(self)
        if self._forwarded:
            self._forwarded = False
            self.inner.connection_lost(exc)

    # -- the guard's --

    def drop(self) -> None:
        self._cancel_timer()
        self.guard._gone(self)
        if self.transport is not None:
            self.transport.abort()

    def _expire(self) -> None:
        self._timer = None
        if not self.head_seen:
            self.guard.rejects.note(
                f"Webhook server: a connection sent no request within "
                f"{self.guard.header_timeout_s:g} s and was closed.",
                "idle connection closed",
            )
            self.drop()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class GuardedSite(web.TCPSite):
    """`web.TCPSite` listening with a `ConnectionGuard` in front of the runner's handler factory."""

    def __init__(
        self, runner: web.BaseRunner, host: str | None, port: int, *, guard: ConnectionGuard, backlog: int = 128
    ) -> None:
        super().__init__(runner, host, port, backlog=backlog)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.guard, self._host, self._port, backlog=self._backlog)


def guard_for(runner: web.AppRunner, rejects: RejectLog, **options: Any) -> ConnectionGuard:
    server = runner.server
    assert server is not None, "set the runner up first"
    return ConnectionGuard(server, rejects, **options)
