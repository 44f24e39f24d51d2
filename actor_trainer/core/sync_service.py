"""Sync, the one road: compare an actor's training data with the bucket, upload what is missing.

The GUI (Sync now, the sync badge), the CLI (`sync`) and preflight all call this service, so a sync
is scanned, reported and logged the same way wherever it starts. Scanning and hashing run off the
event loop; storage does its own blocking I/O on worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from actor_trainer.core.events import EventBus, LogLevel, SyncProgressEvent
from actor_trainer.core.library import Library, TrainingDataScan
from actor_trainer.core.preflight import DataOutsideLibraryError
from actor_trainer.core.storage.base import Storage, SyncProgress, SyncResult, SyncStatus

log = logging.getLogger(__name__)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


class SyncService:
    """Training data ↔ bucket for one library and one storage."""

    def __init__(self, library: Library, storage: Storage, events: EventBus) -> None:
        self.library = library
        self.storage = storage
        self.events = events
        self._orphans_cleaned = False

    async def scan(self, actor_id: int) -> TrainingDataScan:
        return await asyncio.to_thread(self.library.scan_training_data, actor_id)

    async def compare(self, actor_id: int, scan: TrainingDataScan | None = None) -> SyncStatus:
        """What the bucket holds of this actor's training data, file by file."""
        if scan is None:
            scan = await self.scan(actor_id)
        return await self.storage.compare(actor_id, scan.files)

    async def _clean_orphans_once(self) -> None:
        """The first sync with this bucket removes what killed syncs left in it (incomplete
        multipart uploads are billed until aborted); a failure here never stops the sync."""
        if self._orphans_cleaned:
            return
        self._orphans_cleaned = True
        try:
            removed = await self.storage.clean_orphans()
        except Exception as exc:
            self.events.log(
                LogLevel.WARNING,
                f"Could not clean up after interrupted uploads: {getattr(exc, 'message', None) or exc}",
            )
            return
        for line in removed:
            log.info("%s", line)
        if removed:
            self.events.log(
                LogLevel.INFO,
                f"Cleaned up after interrupted uploads: {len(removed)} — "
                + "; ".join(removed[:3])
                + (" …" if len(removed) > 3 else ""),
            )

    async def sync(
        self,
        actor_id: int,
        *,
        dry_run: bool = False,
        scan: TrainingDataScan | None = None,
        progress: Callable[[SyncProgress], None] | None = None,
    ) -> SyncResult:
        """Upload what is missing or changed. Progress goes to `progress` and, as SyncProgressEvent,
        to every listener; the start, the counts, the bytes, the time and each failure are logged."""
        if scan is None:
            scan = await self.scan(actor_id)
        if scan.outside:  # links out of the library: refuse, upload nothing
            refused = DataOutsideLibraryError(scan)
            self.events.log(LogLevel.ERROR, f"Sync refused: {refused.message}", actor_id=actor_id)
            raise refused
        if not dry_run:
            await self._clean_orphans_once()
        verb = "Checking" if dry_run else "Syncing"
        self.events.log(
            LogLevel.INFO,
            f"{verb} {scan.image_count} training image(s) ({_size(scan.total_bytes)}) with the bucket…",
            actor_id=actor_id,
        )

        def on_progress(p: SyncProgress) -> None:
            self.events.emit(
                SyncProgressEvent(
                    actor_id=actor_id,
                    files_done=p.files_done,
                    files_total=p.files_total,
                    bytes_done=p.bytes_done,
                    bytes_total=p.bytes_total,
                    current=p.current,
                )
            )
            if progress is not None:
                progress(p)

        started = time.monotonic()
        try:
            result = await self.storage.sync(
                actor_id, scan.files, dry_run=dry_run, progress=None if dry_run else on_progress
            )
        except Exception as exc:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.events.log(LogLevel.ERROR, f"Sync failed: {message}", actor_id=actor_id)
            raise
        elapsed = time.monotonic() - started
        verb = "would upload" if dry_run else "uploaded"
        line = (
            f"Sync: {verb} {len(result.uploaded)} file(s) ({_size(result.bytes_uploaded)}), "
            f"{len(result.skipped)} already there, in {elapsed:.1f} s"
        )
        if result.failed:
            line += f"; {len(result.failed)} FAILED"
        self.events.log(LogLevel.WARNING if result.failed else LogLevel.SUCCESS, line, actor_id=actor_id)
        for name, message in result.failed:
            self.events.log(LogLevel.ERROR, f"  {name}: {message}", actor_id=actor_id)
        return result
