"""Background work started from widgets: named asyncio tasks with an owner.

Widgets never await. They call `TaskRunner.start(name, coroutine, on_done=..., on_error=...)`;
the runner keeps a strong reference, cancels the previous task of the same name when asked
(e.g. a newer search), calls back on the GUI thread, and routes every exception nobody handled
to one error handler that shows it. No fire-and-forget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskRunner(QObject):
    #: the set of running task names changed (for busy indicators)
    busyChanged = Signal()
    #: an exception no caller handled (the app shows it)
    unhandledError = Signal(str, object)  # task name, exception

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def start(
        self,
        name: str,
        coro: Coroutine[Any, Any, T],
        *,
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        replace: bool = True,
        owner: QObject | None = None,
    ) -> asyncio.Task[T] | None:
        """Run `coro` as task `name`. With `replace`, a running task of that name is cancelled;
        without it, starting a second one while the first runs raises RuntimeError. When `owner`
        (the widget whose callbacks these are) has been deleted by the time the task ends, the
        callbacks are skipped: a closed window's late answer is dropped, not applied to nothing.
        Returns None (and starts nothing) when no event loop runs any more: a widget's timer that
        fires during shutdown must not raise."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            log.debug("task %s not started: no event loop (shutting down)", name)
            return None
        previous = self._tasks.get(name)
        if previous is not None and not previous.done():
            if not replace:
                coro.close()
                raise RuntimeError(f"task {name!r} is already running")
            previous.cancel()
        task = loop.create_task(coro, name=name)
        self._tasks[name] = task

        def finished(t: asyncio.Task[T]) -> None:
            if self._tasks.get(name) is t:
                del self._tasks[name]
            self.busyChanged.emit()
            if t.cancelled():
                log.debug("task %s cancelled", name)
                return
            if owner is not None and not shiboken6.isValid(owner):
                if not t.cancelled() and t.exception() is not None:
                    log.warning("task %s failed after its window closed: %s", name, t.exception())
                return
            exc = t.exception()
            if exc is not None:
                if on_error is not None:
                    try:
                        on_error(exc)
                    except Exception as handler_exc:  # the handler itself failed: still shown
                        self.unhandledError.emit(name, handler_exc)
                else:
                    self.unhandledError.emit(name, exc)
                return
            if on_done is not None:
                try:
                    on_done(t.result())
                except Exception as callback_exc:
                    self.unhandledError.emit(name, callback_exc)

        task.add_done_callback(finished)
        self.busyChanged.emit()
        return task

    def is_running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def running_names(self) -> list[str]:
        return [n for n, t in self._tasks.items() if not t.done()]

    async def cancel_all(self, timeout_s: float = 3.0) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
