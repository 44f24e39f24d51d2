"""Download a version's LoRA to this computer, with progress and cancel, then show what the file
says about itself (its safetensors header: rank, steps, dtypes, size — and SIMULATION when the
sandbox wrote it).

The download runs in `ctx.storage.download_url` (blocking I/O on worker threads, atomic rename);
the header is read off the loop. Byte progress reaches the widgets through a Qt signal: the
storage promises to call back on the loop thread, and should that ever change, the signal's
automatic connection queues it to the GUI thread — widgets are never touched from elsewhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.lora_file import LoraInfo
from actor_trainer.core.models import TrainingVersion, VersionStatus
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.widgets.status_style import status_colour

if TYPE_CHECKING:
    from actor_trainer.gui.context import AppContext


def info_rows(info: LoraInfo) -> list[tuple[str, str]]:
    """What the dialog's table shows: the file's own summary, then rank, dtypes and location."""
    rows = [(tr(label), value) for label, value in info.summary_rows()]
    if info.rank is not None:
        ranks = ", ".join(str(r) for r in info.ranks)
        rows.append((tr("Rank (from tensors)"), ranks))
    rows.append((tr("Tensor dtypes"), ", ".join(info.dtypes) or tr("none")))
    rows.append((tr("Size"), f"{info.file_size:,} " + tr("bytes")))
    rows.append((tr("Saved to"), str(info.path)))
    return rows


class LoraDownloadDialog(QDialog):
    """One download. `start(dest)` begins it; the dialog shows progress, then the file's metadata."""

    #: bytes done, bytes total (internal: carries storage progress to the GUI thread)
    progressed = Signal(int, int)
    #: the file is complete at this Path
    downloaded = Signal(object)
    #: the file's header was read (LoraInfo)
    infoReady = Signal(object)
    #: the download or the header read failed (message)
    failed = Signal(str)

    def __init__(self, ctx: AppContext, actor_id: int, version: TrainingVersion, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LoraDownloadDialog")
        self.ctx = ctx
        self.actor_id = actor_id
        self.version = version
        self.dest: Path | None = None
        self.info: LoraInfo | None = None
        self._task: asyncio.Task[object] | None = None
        self.setWindowTitle(tr("{name} LoRA").format(name=version.name))
        self.setMinimumWidth(520)

        self.headline = QLabel(self)
        self.headline.setObjectName("downloadHeadline")
        self.headline.setWordWrap(True)
        self.banner = QLabel(self)
        self.banner.setObjectName("simulationBanner")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.hide()
        self.bar = QProgressBar(self)
        self.bar.setObjectName("downloadProgress")
        self.bar.setRange(0, 0)
        self.bar_text = QLabel(self)
        self.bar_text.setObjectName("downloadBytes")
        self.cancel_button = QPushButton(tr("Cancel download"), self)
        self.cancel_button.setObjectName("cancelDownload")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.bar, 1)
        progress_row.addWidget(self.cancel_button)

        self.table = QTableWidget(0, 2, self)
        self.table.setObjectName("loraInfoTable")
        self.table.setHorizontalHeaderLabels([tr("Property"), tr("Value")])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)  # one line per property; the full value is in its tooltip
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setAlternatingRowColors(True)
        self.table.hide()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.open_folder = self.buttons.addButton(tr("Show in folder"), QDialogButtonBox.ButtonRole.ActionRole)
        self.open_folder.setObjectName("showInFolder")
        self.open_folder.setEnabled(False)
        self.open_folder.clicked.connect(self._show_in_folder)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(8)
        layout.addWidget(self.headline)
        layout.addWidget(self.banner)
        layout.addLayout(progress_row)
        layout.addWidget(self.bar_text)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self.progressed.connect(self._on_progress)

    # --- running --------------------------------------------------------------------------------

    @property
    def task_name(self) -> str:
        return f"lora-download-{self.actor_id}-{self.version.key}"

    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, dest: Path) -> None:
        """Download the version's LoRA to `dest` (replacing a file there), then read its header."""
        url = self.version.loraUrl
        if not url or self.version.status is not VersionStatus.COMPLETED:
            raise ValueError(f"{self.version.name} has no LoRA to download")
        self.dest = Path(dest)
        self.headline.setText(tr("Downloading {name} to {path}").format(name=self.version.name, path=self.dest))
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)

        def progress(done: int, total: int) -> None:
            self.progressed.emit(done, total)  # queued to the GUI thread if ever called elsewhere

        def done(info: LoraInfo) -> None:
            assert self.dest is not None
            self.downloaded.emit(self.dest)
            self._on_info(info)

        self._task = self.ctx.download_lora(
            self.task_name, url, self.dest, progress, on_done=done, on_error=self._on_error, owner=self
        )
        if self._task is not None:
            self._task.add_done_callback(self._maybe_cancelled)

    def cancel(self) -> None:
        """Stop the download (the storage removes its temporary file)."""
        if self.is_running() and self._task is not None:
            self._task.cancel()

    def _maybe_cancelled(self, task: asyncio.Task[object]) -> None:
        if task.cancelled():
            self.cancel_button.setEnabled(False)
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
            self.headline.setText(tr("Download of {name} cancelled; nothing was saved.").format(name=self.version.name))

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            # QProgressBar holds an int: scale to per-mille so files over 2 GiB still work.
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))
            self.bar_text.setText(tr("{done} of {total}").format(done=_mb(done), total=_mb(total)))

    def _on_info(self, info: LoraInfo) -> None:
        self.info = info
        self.cancel_button.hide()
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000)
        self.bar.hide()
        self.bar_text.hide()
        self.open_folder.setEnabled(True)
        self.headline.setText(tr("{name} saved to {path}").format(name=self.version.name, path=info.path))
        if info.is_simulation:
            colour = status_colour(VersionStatus.IN_PROGRESS, self.palette()).name()
            self.banner.setText(
                tr("SIMULATION — this file was written by the sandbox: random weights, not a trained model.")
            )
            self.banner.setStyleSheet(
                f"QLabel#simulationBanner {{ border: 2px solid {colour}; color: {colour}; border-radius: 4px;"
                " padding: 6px; font-weight: bold; }"
            )
            self.banner.show()
        rows = info_rows(info)
        self.table.setRowCount(len(rows))
        for row, (label, value) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(label))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            self.table.setItem(row, 1, item)
        self.table.show()
        rows_height = self.table.verticalHeader().length() + self.table.horizontalHeader().height() + 4
        self.table.setMinimumHeight(min(rows_height, 520))
        self.resize(max(self.width(), 640), self.sizeHint().height())
        self.infoReady.emit(info)

    def _on_error(self, exc: BaseException) -> None:
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        self.headline.setText(
            tr("Download of {name} failed: {message}").format(name=self.version.name, message=message)
        )
        self.ctx.report_error(exc, tr("The LoRA could not be downloaded"))
        self.failed.emit(message)

    def table_values(self) -> dict[str, str]:
        """The metadata table as label → value (what the user reads)."""
        values: dict[str, str] = {}
        for row in range(self.table.rowCount()):
            label, value = self.table.item(row, 0), self.table.item(row, 1)
            if label is not None and value is not None:
                values[label.text()] = value.text()
        return values

    def _show_in_folder(self) -> None:
        if self.dest is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.dest.parent)))

    def reject(self) -> None:
        self.cancel()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        super().closeEvent(event)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
