"""Issue 10, item 11: the LoRA save dialog opens in the user's Downloads folder, then in the
folder last saved to (remembered across sessions)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import TrainingVersion
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.versions.version_actions import VersionActions, download_start_folder
from tests.library_factory import completed_version


def answer_dialog(seen: list[str], save_as: Path | None) -> None:
    """When the save dialog shows, note the folder it opened in, then save to `save_as` (or cancel)."""

    def act() -> None:
        dialog = next(
            (
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QFileDialog) and w.objectName() == "saveLoraDialog" and w.isVisible()
            ),
            None,
        )
        if dialog is None:
            QTimer.singleShot(20, act)
            return
        seen.append(dialog.directory().absolutePath())
        if save_as is None:
            dialog.reject()
        else:
            dialog.selectFile(str(save_as))
            dialog.accept()

    QTimer.singleShot(0, act)


def test_the_save_dialog_starts_in_downloads_and_remembers_the_last_folder(
    light_ctx: AppContext, qtbot: QtBot, tmp_path: Path
) -> None:
    downloads = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation))
    downloads.mkdir(parents=True, exist_ok=True)
    host = QWidget()
    qtbot.addWidget(host)
    actions = VersionActions(light_ctx, host)
    version = TrainingVersion.model_validate(completed_version("job-1", "V1"))
    assert download_start_folder() == downloads

    seen: list[str] = []
    elsewhere = tmp_path / "my loras"
    elsewhere.mkdir()
    answer_dialog(seen, elsewhere / "ana.safetensors")
    chosen = actions.choose_destination(version)
    assert seen == [str(downloads)]
    assert chosen == elsewhere / "ana.safetensors"

    answer_dialog(seen, None)  # the next time (a fresh panel, as after a restart) opens where the last one saved
    assert VersionActions(light_ctx, host).choose_destination(version) is None
    assert seen[1] == str(elsewhere)
    assert download_start_folder() == elsewhere
