"""AppContext's sync: the bucket comparison behind the sync badge, and Sync now — one road
(core/sync_service.py, which the CLI's `sync` and preflight use too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actor_trainer.core.storage.base import SyncResult, SyncStatus
from actor_trainer.gui.context_parts import ContextParts
from actor_trainer.gui.i18n import tr

if TYPE_CHECKING:
    pass


def state_word(status: SyncStatus) -> str:
    return "synced" if status.is_synced else "not_synced"


class SyncActions(ContextParts):
    """Methods of AppContext (a mixin: no state of its own, no signals)."""

    # --- sync -----------------------------------------------------------------------------------

    def is_checking_sync(self, actor_id: int) -> bool:
        """A bucket comparison of this actor is under way."""
        return self.tasks.is_running(f"sync-check-{actor_id}")

    def refresh_sync(self, actor_id: int) -> None:
        """Compare the actor's folder with the bucket (hashing and listing off the loop)."""

        async def compare() -> SyncStatus:
            return await self.services.sync.compare(actor_id)

        def done(status: SyncStatus) -> None:
            self.sync_states[actor_id] = status
            self.actor_model.set_sync_state(actor_id, state_word(status))
            self.syncStateChanged.emit(actor_id, status)

        def failed(exc: BaseException) -> None:
            self.sync_states.pop(actor_id, None)
            self.actor_model.set_sync_state(actor_id, "unknown")
            self.syncStateChanged.emit(actor_id, None)
            self.report_error(exc, tr("The bucket could not be read"), quiet=True)

        self.tasks.start(f"sync-check-{actor_id}", compare(), on_done=done, on_error=failed)

    def sync_now(self, actor_id: int) -> None:
        """Upload what is missing or changed, with progress (SyncProgressEvent on the bridge)."""

        async def run() -> SyncResult:
            return await self.services.sync.sync(actor_id)  # progress arrives as SyncProgressEvent

        def done(result: SyncResult) -> None:
            self.syncRunning.emit(actor_id, False)
            if result.failed:
                names = ", ".join(n for n, _ in result.failed[:3])
                self.errorRaised.emit(
                    tr("Some files were not uploaded"),
                    f"{len(result.failed)} file(s) failed: {names}. {result.failed[0][1]}",
                    tr("Press Sync now again: finished files are skipped."),
                )
            else:
                self.statusMessage.emit(
                    tr("Synced: {n} uploaded, {m} already there").format(n=len(result.uploaded), m=len(result.skipped))
                )
            self.refresh_sync(actor_id)

        def failed(exc: BaseException) -> None:
            self.syncRunning.emit(actor_id, False)
            self.report_error(exc, tr("Sync failed"))
            self.refresh_sync(actor_id)

        self.syncRunning.emit(actor_id, True)
        self.tasks.start(f"sync-{actor_id}", run(), on_done=done, on_error=failed, replace=False)
