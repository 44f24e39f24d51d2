"""What can be done to a training version: one QAction each, shared by the details pane's buttons
and the table's context menu, so both are enabled and explained the same way.

Mark as good, Check status, Cancel, Retry, Download LoRA, Train again. Work goes through
`ctx.tasks` (never awaited here); results come back as signals. Questions (replace the validated
model? cancel a paid run?) go through `confirm`, and the download destination through
`choose_destination`: both are plain attributes so a test can answer them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, QStandardPaths, QUrl, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from actor_trainer.core.models import TrainingVersion, VersionStatus
from actor_trainer.core.run_control import can_check, can_retry
from actor_trainer.core.settings import config_dir
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.versions.lora_download import LoraDownloadDialog

if TYPE_CHECKING:
    from actor_trainer.gui.context import AppContext

LAST_FOLDER_KEY = "downloads/lastFolder"


def _remembered() -> QSettings:
    # The window's INI file in the config folder (gui/shell/main_window.py window_settings_path).
    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


def download_start_folder() -> Path:
    """Where "Download LoRA…" opens: the folder last saved to, else the user's Downloads folder."""
    last = _remembered().value(LAST_FOLDER_KEY)
    if isinstance(last, str) and last and Path(last).is_dir():
        return Path(last)
    downloads = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
    if downloads and Path(downloads).is_dir():
        return Path(downloads)
    return Path.home()


def remember_download_folder(dest: Path) -> None:
    settings = _remembered()
    settings.setValue(LAST_FOLDER_KEY, str(dest.parent))
    settings.sync()


def mark_good_refusal(version: TrainingVersion) -> str | None:
    """Why `version` cannot be marked good (the library's own rule), or None if it can."""
    if version.status is not VersionStatus.COMPLETED:
        return tr("{name} is {status}; only a completed version can be marked good.").format(
            name=version.name, status=tr(version.status.label)
        )
    if not version.loraUrl:
        return tr("{name} has no LoRA URL, so there is no model to validate.").format(name=version.name)
    return None


