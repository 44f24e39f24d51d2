"""The dataset doctor in the training tab: summary line, badges on the strip, the panel's fixes and
dismissals, against a real library (pictures on disk, the check in a worker thread)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtWidgets import QPushButton, QWidget
from pytestqt.qtbot import QtBot

from actor_trainer.gui.training.dataset_check import blocking_colour, warning_colour
from actor_trainer.gui.training.training_data_box import TrainingDataBox
from tests.doctor_defects import _pattern
from tests.waits import QT_WAIT_MS


def _plant(folder: Path) -> None:
    (folder / "empty.png").write_bytes(b"")
    exif = Image.Exif()
    exif[0x0112] = 6
    _pattern((640, 480), 3).save(folder / "sideways.jpg", quality=90, exif=exif)


def _box(gui_ctx: Any, qtbot: QtBot) -> TrainingDataBox:
    box = TrainingDataBox(gui_ctx)
    qtbot.addWidget(box)
    box.resize(900, 500)
    box.show()
    return box


def _codes(box: TrainingDataBox) -> set[tuple[str | None, str]]:
    report = box.dataset_check.report
    return set() if report is None else {(f.file, f.code) for f in report.findings}


def _row_button(box: TrainingDataBox, file: str, code: str, name: str) -> QPushButton:
    row = box.dataset_check.rows.findChild(QWidget, f"finding:{file}:{code}")
    assert row is not None, (file, code)
    button = row.findChild(QPushButton, name)
    assert button is not None
    return button


def test_badges_summary_fix_and_dismiss(gui_ctx: Any, qtbot: QtBot) -> None:
    folder = Path(gui_ctx.library.training_data_folder(0))
    _plant(folder)
    box = _box(gui_ctx, qtbot)
    box.set_actor(gui_ctx.summary(0))
    check = box.dataset_check
    qtbot.waitUntil(lambda: ("sideways.jpg", "exif_rotation") in _codes(box), timeout=QT_WAIT_MS)

    assert ("empty.png", "empty_file") in _codes(box)
    assert check.summary_label.text().startswith("⛔ Dataset check: 1 problem blocks training")
    assert check.delegate.severity_of("empty.png") == "blocking"
    assert check.delegate.severity_of("sideways.jpg") == "warning"

    # The badges are painted in the tiles' corners.
    strip = box.strip
    qtbot.waitUntil(lambda: strip.images.rowCount() == 8, timeout=QT_WAIT_MS)
    shot = strip.viewport().grab().toImage()
    dpr = shot.devicePixelRatio()
    for name, colour in (("empty.png", blocking_colour()), ("sideways.jpg", warning_colour())):
        row = strip.images.names().index(name)
        rect = strip.visualRect(strip.images.index(row))
        # inside the round badge (centre right-12, top+12; radius 9), beside its white glyph
        pixel = shot.pixelColor(round((rect.right() - 17) * dpr), round((rect.top() + 12) * dpr))
        assert abs(pixel.red() - colour.red()) < 40 and abs(pixel.green() - colour.green()) < 40, (name, pixel)

    # The panel lists each finding with its fix; a fix keeps the original and the check runs again.
    check.toggle_button.click()
    assert check.panel.isVisible()
    _row_button(box, "sideways.jpg", "exif_rotation", "fixButton").click()
    qtbot.waitUntil(
        lambda: ("sideways.jpg", "exif_rotation") not in _codes(box) and check.report is not None, timeout=QT_WAIT_MS
    )
    assert (folder.parent / "training_data_originals" / "sideways.jpg").is_file()

    # A warning dismissed for one picture is remembered in the library.
    _row_button(box, "img_00.png", "too_small", "dismissButton").click()
    qtbot.waitUntil(lambda: ("img_00.png", "too_small") not in _codes(box), timeout=QT_WAIT_MS)
    record = json.loads((folder.parents[2] / "actors.json").read_text(encoding="utf-8"))[0]
    assert [(e["file"], e["code"]) for e in record["doctor_dismissed"]] == [("img_00.png", "too_small")]
    assert "1 dismissed" in check.summary_label.text()

    # Removing the empty file from training clears the block.
    _row_button(box, "empty.png", "empty_file", "fixButton").click()
    qtbot.waitUntil(lambda: check.report is not None and not check.report.has_blocking, timeout=QT_WAIT_MS)
    assert not (folder / "empty.png").exists()
    assert not check.summary_label.text().startswith("⛔")


def test_another_actor_clears_the_report(gui_ctx: Any, qtbot: QtBot) -> None:
    box = _box(gui_ctx, qtbot)
    box.set_actor(gui_ctx.summary(0))
    qtbot.waitUntil(lambda: box.dataset_check.report is not None, timeout=QT_WAIT_MS)
    box.set_actor(gui_ctx.summary(1))
    assert box.dataset_check.report is None or box.dataset_check.report.actor_id == 1
    qtbot.waitUntil(
        lambda: box.dataset_check.report is not None and box.dataset_check.report.actor_id == 1, timeout=QT_WAIT_MS
    )
    box.set_actor(None)
    assert box.dataset_check.report is None and box.dataset_check.summary_label.text() == ""


def test_the_form_parameters_are_what_is_checked(gui_ctx: Any, qtbot: QtBot) -> None:
    from actor_trainer.core.models import TrainingParameters

    box = _box(gui_ctx, qtbot)
    box.set_actor(gui_ctx.summary(1))
    qtbot.waitUntil(lambda: box.dataset_check.report is not None, timeout=QT_WAIT_MS)
    assert box.dataset_check.report is not None and box.dataset_check.report.params.max_train_steps == 2000
    gui_ctx.parameters.set(1, TrainingParameters(max_train_steps=9000))  # what typing in the form does
    qtbot.waitUntil(
        lambda: "too_few_images_for_steps" in {f.code for f in box.dataset_check.report.findings}, timeout=QT_WAIT_MS
    )
    assert box.dataset_check.report.params.max_train_steps == 9000
