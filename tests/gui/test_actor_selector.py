"""The actor selector against a real library on disk: search, filters, keys, posters, live badges."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QLocale, QRect, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QDialog, QSpinBox, QWidget
from pytestqt.qtbot import QtBot

from actor_trainer.core.library import ActorSummary, Library
from actor_trainer.core.models import Actor
from actor_trainer.gui.selector.actor_list_model import ActorListModel, ActorRoles, initials_for
from actor_trainer.gui.selector.actor_selector import ActorSelectorDialog
from actor_trainer.gui.selector.poster_delegate import GOOD_COLOR, INFO_COLOR, WARNING_COLOR, placeholder_color
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader
from tests.waits import QT_WAIT_MS

RED = (255, 0, 0)
GREEN = (0, 200, 0)
BLUE = (0, 0, 255)

# id, name, sex, ethnicity, age, description, images, poster (colour, suffix) or None, validated
ACTORS: list[tuple[Any, ...]] = [
    (0, "Anna Smith", "female", "european", 34, "A paramedic with short curls.", 4, (RED, ".png"), True),
    (1, "Bruno Costa", "male", "latino", 52, "A retired boxer with a broken nose.", 0, (GREEN, ".png"), False),
    (2, "Chen Wei", "male", "east_asian", 23, "A violinist who wears round glasses.", 2, None, False),
    (3, "Dana Okafor", "female", "african", 41, "A chef with flour on her sleeves.", 3, (BLUE, ".png"), False),
    (13, "Eve Morgan", "Female", "European", None, "A mountain guide.", 1, (RED, ".png"), False),
    (30, "Farid Haddad", "male", "middle_eastern", 67, "A librarian in a tweed jacket.", 5, (RED, ".jpg"), False),
]


def write_library(root: Path) -> Path:
    """A real library folder: actors.json, training images, posters (PNG and JPEG), one without."""
    records = []
    for actor_id, name, sex, ethnicity, age, description, images, poster, validated in ACTORS:
        record: dict[str, Any] = {
            "id": actor_id, "name": name, "sex": sex, "ethnicity": ethnicity, "age": age,
            "description": description, "validated_lora_model": None,
        }  # fmt: skip
        if validated:
            record["validated_lora_model"] = {
                "version_id": "job-1", "version_name": "V1",
                "lora_url": "s3://b/actors/0000/models/a.safetensors", "marked_at": "2026-01-15T11:00:00Z",
            }  # fmt: skip
        records.append(record)
        folder = root / "actors" / f"{actor_id:04d}"
        (folder / "training_data").mkdir(parents=True)
        for i in range(images):
            Image.new("RGB", (32, 32), (i * 40, 90, 90)).save(folder / "training_data" / f"img_{i}.png")
        if poster is not None:
            colour, suffix = poster
            # Portrait-shaped, so the loader's crop-to-square path is exercised too.
            Image.new("RGB", (120, 160), colour).save(folder / f"poster{suffix}", quality=95)
    (root / "actors.json").write_text(json.dumps(records), encoding="utf-8")
    return root


class GatedLoader(ThumbnailLoader):
    """A real loader that records the threads it decodes on and can hold decoding until released."""

    def __init__(self) -> None:
        super().__init__(size=180, max_workers=2)
        self.gate = threading.Event()
        self.gate.set()
        self.decode_threads: list[str] = []

    def _decode(self, key: str) -> QImage:
        self.decode_threads.append(threading.current_thread().name)
        self.gate.wait(10)
        return super()._decode(key)


@pytest.fixture
def summaries(tmp_path: Path) -> list[ActorSummary]:
    return Library(write_library(tmp_path / "library")).summaries()


@pytest.fixture
def loader(qloop: Any) -> Iterator[GatedLoader]:
    loader = GatedLoader()
    yield loader
    loader.gate.set()
    loader.shutdown(wait=True)


@pytest.fixture
def open_dialog(qtbot: QtBot, summaries: list[ActorSummary], loader: GatedLoader) -> Callable[..., ActorSelectorDialog]:
    def make(current_actor_id: int | None = None, model: ActorListModel | None = None) -> ActorSelectorDialog:
        dialog = ActorSelectorDialog(
            model or ActorListModel(summaries), loader, current_actor_id=current_actor_id, search_delay_ms=10
        )
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
        dialog.activateWindow()
        return dialog

    return make


def child(dialog: ActorSelectorDialog, kind: type[QWidget], name: str) -> Any:
    widget = dialog.findChild(kind, name)
    assert widget is not None, name
    return widget


def shown_ids(dialog: ActorSelectorDialog) -> list[int]:
    proxy = dialog.proxy()
    return [proxy.index(row, 0).data(ActorRoles.IdRole) for row in range(proxy.rowCount())]


def search(qtbot: QtBot, dialog: ActorSelectorDialog, text: str) -> None:
    box = dialog.search_box()
    box.clear()
    with qtbot.waitSignal(dialog.filtersApplied, timeout=QT_WAIT_MS):
        qtbot.keyClicks(box, text)
    qtbot.waitUntil(lambda: dialog.proxy().search_text() == text, timeout=QT_WAIT_MS)


def poster_rect(dialog: ActorSelectorDialog, actor_id: int) -> QRect:
    row = dialog.proxy().proxy_row_of(actor_id)
    assert row is not None
    rect = dialog.view().visualRect(dialog.proxy().index(row, 0))
    return dialog.view().itemDelegate().poster_rect(rect)  # type: ignore[attr-defined]


def grid_image(dialog: ActorSelectorDialog) -> QImage:
    return dialog.view().viewport().grab().toImage()


def close_to(colour: QColor, rgb: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip((colour.red(), colour.green(), colour.blue()), rgb, strict=True))


def count_colour(image: QImage, rect: QRect, colour: QColor, tolerance: int = 10) -> int:
    target = (colour.red(), colour.green(), colour.blue())
    return sum(
        close_to(image.pixelColor(x, y), target, tolerance)
        for x in range(rect.left(), rect.right() + 1)
        for y in range(rect.top(), rect.bottom() + 1)
    )


# --- search ----------------------------------------------------------------------------------------


def test_search_by_name_id_and_description_updates_the_count(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]
) -> None:
    dialog = open_dialog()
    assert dialog.count_text() == "6 of 6 actors"
    assert shown_ids(dialog) == [0, 1, 2, 3, 13, 30]  # id order

    search(qtbot, dialog, "SMI")  # name fragment, any case
    assert shown_ids(dialog) == [0]
    assert dialog.count_text() == "1 of 6 actors"

    search(qtbot, dialog, "0003")  # the folder spelling of the id
    assert shown_ids(dialog) == [3]

    search(qtbot, dialog, "3")  # the plain id, also inside 13 and 30
    assert shown_ids(dialog) == [3, 13, 30]
    assert dialog.count_text() == "3 of 6 actors"

    search(qtbot, dialog, "violinist")  # a description word
    assert shown_ids(dialog) == [2]

    search(qtbot, dialog, "flour chef")  # every term must match, in any order
    assert shown_ids(dialog) == [3]

    search(qtbot, dialog, "nobody-like-this")
    assert shown_ids(dialog) == []
    assert dialog.count_text() == "0 of 6 actors"

    search(qtbot, dialog, "")
    assert dialog.count_text() == "6 of 6 actors"


def test_each_filter_narrows_the_grid(qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]) -> None:
    dialog = open_dialog()
    sex = child(dialog, QComboBox, "sexFilter")
    ethnicity = child(dialog, QComboBox, "ethnicityFilter")
    age_min = child(dialog, QSpinBox, "ageMin")
    age_max = child(dialog, QSpinBox, "ageMax")
    has_images = child(dialog, QCheckBox, "hasTrainingDataFilter")
    validated = child(dialog, QCheckBox, "validatedFilter")
    synced = child(dialog, QCheckBox, "syncedFilter")
    # Choices come from the data; "Female" and "female" are one choice (first spelling shown).
    assert [sex.itemText(i) for i in range(sex.count())] == ["Any sex", "female", "male"]
    assert [ethnicity.itemData(i) for i in range(1, ethnicity.count())] == [
        "african", "east_asian", "european", "latino", "middle_eastern",
    ]  # fmt: skip

    sex.setCurrentIndex(sex.findText("female"))
    assert shown_ids(dialog) == [0, 3, 13]
    ethnicity.setCurrentIndex(ethnicity.findData("european"))
    assert shown_ids(dialog) == [0, 13]
    assert dialog.count_text() == "2 of 6 actors"
    dialog.clear_filters()
    assert dialog.count_text() == "6 of 6 actors"

    age_min.setValue(40)  # actors without an age drop out once a bound is set
    assert shown_ids(dialog) == [1, 3, 30]
    age_max.setValue(60)
    assert shown_ids(dialog) == [1, 3]
    dialog.clear_filters()

    has_images.setChecked(True)
    assert shown_ids(dialog) == [0, 2, 3, 13, 30]
    validated.setChecked(True)
    assert shown_ids(dialog) == [0]
    dialog.clear_filters()

    synced.setChecked(True)
    assert shown_ids(dialog) == []
    # The model is live: a sync result arriving while the filter is on shows the actor.
    model: ActorListModel = dialog.proxy().sourceModel()
    model.set_sync_state(3, "synced")
    qtbot.waitUntil(lambda: shown_ids(dialog) == [3], timeout=QT_WAIT_MS)
    qtbot.waitUntil(lambda: dialog.count_text() == "1 of 6 actors", timeout=QT_WAIT_MS)
    model.set_sync_state(3, "not_synced")
    qtbot.waitUntil(lambda: shown_ids(dialog) == [], timeout=QT_WAIT_MS)
    model.set_sync_states({0: "synced", 3: "synced", 30: "not_synced", 999: "synced"})  # 999: not loaded yet
    qtbot.waitUntil(lambda: shown_ids(dialog) == [0, 3], timeout=QT_WAIT_MS)


# --- keys ----------------------------------------------------------------------------------------


def test_enter_chooses_the_selected_actor_and_accepts(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]
) -> None:
    dialog = open_dialog(current_actor_id=2)
    qtbot.waitUntil(lambda: dialog.search_box().hasFocus(), timeout=QT_WAIT_MS)  # search box focused on open
    assert dialog.view().currentIndex().data(ActorRoles.IdRole) == 2

    search(qtbot, dialog, "dana")
    assert dialog.view().currentIndex().data(ActorRoles.IdRole) == 3  # first match selected
    with qtbot.waitSignal(dialog.actorChosen, timeout=QT_WAIT_MS) as chosen:
        qtbot.keyClick(dialog.search_box(), Qt.Key.Key_Return)
    assert chosen.args == [3]
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.chosen_actor_id() == 3
    assert not dialog.isVisible()


def test_arrows_move_and_enter_in_the_grid_chooses(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]
) -> None:
    dialog = open_dialog()
    view = dialog.view()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=QT_WAIT_MS)
    assert view.currentIndex().data(ActorRoles.IdRole) == 0
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.currentIndex().data(ActorRoles.IdRole) == 2
    qtbot.keyClick(view, Qt.Key.Key_Left)
    with qtbot.waitSignal(dialog.actorChosen, timeout=QT_WAIT_MS) as chosen:
        qtbot.keyClick(view, Qt.Key.Key_Enter)
    assert chosen.args == [1]
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_typing_in_the_grid_goes_to_the_search_box_and_ctrl_f_returns_there(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]
) -> None:
    dialog = open_dialog()
    view = dialog.view()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=QT_WAIT_MS)
    qtbot.keyClicks(view, "bru")
    assert dialog.search_box().text() == "bru"
    assert dialog.search_box().hasFocus()
    qtbot.waitUntil(lambda: shown_ids(dialog) == [1], timeout=QT_WAIT_MS)

    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=QT_WAIT_MS)
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(dialog.search_box().hasFocus, timeout=QT_WAIT_MS)
    assert dialog.search_box().selectedText() == "bru"  # ready to type over


def test_down_in_the_search_box_moves_the_grid_selection(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]
) -> None:
    dialog = open_dialog()
    qtbot.waitUntil(dialog.search_box().hasFocus, timeout=QT_WAIT_MS)
    search(qtbot, dialog, "a")  # several matches
    first = dialog.view().currentIndex().row()
    qtbot.keyClick(dialog.search_box(), Qt.Key.Key_PageDown)
    assert dialog.view().currentIndex().row() > first
    assert dialog.search_box().hasFocus()


def test_escape_cancels_without_choosing(qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]) -> None:
    dialog = open_dialog(current_actor_id=3)
    with qtbot.assertNotEmitted(dialog.actorChosen):
        qtbot.keyClick(dialog.search_box(), Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert dialog.chosen_actor_id() is None
    assert not dialog.isVisible()


def test_double_click_chooses(qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]) -> None:
    dialog = open_dialog()
    view = dialog.view()
    row = dialog.proxy().proxy_row_of(13)
    assert row is not None
    center = view.visualRect(dialog.proxy().index(row, 0)).center()
    with qtbot.waitSignal(dialog.actorChosen, timeout=QT_WAIT_MS) as chosen:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert chosen.args == [13]


def test_search_keeps_the_users_selection_when_it_comes_back(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]
) -> None:
    dialog = open_dialog(current_actor_id=30)
    search(qtbot, dialog, "anna")
    assert dialog.view().currentIndex().data(ActorRoles.IdRole) == 0
    search(qtbot, dialog, "")
    assert dialog.view().currentIndex().data(ActorRoles.IdRole) == 30


# --- posters and badges ----------------------------------------------------------------------------


def test_posters_load_off_the_gui_thread_and_replace_the_placeholder(
    qtbot: QtBot,
    open_dialog: Callable[..., ActorSelectorDialog],
    loader: GatedLoader,
    summaries: list[ActorSummary],
) -> None:
    loader.gate.clear()  # hold every decode: the grid must show placeholders meanwhile
    dialog = open_dialog()
    poster = poster_rect(dialog, 0)
    probe = (poster.left() + 20, poster.center().y())  # clear of the badges and the initials
    qtbot.waitUntil(lambda: len(loader.decode_threads) > 0, timeout=QT_WAIT_MS)
    assert close_to(grid_image(dialog).pixelColor(*probe), placeholder_color(0).getRgb()[:3], 10)

    summaries_with_posters = [s for s in summaries if s.poster is not None]
    loader.gate.set()
    for summary in summaries_with_posters:
        qtbot.waitUntil(lambda s=summary: loader.is_cached(s.poster), timeout=QT_WAIT_MS)
    assert loader.cached_count() == 5
    assert loader.decode_threads and all(name.startswith("thumbnail") for name in loader.decode_threads)
    assert threading.main_thread().name not in loader.decode_threads

    image = grid_image(dialog)
    assert close_to(image.pixelColor(*probe), RED)  # Anna's PNG poster
    jpeg = poster_rect(dialog, 30)
    assert close_to(image.pixelColor(jpeg.left() + 20, jpeg.center().y()), RED)  # Farid's JPEG
    blue = poster_rect(dialog, 3)
    assert close_to(image.pixelColor(blue.left() + 20, blue.center().y()), BLUE)
    # No poster file: the placeholder stays, in the actor's own colour.
    missing = poster_rect(dialog, 2)
    assert close_to(image.pixelColor(missing.left() + 20, missing.center().y()), placeholder_color(2).getRgb()[:3], 10)


def test_sync_and_training_updates_reach_the_visible_badges(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog]
) -> None:
    dialog = open_dialog()
    model: ActorListModel = dialog.proxy().sourceModel()
    poster = poster_rect(dialog, 1)
    bottom_left = QRect(poster.left(), poster.bottom() - 28, poster.width() // 2, 28)
    bottom_right = QRect(poster.center().x(), poster.bottom() - 28, poster.width() // 2, 28)
    index = dialog.proxy().index(dialog.proxy().proxy_row_of(1), 0)
    assert index.data(ActorRoles.SyncStateRole) is None
    assert count_colour(grid_image(dialog), bottom_left, GOOD_COLOR) == 0

    with qtbot.waitSignal(model.dataChanged, timeout=QT_WAIT_MS):
        model.set_sync_state(1, "synced")
    assert index.data(ActorRoles.SyncStateRole) == "synced"
    assert count_colour(grid_image(dialog), bottom_left, GOOD_COLOR) > 100  # "synced ✓" in green

    model.set_sync_state(1, "not_synced")
    assert count_colour(grid_image(dialog), bottom_left, WARNING_COLOR) > 100  # "not synced" in amber

    assert count_colour(grid_image(dialog), bottom_right, INFO_COLOR) == 0
    with qtbot.waitSignal(model.dataChanged, timeout=QT_WAIT_MS):
        model.set_training(1, True)
    assert index.data(ActorRoles.TrainingRole) is True
    assert count_colour(grid_image(dialog), bottom_right, INFO_COLOR) > 100  # "training" in blue
    model.set_training(1, False)
    assert index.data(ActorRoles.TrainingRole) is False

    with pytest.raises(ValueError):
        model.set_sync_state(1, "maybe")


def test_no_images_badge_and_accessible_text_say_it_in_words(
    open_dialog: Callable[..., ActorSelectorDialog],
) -> None:
    dialog = open_dialog()
    index = dialog.proxy().index(dialog.proxy().proxy_row_of(1), 0)
    assert index.data(ActorRoles.ImageCountRole) == 0
    assert "no training images" in index.data(Qt.ItemDataRole.AccessibleTextRole)
    poster = poster_rect(dialog, 1)
    top_right = QRect(poster.center().x(), poster.top(), poster.width() // 2, 28)
    assert count_colour(grid_image(dialog), top_right, WARNING_COLOR) > 100


# --- model updates -------------------------------------------------------------------------------


def test_model_updates_insert_in_id_order_and_refresh_choices(
    qtbot: QtBot, open_dialog: Callable[..., ActorSelectorDialog], summaries: list[ActorSummary]
) -> None:
    dialog = open_dialog()
    model: ActorListModel = dialog.proxy().sourceModel()
    new = ActorSummary(
        actor=Actor(id=7, name="Gil Tan", sex="male", ethnicity="pacific_islander", age=30),
        image_count=2, caption_count=0, unsupported_count=0, poster=None,
    )  # fmt: skip
    model.update_summary(new)
    qtbot.waitUntil(lambda: dialog.count_text() == "7 of 7 actors", timeout=QT_WAIT_MS)
    assert shown_ids(dialog) == [0, 1, 2, 3, 7, 13, 30]
    ethnicity = child(dialog, QComboBox, "ethnicityFilter")
    qtbot.waitUntil(lambda: ethnicity.findData("pacific_islander") > 0, timeout=QT_WAIT_MS)

    renamed = ActorSummary(
        actor=Actor(id=7, name="Gil Tanaka", sex="male", ethnicity="pacific_islander", age=30),
        image_count=2, caption_count=0, unsupported_count=0, poster=None,
    )  # fmt: skip
    model.update_summary(renamed)
    search(qtbot, dialog, "tanaka")
    assert shown_ids(dialog) == [7]

    model.set_summaries(summaries[:2])
    qtbot.waitUntil(lambda: dialog.count_text() == "0 of 2 actors", timeout=QT_WAIT_MS)
    search(qtbot, dialog, "")
    assert shown_ids(dialog) == [0, 1]


def test_initials_for_placeholders() -> None:
    assert initials_for("Anna Smith") == "AS"
    assert initials_for("0000_european_16_male") == "EM"
    assert initials_for("Jean-Luc de la Croix") == "JC"
    assert initials_for("1234") == "1"


# --- scale ---------------------------------------------------------------------------------------


def test_ten_thousand_actors_build_show_and_filter(
    qtbot: QtBot, qloop: Any, loader: GatedLoader, tmp_path: Path
) -> None:
    poster = tmp_path / "poster.png"
    Image.new("RGB", (90, 120), RED).save(poster)
    sexes = ("male", "female")
    summaries = [
        ActorSummary(
            actor=Actor(id=i, name=f"Extra {i}", sex=sexes[i % 2], ethnicity="european", age=18 + i % 60),
            image_count=i % 3,
            caption_count=0,
            unsupported_count=0,
            poster=poster,
        )
        for i in range(10_000)
    ]
    model = ActorListModel(summaries)
    dialog = ActorSelectorDialog(model, loader, current_actor_id=9_000, search_delay_ms=10)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
    total = QLocale().toString(10_000)
    assert dialog.count_text() == f"{total} of {total} actors"
    view = dialog.view()
    assert view.currentIndex().data(ActorRoles.IdRole) == 9_000
    # The current actor is brought to the middle of the grid on open, far down the list.
    qtbot.waitUntil(
        lambda: abs(view.visualRect(view.currentIndex()).center().y() - view.viewport().rect().center().y()) < 20,
        timeout=QT_WAIT_MS,
    )

    # Live updates never pull the grid back to the selection while the user looks elsewhere.
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 4)
    with qtbot.waitSignal(dialog.filtersApplied, timeout=QT_WAIT_MS):
        model.set_sync_state(100, "synced")
    assert bar.value() == bar.maximum() // 4

    for text in ("0", "00", "001", "0012", ""):
        search(qtbot, dialog, text)
        expected = [i for i in range(10_000) if all(t in f"extra {i}\n{i:04d} {i}" for t in text.split())]
        assert shown_ids(dialog) == expected
    sex = child(dialog, QComboBox, "sexFilter")
    sex.setCurrentIndex(sex.findData("female"))
    child(dialog, QCheckBox, "hasTrainingDataFilter").setChecked(True)
    assert dialog.proxy().rowCount() == sum(1 for i in range(10_000) if i % 2 == 1 and i % 3 != 0)
    QApplication.processEvents()
    qtbot.waitUntil(lambda: loader.is_cached(poster), timeout=QT_WAIT_MS)
