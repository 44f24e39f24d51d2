"""The training-data box: what is in the actor's folder, what is in the bucket, and Sync now.

Counts come from a real scan of the folder (`ctx.scan`) and the sync state from the real bucket
listing (`ctx.sync_states` / `ctx.syncStateChanged`), never from a marker file.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from actor_trainer.core.auto_adjust import recommended_steps
from actor_trainer.core.events import SyncProgressEvent
from actor_trainer.core.library import ActorSummary, TrainingDataScan
from actor_trainer.core.models import VersionStatus
from actor_trainer.core.storage.base import FileSyncState, SyncStatus
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.training.dataset_check import DatasetCheck
from actor_trainer.gui.training.training_images_strip import TrainingImagesStrip
from actor_trainer.gui.training.training_tab_card import Card, counted, heading, secondary
from actor_trainer.gui.widgets.status_style import StatusBadge, good_colour, status_colour


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def sync_words(status: SyncStatus | None, checking: bool) -> tuple[str, str]:
    """(badge text, state key) for a sync status: synced, not_synced, checking or unknown."""
    if status is None:
        if checking:
            return tr("checking…"), "checking"
        return tr("unknown — bucket unreachable"), "unknown"
    if status.is_synced:
        return tr("✓ Synced"), "synced"
    pending = status.count(FileSyncState.LOCAL_ONLY) + status.count(FileSyncState.CHANGED)
    if pending == 0:  # nothing local at all
        return tr("✗ nothing to upload"), "not_synced"
    return counted(pending, "✗ {n} file to upload", "✗ {n} files to upload"), "not_synced"


class TrainingDataBox(Card):
    """Local and remote counts, sync state, recommended steps, Sync now, and the thumbnail strip."""

    #: a fresh scan of the current actor's folder (TrainingDataScan)
    scanned = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._actor_id: int | None = None
        self._scan: TrainingDataScan | None = None
        self._syncing: set[int] = set()
        self._unknown: set[int] = set()  # the last check failed
        self.state_key = "unknown"

        top = QHBoxLayout()
        top.addWidget(heading(tr("Training data"), self))
        self.sync_badge = StatusBadge(parent=self)
        self.sync_badge.setObjectName("syncBadge")
        top.addWidget(self.sync_badge)
        top.addStretch(1)
        self.check_button = QPushButton(tr("Check again"), self)
        self.check_button.setToolTip(tr("Compare the folder with the bucket again"))
        self.check_button.clicked.connect(self.check_again)
        self.sync_button = QPushButton(tr("Sync now"), self)
        self.sync_button.setObjectName("syncNowButton")
        self.sync_button.setToolTip(tr("Upload new and changed training files to the bucket"))
        self.sync_button.clicked.connect(self.sync_now)
        top.addWidget(self.check_button)
        top.addWidget(self.sync_button)
        self.body.addLayout(top)

        self.counts_label = QLabel(self)
        self.counts_label.setObjectName("countsLabel")
        self.counts_label.setWordWrap(True)
        self.recommended_label = secondary("", self)
        self.recommended_label.setObjectName("recommendedLabel")
        self.body.addWidget(self.counts_label)
        self.body.addWidget(self.recommended_label)

        progress_row = QVBoxLayout()
        progress_row.setSpacing(2)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress_label = secondary("", self)
        progress_row.addWidget(self.progress)
        progress_row.addWidget(self.progress_label)
        self.body.addLayout(progress_row)

        self.unsupported_label = QLabel(self)
        self.unsupported_label.setObjectName("unsupportedLabel")
        self.unsupported_label.setWordWrap(True)
        self.unsupported_label.setStyleSheet(
            f"color: {status_colour(VersionStatus.IN_PROGRESS, self.palette()).name()};"
        )
        self.body.addWidget(self.unsupported_label)
        self.strip = TrainingImagesStrip(ctx.thumbnails, self)
        self.body.addWidget(self.strip)
        self.dataset_check = DatasetCheck(ctx, self.strip, self)  # the dataset doctor: badges, panel, fixes
        self.dataset_check.folderChanged.connect(self.rescan)
        self.body.addWidget(self.dataset_check)
        self.empty_label = secondary("", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.addWidget(self.empty_label)

        ctx.syncStateChanged.connect(self._on_sync_state)
        ctx.syncRunning.connect(self._on_sync_running)
        ctx.bridge.syncProgress.connect(self._on_sync_progress)
        self._show_progress(False)
        self._refresh()

    # --- public ---------------------------------------------------------------------------------

    @property
    def actor_id(self) -> int | None:
        return self._actor_id

    @property
    def scan(self) -> TrainingDataScan | None:
        """The latest scan of the current actor's folder (None before the first one arrives)."""
        return self._scan

    def set_actor(self, summary: ActorSummary | None) -> None:
        """Show this actor's data (a re-scan when it is the same actor)."""
        new_id = summary.actor.id if summary is not None else None
        if new_id != self._actor_id:
            self._scan = None
            self.strip.images.set_scan(None)
            self.dataset_check.clear()
            self._show_progress(new_id is not None and new_id in self._syncing)
            if new_id is not None and new_id not in self._ctx.sync_states and not self._ctx.is_checking_sync(new_id):
                self._unknown.discard(new_id)
                self._ctx.refresh_sync(new_id)  # never "checking…" without a check running
        self._actor_id = new_id
        self._refresh(summary)
        self.rescan()

    def rescan(self) -> None:
        actor_id = self._actor_id
        if actor_id is None:
            return

        def done(scan: TrainingDataScan) -> None:
            if scan.actor_id == self._actor_id:
                self._scan = scan
                self.strip.images.set_scan(scan)
                self.dataset_check.check(scan.actor_id)
                self._refresh()
                self.scanned.emit(scan)

        def failed(exc: BaseException) -> None:
            self.counts_label.setText(tr("The training folder could not be read: {e}").format(e=exc))

        self._ctx.scan_training_data(actor_id, on_done=done, on_error=failed, owner=self)

    def check_again(self) -> None:
        if self._actor_id is not None:
            self._unknown.discard(self._actor_id)
            self._ctx.refresh_sync(self._actor_id)
            self._refresh()

    def sync_now(self) -> None:
        if self._actor_id is not None and self._actor_id not in self._syncing:
            self._ctx.sync_now(self._actor_id)

    # --- signals --------------------------------------------------------------------------------

    def _on_sync_state(self, actor_id: int, status: SyncStatus | None) -> None:
        if status is None:
            self._unknown.add(actor_id)
        else:
            self._unknown.discard(actor_id)
        if actor_id == self._actor_id:
            self._refresh()
            self.rescan()  # the folder may have changed too (a check re-reads it)

    def _on_sync_running(self, actor_id: int, running: bool) -> None:
        if running:
            self._syncing.add(actor_id)
        else:
            self._syncing.discard(actor_id)
        if actor_id == self._actor_id:
            if running:
                self.progress.setValue(0)
                self.progress_label.setText(tr("Starting the upload…"))
            self._show_progress(running)
            self._refresh()

    def _on_sync_progress(self, event: SyncProgressEvent) -> None:
        if event.actor_id != self._actor_id:
            return
        self._show_progress(True)
        fraction = (
            event.bytes_done / event.bytes_total
            if event.bytes_total
            else (event.files_done / event.files_total if event.files_total else 0.0)
        )
        self.progress.setValue(round(1000 * min(1.0, fraction)))
        current = tr("Uploading {name} — ").format(name=event.current) if event.current else ""
        self.progress_label.setText(
            current
            + tr("{f} of {t} files · {b} of {bt}").format(
                f=event.files_done,
                t=event.files_total,
                b=human_bytes(event.bytes_done),
                bt=human_bytes(event.bytes_total),
            )
        )

    def _show_progress(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.progress_label.setVisible(visible)

    # --- display --------------------------------------------------------------------------------

    def _refresh(self, summary: ActorSummary | None = None) -> None:
        actor_id = self._actor_id
        has_actor = actor_id is not None
        for widget in (self.sync_button, self.check_button):
            widget.setEnabled(has_actor and actor_id not in self._syncing)
        if actor_id in self._syncing:
            self.sync_button.setText(tr("Syncing…"))
        else:
            self.sync_button.setText(tr("Sync now"))
        if actor_id is None:
            self.counts_label.setText(tr("No actor selected."))
            self.sync_badge.hide()
            self.recommended_label.clear()
            self.unsupported_label.hide()
            return
        status = self._ctx.sync_states.get(actor_id)
        checking = status is None and actor_id not in self._unknown
        text, self.state_key = sync_words(status, checking)
        colours = {
            "synced": good_colour(self.palette()),
            "not_synced": status_colour(VersionStatus.IN_PROGRESS, self.palette()),
            "checking": status_colour(VersionStatus.QUEUED, self.palette()),
        }
        self.sync_badge.set_badge(text, colours.get(self.state_key, QColor("#757575")))
        self.sync_badge.show()

        scan = self._scan
        summary = summary or self._ctx.summary(actor_id)
        images = scan.image_count if scan is not None else (summary.image_count if summary else 0)
        parts = [counted(images, "{n} image in the folder", "{n} images in the folder")]
        if scan is not None and scan.captions:
            parts[0] += counted(len(scan.captions), " (+{n} caption)", " (+{n} captions)")
        if status is not None:
            parts.append(
                counted(
                    status.local_count,
                    "{r} of {n} file in the bucket",
                    "{r} of {n} files in the bucket",
                    r=status.count(FileSyncState.IN_SYNC),
                )
            )
            remote_only = status.count(FileSyncState.REMOTE_ONLY)
            if remote_only:
                parts.append(tr("{n} only in the bucket").format(n=remote_only))
        self.counts_label.setText(" · ".join(parts))
        if images:
            self.recommended_label.setText(
                counted(
                    images,
                    "Recommended for {n} image: {steps} steps",
                    "Recommended for {n} images: {steps} steps",
                    steps=recommended_steps(images),
                )
            )
        else:
            self.recommended_label.setText(tr("Add PNG, JPEG or WebP images to the actor's training_data folder."))
        unsupported = scan.unsupported if scan is not None else ()
        if unsupported:
            names = ", ".join(p.name for p in unsupported[:3]) + (", …" if len(unsupported) > 3 else "")
            self.unsupported_label.setText(
                counted(
                    len(unsupported),
                    "⚠ {n} unsupported file is ignored: {names}",
                    "⚠ {n} unsupported files are ignored: {names}",
                    names=names,
                )
            )
        self.unsupported_label.setVisible(bool(unsupported))
        self.strip.setVisible(scan is None or bool(scan.images or scan.unsupported))
        self.empty_label.setText(tr("The folder has no training images yet.") if scan is not None else "")
        self.empty_label.setVisible(scan is not None and not scan.images and not scan.unsupported)