class VersionActions(QObject):
    """The actions on the selected version of the current actor."""

    #: "Train again with these parameters" (TrainingParameters)
    trainAgainRequested = Signal(object)
    #: a version was marked good (actor id, TrainingVersion); the panel shows it at once
    markedGood = Signal(int, object)
    #: a version's good mark was taken off (actor id, TrainingVersion)
    unmarkedGood = Signal(int, object)
    #: check/cancel/retry answered (actor id, TrainingVersion, select it)
    versionUpdated = Signal(int, object, bool)
    #: a download dialog was opened (LoraDownloadDialog)
    downloadStarted = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._parent = parent
        self._actor_id: int | None = None
        self._version: TrainingVersion | None = None
        self._others: list[TrainingVersion] = []
        #: Ask a yes/no question: confirm(title, question) -> True to go on.
        self.confirm: Callable[[str, str], bool] = self._ask
        #: Ask where to save a LoRA: choose_destination(version) -> Path, or None to give up.
        self.choose_destination: Callable[[TrainingVersion], Path | None] = self._ask_path
        #: Download dialogs opened (kept referenced while they live).
        self.downloads: list[LoraDownloadDialog] = []

        self.mark_good = self._action("markGood", tr("✓ Mark as good"), self.mark_good_selected)
        self.unmark_good = self._action("unmarkGood", tr("Unmark good"), self.unmark_good_selected)
        self.download = self._action("downloadLora", tr("Download LoRA…"), lambda: self.download_selected())
        self.train_again = self._action(
            "trainAgain", tr("Train again with these parameters"), self.train_again_selected
        )
        self.train_again.setIconText(tr("Train again"))  # the button's short text; menus say it all
        self.check = self._action("checkStatus", tr("Check status"), self.check_selected)
        self.cancel = self._action("cancelRun", tr("Cancel run…"), self.cancel_selected)
        self.retry = self._action("retryRun", tr("Retry"), self.retry_selected)
        self.set_target(None, None, [])

    def _action(self, name: str, text: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def all(self) -> list[QAction]:
        return [self.mark_good, self.unmark_good, self.download, self.train_again, self.check, self.cancel, self.retry]

    # --- target ---------------------------------------------------------------------------------

    @property
    def version(self) -> TrainingVersion | None:
        return self._version

    def set_target(
        self, actor_id: int | None, version: TrainingVersion | None, versions: list[TrainingVersion]
    ) -> None:
        """Act on `version` of `actor_id`; `versions` are the actor's others (for the good mark)."""
        self._actor_id, self._version, self._others = actor_id, version, versions
        v = version
        self._set(
            self.mark_good,
            v is not None and mark_good_refusal(v) is None and not v.isGood,
            self._mark_good_tip(v),
            self._mark_good_reason(v),
        )
        self._set(
            self.unmark_good,
            v is not None and v.isGood,
            tr("Take the good mark off {name}: the actor then has no validated model").format(
                name=v.name if v is not None else ""
            ),
            None,
        )
        self.unmark_good.setVisible(v is not None and v.isGood)
        self._set(
            self.download,
            v is not None and v.status is VersionStatus.COMPLETED and bool(v.loraUrl),
            tr("Save the LoRA file on this computer and show what it contains"),
            None if v is None else tr("Only a completed version with a LoRA can be downloaded."),
        )
        self._set(
            self.train_again,
            v is not None,
            tr("Put these parameters in the form, to start a new version with them"),
            None,
        )
        checkable = v is not None and can_check(v)
        self._set(
            self.check,
            checkable,
            tr("Ask RunPod for this run's state now"),
            None
            if v is None
            else tr("{name} is {status}: its state is final.").format(name=v.name, status=tr(v.status.label)),
        )
        self.check.setVisible(v is None or checkable)
        running = v is not None and not v.status.is_terminal
        self._set(
            self.cancel,
            running and v is not None and v.job_id is not None,
            tr("Stop this run on RunPod (/cancel); billing stops with it"),
            None
            if v is None or not running
            else tr("{name} has no RunPod job id yet; check its status first.").format(name=v.name),
        )
        self.cancel.setVisible(v is None or running)
        retryable = v is not None and can_retry(v)
        self._set(self.retry, retryable, self._retry_tip(v), None)
        self.retry.setVisible(v is None or retryable)

    def refresh(self) -> None:
        self.set_target(self._actor_id, self._version, self._others)

    @staticmethod
    def _set(action: QAction, enabled: bool, tip: str, reason: str | None) -> None:
        action.setEnabled(enabled)
        text = tip if enabled or not reason else reason
        action.setToolTip(text)
        action.setStatusTip(text)

    def _mark_good_reason(self, v: TrainingVersion | None) -> str | None:
        if v is not None and v.isGood:
            return tr("{name} is the validated model (Unmark good takes the mark off).").format(name=v.name)
        return mark_good_refusal(v) if v is not None else None

    def _mark_good_tip(self, v: TrainingVersion | None) -> str:
        if v is not None and v.isGood:
            return tr("{name} is already the validated model; marking it again changes nothing.").format(name=v.name)
        return tr("Record this version as the actor's validated model")

    def _retry_tip(self, v: TrainingVersion | None) -> str:
        if v is not None and v.status in (VersionStatus.FAILED, VersionStatus.TIMED_OUT) and v.job_id:
            return tr(
                "Ask RunPod to run the same job again; if it no longer can, start a new version "
                "with the same parameters"
            )
        return tr("Start a new version with the same parameters")

    def validated_name(self) -> str | None:
        """The name of the actor's validated version, if it is not the selected one."""
        v = self._version
        if v is None or self._actor_id is None:
            return None
        other = next((o for o in self._others if o.isGood and o.name != v.name), None)
        if other is not None:
            return other.name
        summary = self.ctx.summary(self._actor_id)
        validated = summary.actor.validated_lora_model if summary is not None else None
        if validated is not None and validated.version_id not in (v.id, v.requestId):
            return validated.version_name
        return None

    # --- doing ----------------------------------------------------------------------------------

    def mark_good_selected(self) -> None:
        v, actor_id = self._version, self._actor_id
        if v is None or actor_id is None:
            return
        current = self.validated_name()
        if current is not None and not self.confirm(
            tr("Replace the validated model?"),
            tr("{old} is the validated model. Mark {new} as good instead?").format(old=current, new=v.name),
        ):
            return
        self.ctx.mark_good(actor_id, v.key, on_done=lambda saved: self.markedGood.emit(actor_id, saved), owner=self)

    def unmark_good_selected(self) -> None:
        v, actor_id = self._version, self._actor_id
        if v is None or actor_id is None or not v.isGood:
            return
        self.ctx.unmark_good(actor_id, v.key, on_done=lambda saved: self.unmarkedGood.emit(actor_id, saved), owner=self)

    def check_selected(self) -> None:
        v, actor_id = self._version, self._actor_id
        if v is not None and actor_id is not None:
            self.ctx.check_run(
                actor_id, v.key, on_done=lambda saved: self.versionUpdated.emit(actor_id, saved, False), owner=self
            )

    def cancel_selected(self) -> None:
        v, actor_id = self._version, self._actor_id
        if v is None or actor_id is None:
            return
        question = self.ctx.cancel_question(v)
        if not self.confirm(question.title, question.text):
            return
        self.ctx.cancel_run(
            actor_id, v.key, on_done=lambda saved: self.versionUpdated.emit(actor_id, saved, False), owner=self
        )

    def retry_selected(self) -> None:
        v, actor_id = self._version, self._actor_id
        if v is not None and actor_id is not None:
            self.ctx.retry_run(
                actor_id, v.key, on_done=lambda saved: self.versionUpdated.emit(actor_id, saved, True), owner=self
            )

    def download_selected(self, dest: Path | None = None) -> LoraDownloadDialog | None:
        """Download the selected LoRA to `dest` (asked for when None); returns the dialog showing it."""
        v, actor_id = self._version, self._actor_id
        if v is None or actor_id is None or not self.download.isEnabled():
            return None
        if dest is None:
            dest = self.choose_destination(v)
            if dest is None:
                return None
        dialog = LoraDownloadDialog(self.ctx, actor_id, v, self._parent)
        self.downloads = [d for d in self.downloads if d.isVisible() or d.is_running()]
        self.downloads.append(dialog)
        dialog.start(dest)
        dialog.show()
        self.downloadStarted.emit(dialog)
        return dialog

    def train_again_selected(self) -> None:
        if self._version is not None:
            self.trainAgainRequested.emit(self._version.parameters)

    # --- default questions ----------------------------------------------------------------------

    def _ask(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(
            self._parent,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _ask_path(self, version: TrainingVersion) -> Path | None:
        """The save dialog, opening in the folder last saved to (else Downloads)."""
        name = QUrl(version.loraUrl or "").fileName() or f"{version.name}.safetensors"
        dialog = QFileDialog(
            self._parent,
            tr("Save {name} LoRA").format(name=version.name),
            str(download_start_folder()),
            tr("LoRA files (*.safetensors);;All files (*)"),
        )
        dialog.setObjectName("saveLoraDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("safetensors")
        dialog.selectFile(name)
        if dialog.exec() != QFileDialog.DialogCode.Accepted or not dialog.selectedFiles():
            return None
        dest = Path(dialog.selectedFiles()[0])
        remember_download_folder(dest)
        return dest
