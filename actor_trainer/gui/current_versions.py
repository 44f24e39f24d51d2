"""The current actor's versions: one copy in the app, read from disk once per actor, then fed by
events. The versions panel, the console and the window title all read it; none reads the file.

`reset(actor_id, versions)` says "here is the whole list" (a new actor, or a re-read); after it,
`versionChanged(actor_id, version)` says one version was written (a new run, a state change, a good
mark moving). Writes that land while the file is being read are applied on top of what was read,
so nothing is lost to the race.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from actor_trainer.core.library import ActorSummary
from actor_trainer.core.models import TrainingVersion

if TYPE_CHECKING:
    from actor_trainer.gui.context import AppContext


class CurrentVersions(QObject):
    #: the whole list changed: (actor id or None, list[TrainingVersion] newest first)
    reset = Signal(object, object)
    #: one version of the current actor was written (actor id, TrainingVersion)
    versionChanged = Signal(int, object)
    #: reading the versions file failed (actor id, exception)
    loadFailed = Signal(int, object)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self._ctx = ctx
        self._actor_id: int | None = None
        self._versions: dict[str, TrainingVersion] = {}
        self._loaded = False
        self._pending: list[TrainingVersion] = []  # written while the file was being read
        ctx.currentActorChanged.connect(self._on_actor)
        ctx.bridge.versionChanged.connect(self._on_version)

    # --- reading ----------------------------------------------------------------------------------

    @property
    def actor_id(self) -> int | None:
        return self._actor_id

    @property
    def loaded(self) -> bool:
        """The list reflects the file (False while the first read of this actor is under way)."""
        return self._loaded

    def versions(self) -> list[TrainingVersion]:
        """Newest first."""
        return sorted(self._versions.values(), key=lambda v: v.number, reverse=True)

    def get(self, key: str) -> TrainingVersion | None:
        found = self._versions.get(key)
        if found is None:
            found = next((v for v in self._versions.values() if key in (v.id, v.requestId, v.name)), None)
        return found

    def in_flight(self) -> list[TrainingVersion]:
        return [v for v in self.versions() if not v.status.is_terminal]

    # --- feeding ----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the current actor's versions file again (off the loop)."""
        actor_id = self._actor_id
        if actor_id is None:
            return
        self._ctx.tasks.start(
            "current-versions-load",
            asyncio.to_thread(self._ctx.library.load_versions, actor_id),
            on_done=lambda versions: self._loaded_from_disk(actor_id, versions),
            on_error=lambda exc: self._failed(actor_id, exc),
        )

    def _on_actor(self, summary: ActorSummary | None) -> None:
        actor_id = summary.actor.id if summary is not None else None
        if actor_id == self._actor_id and actor_id is not None:
            return  # the same actor re-announced after a library reload: keep what we know
        self._actor_id = actor_id
        self._versions = {}
        self._pending = []
        self._loaded = False
        self.reset.emit(actor_id, [])
        self.reload()

    def _loaded_from_disk(self, actor_id: int, versions: list[TrainingVersion]) -> None:
        if actor_id != self._actor_id:
            return
        self._versions = {v.key: v for v in versions}
        for version in self._pending:  # newer than what the read saw
            self._versions[version.key] = version
        self._pending = []
        self._loaded = True
        self.reset.emit(actor_id, self.versions())

    def _failed(self, actor_id: int, exc: BaseException) -> None:
        if actor_id == self._actor_id:
            self._loaded = True
            self.loadFailed.emit(actor_id, exc)

    def _on_version(self, actor_id: int, version: TrainingVersion) -> None:
        if actor_id != self._actor_id:
            return
        if not self._loaded:
            self._pending.append(version)
        self._versions[version.key] = version
        self.versionChanged.emit(actor_id, version)
