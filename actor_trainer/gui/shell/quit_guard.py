"""What quitting does to the runs in flight, said before the window closes.

`QuitGuard` keeps every run in flight in the library (read once off the loop, then followed from
the bridge's versionChanged) and words the question: runs of this app's sandbox stop with it (the
next start marks them interrupted), runs of another process's sandbox go on there, runs at RunPod
go on (and are billed) and are picked up at the next start.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from actor_trainer.core.models import Actor, TrainingVersion
from actor_trainer.gui.i18n import tr

if TYPE_CHECKING:
    from actor_trainer.gui.context import AppContext


def _names(runs: list[tuple[str, TrainingVersion]]) -> str:
    return ", ".join(f"{version.name} of {actor}" for actor, version in runs)


def quit_question(runs: list[tuple[str, TrainingVersion]], my_sandbox: str | None) -> tuple[str, str] | None:
    """(title, text) to ask before quitting with `runs` in flight; None when there are none.
    `my_sandbox` is this app's sandbox owner token (None outside the sandbox)."""
    if not runs:
        return None
    stopping = [
        (n, v) for n, v in runs if my_sandbox is not None and v.owner is not None and v.owner.token == my_sandbox
    ]
    going_on = [(n, v) for n, v in runs if (n, v) not in stopping]
    paragraphs: list[str] = []
    if stopping:
        paragraphs.append(
            tr(
                "Stops with the app: {runs}. The sandbox's simulated worker runs inside this app; the next "
                "start marks these runs “interrupted: the sandbox stopped with the app”."
            ).format(runs=_names(stopping))
        )
    sandboxed = [(n, v) for n, v in going_on if v.owner is not None]
    remote = [(n, v) for n, v in going_on if v.owner is None]
    if sandboxed:
        paragraphs.append(
            tr("Goes on in another Actor Trainer process's sandbox: {runs}.").format(runs=_names(sandboxed))
        )
    if remote:
        paragraphs.append(
            tr(
                "Goes on at RunPod (and is billed) while the app is closed: {runs}. "
                "The next start picks these runs up again."
            ).format(runs=_names(remote))
        )
    title = tr("Quit with {n} run(s) in flight?").format(n=len(runs))
    return title, "\n\n".join(paragraphs)


class QuitGuard(QObject):
    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._runs: dict[tuple[int, str], tuple[str, TrainingVersion]] = {}
        ctx.bridge.versionChanged.connect(self._track_run)
        ctx.tasks.start(
            "quit-runs-in-flight",
            asyncio.to_thread(ctx.library.in_flight_versions),
            on_done=self._track_runs,
            owner=self,
        )

    def runs(self) -> list[tuple[str, TrainingVersion]]:
        return list(self._runs.values())

    def question(self) -> tuple[str, str] | None:
        return quit_question(self.runs(), self._ctx.sandbox_owner_token())

    def _track_runs(self, pairs: list[tuple[Actor, TrainingVersion]]) -> None:
        for actor, version in pairs:
            self._runs.setdefault((actor.id, version.key), (actor.name, version))

    def _track_run(self, actor_id: int, version: TrainingVersion) -> None:
        if version.status.is_terminal:
            self._runs.pop((actor_id, version.key), None)
            return
        summary = self._ctx.summary(actor_id)
        name = summary.actor.name if summary is not None else f"{actor_id:04d}"
        self._runs[(actor_id, version.key)] = (name, version)
