"""The GUI's side of the training queue: the queue file as last read, edits off the event loop, and
the library's runner (core/queue_runner.py) started with the app.

The runner lives in the services (`Services.queue`); the app starts it once and it resumes whatever
the queue held when the app last closed. Another runner may hold the library's queue (`actor-trainer
queue run` in a terminal): the controller then says so and tries again every few seconds. Edits made
elsewhere (the CLI) show at the next look (every `RELOAD_MS`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from actor_trainer.core.events import Event
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.queue import QueueChanged, QueueEntry, QueueFile, QueueFinished, QueueStore
from actor_trainer.core.queue_runner import QueueBusyError
from actor_trainer.gui.i18n import tr

RELOAD_MS = 3000
BUSY_RETRY_MS = 10_000


class QueueController(QObject):
    #: the queue as just read (QueueFile)
    changed = Signal(object)
    #: the runner worked through a batch: QueueSummary (one summary line in `.text`)
    finished = Signal(object)
    #: what the runner is doing, in words ("" while it simply runs)
    runnerChanged = Signal(str)

    def __init__(self, ctx: Any, parent: QObject | None = None, *, start_runner: bool = True) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.store = QueueStore(ctx.library.root)
        self.queue = QueueFile()
        self.runner_text = ""
        self._names = itertools.count()
        self._unsubscribe: Callable[[], None] | None = ctx.events.subscribe(self._on_event)
        self.destroyed.connect(lambda *_: self.shutdown())
        self._timer = QTimer(self)
        self._timer.setInterval(RELOAD_MS)
        self._timer.timeout.connect(self.reload)
        self._timer.start()
        self.reload()
        if start_runner:
            self.start_runner()

    def shutdown(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- the runner -----------------------------------------------------------------------------

    def start_runner(self) -> None:
        runner = self._ctx.queue_runner
        if runner is None:
            self._set_runner_text(tr("The queue runs once the app's services have started."))
            return
        if runner.running:
            return
        task = runner.start()
        task.add_done_callback(self._runner_ended)
        self._set_runner_text("")

    def _runner_ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, QueueBusyError):
            self._set_runner_text(exc.message)
            QTimer.singleShot(BUSY_RETRY_MS, self.start_runner)
        elif exc is not None:
            self._set_runner_text(tr("The queue stopped: {e}").format(e=getattr(exc, "message", exc)))
            self._ctx.report_error(exc, tr("The queue stopped"), quiet=True)

    def _set_runner_text(self, text: str) -> None:
        self.runner_text = text
        self.runnerChanged.emit(text)

    def wake(self) -> None:
        runner = self._ctx.queue_runner
        if runner is not None:
            runner.wake()

    # --- reading --------------------------------------------------------------------------------

    def reload(self) -> None:
        self._ctx.tasks.start(
            "queue-reload",
            asyncio.to_thread(self.store.load),
            on_done=self._loaded,
            on_error=lambda exc: self._ctx.report_error(exc, tr("The queue could not be read"), quiet=True),
            replace=True,
            owner=self,
        )

    def _loaded(self, queue: QueueFile) -> None:
        self.queue = queue
        self.changed.emit(queue)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, QueueChanged):
            self.reload()
        elif isinstance(event, QueueFinished):
            self.finished.emit(event.summary)

    # --- edits (each off the loop, then a fresh read and a nudge to the runner) -----------------

    def _edit(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None) -> None:
        def done(result: Any) -> None:
            self.reload()
            self.wake()
            if on_done is not None:
                on_done(result)

        self._ctx.tasks.start(
            f"queue-edit-{next(self._names)}",
            asyncio.to_thread(fn, *args),
            on_done=done,
            on_error=lambda exc: self._ctx.report_error(exc, tr("The queue could not be changed")),
            replace=False,
            owner=self,
        )

    def add(
        self,
        items: list[tuple[int, str, TrainingParameters]],
        *,
        force: bool = False,
        on_done: Callable[[list[QueueEntry]], None] | None = None,
    ) -> None:
        store = self.store

        def add_all() -> list[QueueEntry]:
            return [store.add(actor_id, name, params, force=force) for actor_id, name, params in items]

        self._edit(add_all, on_done=on_done)

    def move(self, entry_id: str, offset: int) -> None:
        self._edit(self.store.move, entry_id, offset)

    def remove(self, entry_id: str) -> None:
        self._edit(self.store.remove, entry_id)

    def retry_failed(self, entry_id: str | None = None) -> None:
        self._edit(self.store.retry_failed, entry_id)

    def set_paused(self, paused: bool) -> None:
        self._edit(self.store.set_paused, paused)

    def set_max_concurrent(self, n: int) -> None:
        self._edit(self.store.set_max_concurrent, n)

    def clear(self) -> None:
        self._edit(self.store.clear)
