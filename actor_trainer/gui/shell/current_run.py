"""What the main window's title says about the current actor: its runs in flight, live.

`CurrentRunTracker` reads the current actor's runs in flight from the shared versions store
(ctx.versions) and their live progress from the bridge's runProgress, and emits
`stateChanged(text)`: "idle",
"training V3 340/2000", "queued V4", "submitting V2"…
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

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
        self._progress: dict[str, Progress] = {}
        self._text = ""
        ctx.versions.reset.connect(lambda _actor_id, _versions: self._reset())
        ctx.versions.versionChanged.connect(lambda _actor_id, _version: self._emit())
        ctx.bridge.runProgress.connect(self._on_progress)
        self._emit()

    @property
    def text(self) -> str:
        return self._text

    def runs_in_flight(self) -> list[TrainingVersion]:
        """The current actor's runs in flight, newest first."""
        return self._ctx.versions.in_flight()

    def _reset(self) -> None:
        self._progress.clear()
        self._emit()

    def _on_progress(self, actor_id: int, version_id: str, progress: Progress) -> None:
        if actor_id != self._ctx.versions.actor_id:
            return
        version = self._ctx.versions.get(version_id)
        if version is not None and not version.status.is_terminal:
            self._progress[version.key] = progress
            self._emit()

    def _emit(self) -> None:
        if self._ctx.versions.actor_id is None:
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
