"""AppContext's samples, Try and compare actions (worker contract v2, docs/worker-contract.md).

Widgets call these plain methods and never await; sample images come from `ctx.sample_images`
(gui/sample_image_loader.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject

from actor_trainer.core.errors import MarkGoodRefusedError
from actor_trainer.core.models import TrainingVersion
from actor_trainer.gui.context_parts import ContextParts
from actor_trainer.gui.i18n import tr

if TYPE_CHECKING:  # the window is built before the services' modules are needed (issue 11, item 3)
    pass

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class TrialActions(ContextParts):
    """Methods of AppContext (a mixin: no state of its own, no signals)."""

    # --- issue 12 (app half): samples, Try, compare — begin -------------------------------------
    # Widgets call these and never await; sample images come from `ctx.sample_images`
    # (gui/sample_image_loader.py).

    def speaks_v2(self) -> bool:
        """Samples and Try are offered only where the endpoint speaks worker contract v2."""
        return self.services.endpoint_speaks_v2()

    def try_version(
        self,
        actor_id: int,
        ref: str,
        *,
        prompt: str,
        negative: str = "",
        seed: int | None = None,
        count: int = 1,
        strength: float = 1.0,
        checkpoint_step: int | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        owner: QObject | None = None,
    ) -> bool:
        """Send a Try of the version (core/trials.py), followed until it ends; the trial arrives with
        the version (versionChanged). False when a Try of this version is already being sent."""
        trials = self.services.trials
        name = self.run_task_name("try", ref)
        if trials is None or self.tasks.is_running(name):
            return False

        def failed(exc: BaseException) -> None:
            if on_error is not None:
                on_error(exc)
            self.report_error(exc, tr("The try could not be sent"))

        self.tasks.start(
            name,
            trials.submit(
                actor_id,
                ref,
                prompt=prompt,
                negative=negative,
                seed=seed,
                count=count,
                strength=strength,
                checkpoint_step=checkpoint_step,
            ),
            on_done=on_done or (lambda _t: None),
            on_error=failed,
            replace=False,
            owner=owner,
        )
        return True

    def cancel_trial(self, actor_id: int, ref: str, trial_id: str, *, owner: QObject | None = None) -> None:
        trials = self.services.trials
        if trials is None:
            return
        self.tasks.start(
            self.run_task_name("cancel-try", trial_id),
            trials.cancel(actor_id, ref, trial_id),
            on_error=lambda exc: self.report_error(exc, tr("Cancel failed")),
            replace=False,
            owner=owner,
        )

    def follow_trials(self) -> None:
        """Follow the trials left in flight by an earlier session (called once the services run)."""
        trials = self.services.trials
        if trials is not None:
            self.tasks.start(
                "trials-resume",
                trials.resume(),
                on_error=lambda exc: log.warning("Unfinished tries are not followed: %s", exc),
            )

    def mark_good_checkpoint(
        self,
        actor_id: int,
        ref: str,
        step: int | None,
        *,
        on_done: Callable[[TrainingVersion], None] | None = None,
        owner: QObject | None = None,
    ) -> None:
        """Mark the version good — its checkpoint at `step`, or its final LoRA when `step` is None."""

        async def run() -> TrainingVersion:
            _actor, version = await self.services.registry.mark_good(actor_id, ref, step)
            return version

        def done(version: TrainingVersion) -> None:
            what = f"{version.name}@{step}" if step is not None else version.name
            self.statusMessage.emit(tr("{name} is now the validated model").format(name=what))
            if on_done is not None:
                on_done(version)

        def failed(exc: BaseException) -> None:
            title = tr("Cannot mark as good") if isinstance(exc, MarkGoodRefusedError) else tr("Mark as good failed")
            self.report_error(exc, title)

        self.tasks.start(
            self.run_task_name("mark-good", f"{ref}@{step}"), run(), on_done=done, on_error=failed, owner=owner
        )

    def load_versions_of(
        self, actor_id: int, *, on_done: Callable[[list[TrainingVersion]], None], owner: QObject | None = None
    ) -> None:
        """Read an actor's versions off the loop (the Compare window's choices)."""
        self.tasks.start(
            f"versions-of-{actor_id}",
            asyncio.to_thread(self.library.load_versions, actor_id),
            on_done=on_done,
            on_error=lambda exc: self.report_error(exc, tr("Versions could not be read")),
            owner=owner,
        )

    # --- issue 12 (app half): samples, Try, compare — end ---------------------------------------
