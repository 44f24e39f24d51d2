"""The training parameters, one holder for the whole window, and the one place that remembers them.

Per actor: the values of this session (edited, auto-adjusted, "train again"), else the ones
remembered on disk (the last ones used or edited), else the defaults. The form writes here on every
change; the Start panel, the dataset check and the tab read from here. Remembering goes to disk
once, off the event loop, a short while after the user stops typing (and at once on submit).
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, QTimer, Signal

from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.parameter_memory import ParameterMemory
from actor_trainer.gui.tasks import TaskRunner

REMEMBER_DELAY_MS = 800


class ParameterStore(QObject):
    #: the form's values for an actor changed: (actor id, TrainingParameters or None while a field
    #: is invalid, the first field error or "")
    changed = Signal(int, object, str)

    def __init__(self, memory: ParameterMemory, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._memory = memory
        self._tasks = tasks
        self._session: dict[int, TrainingParameters] = {}
        self._current: dict[int, tuple[TrainingParameters | None, str]] = {}
        self._pending: int | None = None  # the actor whose values wait to be remembered
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REMEMBER_DELAY_MS)
        self._timer.timeout.connect(self.flush)

    # --- reading ----------------------------------------------------------------------------------

    def for_actor(self, actor_id: int) -> TrainingParameters:
        """What the form shows when this actor is chosen."""
        return self._session.get(actor_id) or self.remembered(actor_id) or TrainingParameters()

    def current(self, actor_id: int) -> tuple[TrainingParameters | None, str]:
        """The form's values for this actor (None while a field is invalid) and the first error."""
        return self._current.get(actor_id, (self.for_actor(actor_id), ""))

    def remembered(self, actor_id: int) -> TrainingParameters | None:
        """The values kept on disk for this actor (a small file; read on demand)."""
        return self._memory.load(actor_id)

    # --- writing ----------------------------------------------------------------------------------

    def set(self, actor_id: int, params: TrainingParameters | None, error: str | None = None) -> None:
        """The form's values changed (typed, auto-adjusted, loaded)."""
        value = (params, error or "")
        if params is not None:
            self._session[actor_id] = params
        if self._current.get(actor_id) != value:
            self._current[actor_id] = value
            self.changed.emit(actor_id, params, error or "")

    def remember_soon(self, actor_id: int) -> None:
        """The user edited this actor's values: remember them once the typing stops."""
        if self._pending is not None and self._pending != actor_id:
            self.flush()
        self._pending = actor_id
        self._timer.start()

    def remember_now(self, actor_id: int) -> None:
        """Remember this actor's values at once (a run was submitted with them)."""
        if self._pending == actor_id:
            self._timer.stop()
            self._pending = None
        self._save(actor_id)

    def flush(self) -> None:
        """Write what waits to be remembered (leaving an actor, closing the window)."""
        self._timer.stop()
        actor_id, self._pending = self._pending, None
        if actor_id is not None:
            self._save(actor_id)

    def flush_at_exit(self) -> None:
        """Write what waits to be remembered now, on this thread (the loop is stopping)."""
        self._timer.stop()
        actor_id, self._pending = self._pending, None
        if actor_id is not None and actor_id in self._session:
            self._memory.save(actor_id, self._session[actor_id])

    def _save(self, actor_id: int) -> None:
        params = self._session.get(actor_id)
        if params is not None:
            self._tasks.start(f"remember-{actor_id}", asyncio.to_thread(self._memory.save, actor_id, params))
