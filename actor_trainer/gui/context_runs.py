"""AppContext's runs: the Start gate and submit, check / cancel / retry, mark and unmark good, the
LoRA download — one road each, through the same core methods the CLI calls (core/run_control.py,
core/model_registry.py). Widgets call these plain methods and never await."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject

from actor_trainer.core.errors import MarkGoodRefusedError
from actor_trainer.core.events import LogLevel
from actor_trainer.core.library import TrainingDataScan
from actor_trainer.core.lora_file import LoraInfo, fetch_lora
from actor_trainer.core.models import TrainingParameters, TrainingVersion
from actor_trainer.core.run_control import Question, cancel_question
from actor_trainer.gui.context_parts import ContextParts
from actor_trainer.gui.i18n import tr

if TYPE_CHECKING:  # the window is built before the services' modules are needed (issue 11, item 3)
    pass


log = logging.getLogger(__name__)
T = TypeVar("T")


class RunActions(ContextParts):
    """Methods of AppContext (a mixin: no state of its own, no signals)."""

    # --- runs and the validated model (one road each: the same core methods as the CLI) ---------

    def run_task_name(self, what: str, ref: str) -> str:
        """The task of a check/cancel/retry/mark-good of one run, to ask whether it is under way."""
        return f"run-{what}-{ref}"

    def is_run_busy(self, what: str, ref: str) -> bool:
        return self.tasks.is_running(self.run_task_name(what, ref))

    def check_can_start(
        self,
        actor_id: int,
        params: TrainingParameters,
        *,
        allow_concurrent: bool,
        on_done: Callable[[TrainingVersion | None], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> None:
        """The Start gate (see RunControl.can_start), with this actor's cached sync state."""
        # While the services start, the check waits for them (the panel says "Starting services…").
        self.tasks.start(
            "preflight",
            self._when_ready(
                lambda: self.services.require_runs().can_start(
                    actor_id, params, allow_concurrent=allow_concurrent, cached_sync=self.sync_states.get(actor_id)
                )
            ),
            on_done=on_done,
            on_error=on_error,
            replace=True,
            owner=owner,
        )

    def submit_run(
        self,
        actor_id: int,
        params: TrainingParameters,
        *,
        description: str | None,
        allow_concurrent: bool,
        on_done: Callable[[TrainingVersion], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> bool:
        """Submit one run; False when a submission is already under way (no second job)."""
        if self.tasks.is_running("submit"):
            return False
        self.tasks.start(
            "submit",
            self._when_ready(
                lambda: self.services.require_runs().submit(
                    actor_id, params, description=description, allow_concurrent=allow_concurrent
                )
            ),
            on_done=on_done,
            on_error=on_error,
            replace=False,
            owner=owner,
        )
        return True

    def scan_training_data(
        self,
        actor_id: int,
        *,
        on_done: Callable[[TrainingDataScan], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> None:
        """Read the actor's training folder (off the loop)."""
        self.tasks.start(
            "training-data-scan", self.services.sync.scan(actor_id), on_done=on_done, on_error=on_error, owner=owner
        )

    def download_lora(
        self,
        name: str,
        url: str,
        dest: Path,
        progress: Callable[[int, int], None],
        *,
        on_done: Callable[[LoraInfo], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> asyncio.Task[LoraInfo] | None:
        """Download a LoRA to `dest` (atomically) and read its header; the task can be cancelled."""
        return self.tasks.start(
            name,
            fetch_lora(self.services.storage, url, dest, progress),
            on_done=on_done,
            on_error=on_error,
            owner=owner,
        )

    def sandbox_owner_token(self) -> str | None:
        """The token this app's in-process sandbox stamps on its runs (None outside the sandbox)."""
        sandbox = self.services.sandbox
        return sandbox.owner_token if sandbox is not None else None

    def watch_run(self, actor_id: int, ref: str) -> None:
        """Poll this run often (live progress) while a view shows it."""
        if self.services.poller is not None:
            self.services.poller.watch(actor_id, ref)
        elif self.services_state == "starting":  # watched once the poller exists (start_services)
            self.__dict__.setdefault("_watch_later", []).append((actor_id, ref))

    def cancel_question(self, version: TrainingVersion) -> Question:
        return cancel_question(version, app_in_sandbox=self.is_sandbox)

    def check_run(
        self,
        actor_id: int,
        ref: str,
        *,
        on_done: Callable[[TrainingVersion], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        """Ask RunPod about a run now (and the endpoint's /health for a queued one)."""
        self._run_action(
            "check",
            actor_id,
            ref,
            self._when_ready(lambda: self.services.require_runs().check(actor_id, ref)),
            tr("Check status failed"),
            on_done,
            owner,
        )

    def cancel_run(
        self,
        actor_id: int,
        ref: str,
        *,
        on_done: Callable[[TrainingVersion], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        """Cancel a run on RunPod. Ask first with `cancel_question`."""
        self._run_action(
            "cancel",
            actor_id,
            ref,
            self._when_ready(lambda: self.services.require_runs().cancel(actor_id, ref)),
            tr("Cancel failed"),
            on_done,
            owner,
        )

    def retry_run(
        self,
        actor_id: int,
        ref: str,
        *,
        on_done: Callable[[TrainingVersion], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        self._run_action(
            "retry",
            actor_id,
            ref,
            self._when_ready(lambda: self.services.require_runs().retry(actor_id, ref)),
            tr("Retry failed"),
            on_done,
            owner,
        )

    def mark_good(
        self,
        actor_id: int,
        ref: str,
        *,
        on_done: Callable[[TrainingVersion], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        """Record the version as the actor's validated model; every view hears it as events."""
        self._set_good(actor_id, ref, True, on_done, owner)

    def unmark_good(
        self,
        actor_id: int,
        ref: str,
        *,
        on_done: Callable[[TrainingVersion], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        """Take the good mark off the version: the actor then has no validated model."""
        self._set_good(actor_id, ref, False, on_done, owner)

    def _set_good(
        self,
        actor_id: int,
        ref: str,
        good: bool,
        on_done: Callable[[TrainingVersion], None] | None,
        owner: QObject | None,
    ) -> None:
        registry = self.services.registry
        change = registry.mark_good if good else registry.unmark_good

        async def run() -> TrainingVersion:
            _actor, version = await change(actor_id, ref)
            return version

        def done(version: TrainingVersion) -> None:
            said = "{name} is now the validated model" if good else "{name} is no longer the validated model"
            self.statusMessage.emit(tr(said).format(name=version.name))
            if on_done is not None:
                on_done(version)

        def failed(exc: BaseException) -> None:
            if not good:
                self.report_error(exc, tr("Unmark failed"))
            elif isinstance(exc, MarkGoodRefusedError):
                self.report_error(exc, tr("Cannot mark as good"))
            else:
                self.report_error(exc, tr("Mark as good failed"))

        name = self.run_task_name("mark-good" if good else "unmark-good", ref)
        self.tasks.start(name, run(), on_done=done, on_error=failed, owner=owner)

    def _run_action(
        self,
        what: str,
        actor_id: int,
        ref: str,
        coro: Coroutine[Any, Any, TrainingVersion],
        title: str,
        on_done: Callable[[TrainingVersion], None] | None,
        owner: QObject | None,
    ) -> None:
        def failed(exc: BaseException) -> None:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            hint = getattr(exc, "hint", "")
            self.events.log(LogLevel.ERROR, f"{title}: {message}" + (f" {hint}" if hint else ""), actor_id=actor_id)
            self.report_error(exc, title, quiet=what == "check")

        name = self.run_task_name(what, ref)
        if what != "check" and self.tasks.is_running(name):
            coro.close()  # the same cancel/retry is already on its way: asking twice changes nothing
            return
        self.tasks.start(name, coro, on_done=on_done or (lambda _v: None), on_error=failed, owner=owner)
