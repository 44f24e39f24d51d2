"""The selector's filter model (a list of the accepted rows, reset per change) and multi-select:
the same rows as a brute-force filter over any sequence of searches, and a selection that
survives searching, live source changes and "Select all shown" over 10,000 actors."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from actor_trainer.core.library import ActorSummary
from actor_trainer.core.models import Actor
from actor_trainer.gui.selector.actor_filter_proxy import ActorFilter, ActorFilterProxy, accepted_rows, narrows
from actor_trainer.gui.selector.actor_list_model import ActorListModel, ActorRoles
from actor_trainer.gui.selector.actor_selector import ActorSelectorDialog
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader
from tests.waits import QT_WAIT_MS

SEXES = ("male", "female", None)
ETHNICITIES = ("european", "latino", "East_Asian")


def make_summaries(count: int, seed: int = 7) -> list[ActorSummary]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        actor = Actor(
            id=i,
            name=f"{rng.choice(['Anna', 'Bruno', 'Chen', 'Dana'])} {i}",
            sex=rng.choice(SEXES),
            ethnicity=rng.choice(ETHNICITIES),
            age=rng.choice([None, rng.randint(16, 80)]),
            description=rng.choice([None, "a chef", "a boxer with a broken nose"]),
        )
        out.append(ActorSummary(actor, rng.randint(0, 2), 0, 0, None))
    return out


def brute_force(model: ActorListModel, f: ActorFilter) -> list[int]:
    f = f.normalized()
    rows = []
    for row in range(model.rowCount()):
        summary = model.summary_at(row)
        actor = summary.actor
        text = model.search_texts[row]
        if not all(t in text for t in f.terms()):
            continue
        if f.sex is not None and (actor.sex or "").casefold() != f.sex:
            continue
        if f.ethnicity is not None and (actor.ethnicity or "").casefold() != f.ethnicity:
            continue
        if f.age_min is not None and (actor.age is None or actor.age < f.age_min):
            continue
        if f.age_max is not None and (actor.age is None or actor.age > f.age_max):
            continue
        if f.has_training_data and summary.image_count <= 0:
            continue
        if f.synced and model.sync_state(actor.id) != "synced":
            continue
        rows.append(row)
    return rows


def test_filter_model_matches_a_brute_force_filter_over_typing_sequences(qapp: Any) -> None:
    model = ActorListModel(make_summaries(600))
    model.set_sync_states({i: "synced" for i in range(0, 600, 4)})
    proxy = ActorFilterProxy()
    proxy.setSourceModel(model)
    rng = random.Random(3)
    words = ["a", "an", "ann", "anna", "1", "12", "chef", "bro", "broken nose", "nose bro", "0", "00", ""]
    for _ in range(300):
        f = ActorFilter(
            search=rng.choice(words),
            sex=rng.choice([None, "Male", "female"]),
            ethnicity=rng.choice([None, "east_asian"]),
            age_min=rng.choice([None, 30]),
            age_max=rng.choice([None, 60]),
            has_training_data=rng.random() < 0.3,
            synced=rng.random() < 0.2,
        )
        proxy.set_filter(f)
        expected = brute_force(model, f)
        assert proxy.source_rows() == expected, f
        assert proxy.rowCount() == len(expected)
        assert [proxy.actor_id_at(r) for r in range(proxy.rowCount())] == [model.ids[r] for r in expected]
        if expected:
            middle = len(expected) // 2
            actor_id = model.ids[expected[middle]]
            assert proxy.proxy_row_of(actor_id) == middle
            assert proxy.index(middle).data(ActorRoles.IdRole) == actor_id
            assert proxy.index(middle).data(Qt.ItemDataRole.DisplayRole) == model.names[expected[middle]]
            assert proxy.mapToSource(proxy.index(middle)).row() == expected[middle]


def test_narrowing_rule() -> None:
    assert narrows(ActorFilter(search="anna"), ActorFilter(search="ann"))
    assert narrows(ActorFilter(search="nose bro"), ActorFilter(search="bro"))
    assert narrows(ActorFilter(search="a"), ActorFilter(search=""))
    assert not narrows(ActorFilter(search="an"), ActorFilter(search="anna"))
    assert not narrows(ActorFilter(search="anna", sex="male"), ActorFilter(search="ann"))
    assert not narrows(ActorFilter(search="x"), ActorFilter(search="ann"))
    # Narrowed evaluation gives what a full one gives.
    model = ActorListModel(make_summaries(300))
    old = ActorFilter(search="an")
    new = ActorFilter(search="anna 1")
    assert accepted_rows(model, new, accepted_rows(model, old)) == accepted_rows(model, new)


def test_source_changes_are_followed_at_once(qapp: Any) -> None:
    summaries = make_summaries(50)
    model = ActorListModel(summaries)
    proxy = ActorFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_filter(ActorFilter(synced=True))
    assert proxy.rowCount() == 0
    model.set_sync_state(10, "synced")  # a whole-row change that changes what is shown
    assert [proxy.actor_id_at(r) for r in range(proxy.rowCount())] == [10]
    renamed = ActorSummary(summaries[10].actor.model_copy(update={"name": "Zed"}), 1, 0, 0, None)
    changed: list[tuple[int, int]] = []
    proxy.dataChanged.connect(lambda top, bottom, _roles: changed.append((top.row(), bottom.row())))
    model.update_summary(renamed)  # shown row, still accepted: forwarded, name follows
    assert (0, 0) in changed and proxy.index(0).data(Qt.ItemDataRole.DisplayRole) == "Zed"
    model.update_summary(ActorSummary(Actor(id=5000, name="New"), 0, 0, 0, None))
    model.set_sync_state(5000, "synced")
    assert [proxy.actor_id_at(r) for r in range(proxy.rowCount())] == [10, 5000]
    model.remove_actor(10)
    assert [proxy.actor_id_at(r) for r in range(proxy.rowCount())] == [5000]
    model.set_summaries(summaries[:3])
    assert proxy.rowCount() == 0


@pytest.fixture
def loader(qloop: Any) -> Iterator[ThumbnailLoader]:
    loader = ThumbnailLoader(size=180, max_workers=1)
    yield loader
    loader.shutdown(wait=True)


def open_multi(qtbot: QtBot, loader: ThumbnailLoader, model: ActorListModel) -> ActorSelectorDialog:
    dialog = ActorSelectorDialog(model, loader, search_delay_ms=0, multi_select=True)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
    return dialog


def search(qtbot: QtBot, dialog: ActorSelectorDialog, text: str) -> None:
    with qtbot.waitSignal(dialog.filtersApplied, timeout=QT_WAIT_MS):
        dialog.search_box().setText(text)
    assert dialog.proxy().search_text() == text


def test_select_all_shown_survives_searching_over_ten_thousand_actors(qtbot: QtBot, loader: ThumbnailLoader) -> None:
    model = ActorListModel([ActorSummary(Actor(id=i, name=f"Extra {i}"), 1, 0, 0, None) for i in range(10_000)])
    dialog = open_multi(qtbot, loader, model)
    button = dialog.findChild(QPushButton, "selectAllShown")
    assert button is not None and button.isVisible()

    search(qtbot, dialog, "12")  # ids containing "12" in the name, the id or its 4-digit form
    shown = [dialog.proxy().actor_id_at(r) for r in range(dialog.proxy().rowCount())]
    assert len(shown) > 100
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert dialog.selected_actor_ids() == shown
    assert dialog.count_text().endswith(f"{len(shown)} selected")
    # One range, however many actors.
    assert len(dialog.view().selectionModel().selection()) == 1

    search(qtbot, dialog, "123")  # narrower: the selection is what is still shown
    narrower = [dialog.proxy().actor_id_at(r) for r in range(dialog.proxy().rowCount())]
    assert dialog.selected_actor_ids() == narrower
    search(qtbot, dialog, "")  # wider: the hidden ones were dropped, the kept ones stay
    assert dialog.selected_actor_ids() == narrower
    assert dialog.proxy().rowCount() == 10_000

    # Ctrl+click adds one more; a live change elsewhere keeps everything.
    row = dialog.proxy().proxy_row_of(42)
    assert row is not None
    dialog.view().selectionModel().select(dialog.proxy().index(row), QItemSelectionModel.SelectionFlag.Select)
    model.update_summary(ActorSummary(Actor(id=9999, name="Renamed"), 0, 0, 0, None))
    model.remove_actor(7)
    assert dialog.selected_actor_ids() == sorted([42, *narrower])

    chosen: list[list[int]] = []
    dialog.actorsChosen.connect(chosen.append)
    with qtbot.waitSignal(dialog.actorChosen, timeout=QT_WAIT_MS):
        qtbot.keyClick(dialog.view(), Qt.Key.Key_Return)
    assert chosen == [sorted([42, *narrower])]


def test_single_choice_dialog_has_no_multi_select(qtbot: QtBot, loader: ThumbnailLoader) -> None:
    model = ActorListModel(make_summaries(20))
    dialog = ActorSelectorDialog(model, loader, current_actor_id=5, search_delay_ms=0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
    button = dialog.findChild(QPushButton, "selectAllShown")
    assert button is not None and not button.isVisible()
    dialog.select_all_shown()
    assert dialog.selected_actor_ids() == [5]
    # A live update that resets the filter model keeps the current actor.
    model.update_summary(ActorSummary(Actor(id=100, name="New"), 0, 0, 0, None))
    assert dialog.view().currentIndex().data(ActorRoles.IdRole) == 5


def test_drawn_cards_are_reused_and_bounded(qtbot: QtBot, loader: ThumbnailLoader) -> None:
    from actor_trainer.gui.selector.poster_delegate import CARD_CACHE_BYTES

    model = ActorListModel([ActorSummary(Actor(id=i, name=f"Extra {i}"), 1, 0, 0, None) for i in range(2_000)])
    dialog = open_multi(qtbot, loader, model)
    view = dialog.view()
    delegate = view.itemDelegate()
    qtbot.waitUntil(lambda: len(delegate._cards) > 0, timeout=QT_WAIT_MS)  # type: ignore[attr-defined]
    view.viewport().repaint()
    drawn = len(delegate._cards)  # type: ignore[attr-defined]
    view.viewport().repaint()  # the same cards: copied, not drawn again
    assert len(delegate._cards) == drawn  # type: ignore[attr-defined]
    model.set_training(0, True)  # a changed card is drawn anew (its look is part of the key)
    view.viewport().repaint()
    assert len(delegate._cards) == drawn + 1  # type: ignore[attr-defined]
    bar = view.verticalScrollBar()
    for value in range(0, bar.maximum(), max(1, bar.pageStep())):
        bar.setValue(value)
        view.viewport().repaint()
    cards = list(delegate._cards.values())  # type: ignore[attr-defined]
    assert sum(c.width() * c.height() * 4 for c in cards) <= CARD_CACHE_BYTES
    assert len(cards) < 2_000 and delegate._card_bytes == sum(c.width() * c.height() * 4 for c in cards)  # type: ignore[attr-defined]
