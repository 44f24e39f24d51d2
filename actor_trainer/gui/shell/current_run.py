"""What the main window's title says about the current actor: its runs in flight, live.

`CurrentRunTracker` follows the current actor (ctx.currentActorChanged), reads its versions off
the loop once per change, then keeps its runs in flight up to date from the bridge's
versionChanged and runProgress signals, and emits `stateChanged(text)`: "idle",
"training V3 340/2000", "queued V4", "submitting V2"…
"""

from __future__ import annotations

import asyncio

import shiboken6
from PySide6.QtCore import QObject, Signal

from actor_trainer.core.library import ActorSummary
from actor_trainer.core.models import Progress, TrainingVersion, VersionStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr


def describe_run(version: TrainingVersion, progress: Progress | None = None) -> str:
    """One run in flight, in words that fit a window title."""
    progress = progress or version.progress
    if version.status is VersionStatus.IN_PROGRESS:
        if progress is not None and progress.step is not None:
            total = progress.total or version.parameters.max_train_steps
            return tr("training {name} {step}/{total}").format(name=version.name, step=progress.step, total=total)
        return tr("training {name}").format(name=version.name)
    if version.status is VersionStatus.PENDING:
        return tr("submitting {name}").format(name=version.name)
    return tr("{state} {name}").format(state=tr(version.status.label), name=version.name)


class CurrentRunTracker(QObject):
    #: the current actor's run state, in words ("" when no actor is chosen)
    stateChanged = Signal(str)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._actor_id: int | None = None
        self._runs: dict[str, TrainingVersion] = {}
        self._progress: dict[str, Progress] = {}
        self._text = ""
        ctx.currentActorChanged.connect(self._on_actor)
        ctx.bridge.versionChanged.connect(self._on_version)
        ctx.bridge.runProgress.connect(self._on_progress)
        self._on_actor(ctx.current_summary)

    @property
    def text(self) -> str:
        return self._text

    def runs_in_flight(self) -> list[TrainingVersion]:
        """The current actor's runs in flight, newest first."""
        return sorted(self._runs.values(), key=lambda v: v.number, reverse=True)

    def _on_actor(self, summary: ActorSummary | None) -> None:
        actor_id = summary.actor.id if summary is not None else None
        if actor_id == self._actor_id and actor_id is not None:
            return  # the same actor re-announced after a library reload: keep what we know
        self._actor_id = actor_id
        self._runs.clear()
        self._progress.clear()
        self._emit()
        if actor_id is None:
            return
        library = self._ctx.library
        self._ctx.tasks.start("title-runs", asyncio.to_thread(library.load_versions, actor_id),
                              on_done=lambda versions: self._loaded(actor_id, versions),
                              on_error=lambda _exc: None, owner=self)

    def _loaded(self, actor_id: int, versions: list[TrainingVersion]) -> None:
        if not shiboken6.isValid(self) or actor_id != self._actor_id:
            return
        for version in versions:
            if not version.status.is_terminal:
                self._runs.setdefault(version.key, version)
        self._emit()

    def _on_version(self, actor_id: int, version: TrainingVersion) -> None:
        if actor_id != self._actor_id:
            return
        key = version.key
        if version.status.is_terminal:
            self._runs.pop(key, None)
            self._progress.pop(key, None)
        else:
            self._runs[key] = version
        self._emit()

    def _on_progress(self, actor_id: int, version_id: str, progress: Progress) -> None:
        if actor_id != self._actor_id:
            return
        for key, version in self._runs.items():
            if version_id in (version.id, key):
                self._progress[key] = progress
                self._emit()
                return

    def _emit(self) -> None:
        if self._actor_id is None:
            text = ""
        else:
            runs = self.runs_in_flight()
            if not runs:
                text = tr("idle")
            else:
                newest = runs[0]
                text = describe_run(newest, self._progress.get(newest.key))
                if len(runs) > 1:
                    text += " " + tr("(+{n} more)").format(n=len(runs) - 1)
        if text != self._text:
            self._text = text
            self.stateChanged.emit(text)
