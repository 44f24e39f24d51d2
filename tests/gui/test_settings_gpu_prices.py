"""Settings → GPU prices (issue 13): RunPod's defaults per GPU class, the user's price typed per hour
and shown per second, dated today when edited, reset to the defaults; saved through the settings
file, and the estimate under Start Training follows a saved price at once."""

from __future__ import annotations

import re
from datetime import date

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

from actor_trainer.core.settings import GPU_CLASSES, GPU_PRICES_AS_OF, Settings
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.settings.gpu_prices_table import GpuPricesTable, PriceBox
from actor_trainer.gui.settings.settings_dialog import SettingsDialog
from actor_trainer.gui.training.training_tab import ActorTrainingTab
from tests.waits import QT_WAIT_MS

TODAY = date(2027, 1, 5)


def type_price(qtbot: QtBot, box: PriceBox, text: str) -> None:
    """What a user does: focus the field, select what is there, type, press Enter."""
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


@pytest.fixture
def table(qtbot: QtBot) -> GpuPricesTable:
    widget = GpuPricesTable({}, None, endpoint_class="AMPERE_24", today=lambda: TODAY)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget, timeout=QT_WAIT_MS)
    return widget


def test_the_table_shows_every_class_with_runpods_default_per_hour_and_per_second(table: GpuPricesTable) -> None:
    assert list(table.boxes) == list(GPU_CLASSES)
    assert table.boxes["AMPERE_24"].value() == pytest.approx(0.684)  # $0.00019/s × 3600
    assert table.boxes["AMPERE_24"].text() == "$0.684 /h"
    assert table.per_second["AMPERE_24"].text() == "$0.00019/s"
    assert table.as_of_label.text() == f"RunPod's default prices, as of {GPU_PRICES_AS_OF}"
    assert GPU_PRICES_AS_OF in table.source_note.text() and "RunPod" in table.source_note.text()
    assert not table.reset_button.isEnabled()  # nothing to reset
    assert table.prices() == {} and table.as_of() is None
    marked = [b.text() for b in table.findChildren(type(table.as_of_label)) if "used by the estimate" in b.text()]
    assert marked == [GPU_CLASSES["AMPERE_24"].label + " — used by the estimate"]


def test_typing_a_price_keeps_it_per_second_dates_it_today_and_reset_brings_the_defaults_back(
    table: GpuPricesTable, qtbot: QtBot
) -> None:
    edits: list[None] = []
    table.pricesEdited.connect(lambda: edits.append(None))
    type_price(qtbot, table.boxes["AMPERE_80"], "3.6")
    assert table.prices() == {"AMPERE_80": pytest.approx(0.001)}  # stored per second: $3.60/h ÷ 3600
    assert table.as_of() == "2027-01-05"
    assert table.per_second["AMPERE_80"].text() == "$0.00100/s"
    assert table.as_of_label.text() == "Your prices, as of 2027-01-05: 1 of 8 changed from RunPod's defaults (in bold)"
    assert table.boxes["AMPERE_80"].font().bold() and not table.boxes["AMPERE_24"].font().bold()
    assert table.reset_button.isEnabled() and len(edits) == 1

    type_price(qtbot, table.boxes["AMPERE_16"], "-2")  # no negative price: the field refuses the input
    assert table.boxes["AMPERE_16"].value() == pytest.approx(0.576) and set(table.prices()) == {"AMPERE_80"}
    type_price(qtbot, table.boxes["AMPERE_16"], "2")
    assert table.prices()["AMPERE_16"] == pytest.approx(2 / 3600)
    type_price(qtbot, table.boxes["AMPERE_16"], "0.576")  # RunPod's default typed again: not an override
    assert set(table.prices()) == {"AMPERE_80"}

    qtbot.mouseClick(table.reset_button, Qt.MouseButton.LeftButton)
    assert table.prices() == {} and table.as_of() is None
    assert table.boxes["AMPERE_80"].value() == pytest.approx(2.736) and not table.boxes["AMPERE_80"].font().bold()
    assert table.as_of_label.text() == f"RunPod's default prices, as of {GPU_PRICES_AS_OF}"


def test_saved_prices_are_shown_to_the_digit_and_kept_when_untouched(qtbot: QtBot) -> None:
    table = GpuPricesTable({"ADA_24": 0.0001234, "NOT_A_GPU": 1.0}, "2026-11-30", today=lambda: TODAY)
    qtbot.addWidget(table)
    assert table.per_second["ADA_24"].text() == "$0.0001234/s"
    assert table.boxes["ADA_24"].text() == "$0.444 /h"
    assert table.prices() == {"ADA_24": 0.0001234}  # not rounded to what the field shows; unknown classes dropped
    assert table.as_of() == "2026-11-30"
    assert "as of 2026-11-30" in table.as_of_label.text()


def test_the_wheel_edits_a_price_only_once_the_field_has_focus(table: GpuPricesTable, qtbot: QtBot) -> None:
    box = table.boxes["AMPERE_48"]
    other = table.boxes["AMPERE_16"]
    other.setFocus()
    qtbot.waitUntil(other.hasFocus, timeout=QT_WAIT_MS)

    def wheel() -> None:
        centre = QPointF(box.rect().center())
        event = QWheelEvent(
            centre,
            QPointF(box.mapToGlobal(box.rect().center())),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(box, event)

    wheel()  # scrolling past the table
    assert table.prices() == {} and box.value() == pytest.approx(1.224)
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=QT_WAIT_MS)
    wheel()
    assert table.prices() == {"AMPERE_48": pytest.approx((1.224 + 0.01) / 3600)}


def test_tab_walks_the_prices_in_order_then_reaches_reset(table: GpuPricesTable, qtbot: QtBot) -> None:
    table.activateWindow()
    keys = list(GPU_CLASSES)
    table.boxes[keys[0]].setFocus()
    qtbot.waitUntil(table.boxes[keys[0]].hasFocus, timeout=QT_WAIT_MS)
    for key in keys[1:]:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        assert table.boxes[key].hasFocus(), key
    type_price(qtbot, table.boxes[keys[-1]], "9")  # something to reset: the button takes focus
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert table.reset_button.hasFocus()
    qtbot.keyClick(table.reset_button, Qt.Key.Key_Space)
    assert table.prices() == {}


def dollars(text: str) -> float:
    found = re.search(r"\$(\d+\.\d\d)", text)
    assert found, text
    return float(found.group(1))


def test_a_saved_price_goes_to_the_settings_file_and_the_estimate_under_start(
    gui_ctx: AppContext, qtbot: QtBot
) -> None:
    tab = ActorTrainingTab(gui_ctx)
    qtbot.addWidget(tab)
    tab.show()
    gui_ctx.select_actor(0)
    label = tab.start.estimate_label
    gpu = GPU_CLASSES[gui_ctx.config.gpu_class]
    default_rate = f"at ${gpu.usd_per_second:.5f}/s (prices as of {GPU_PRICES_AS_OF}; sandbox: nothing is billed)"
    qtbot.waitUntil(lambda: label.isVisible() and default_rate in label.toolTip(), timeout=QT_WAIT_MS)
    before = dollars(label.text())

    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    dialog.gpu_prices.today = lambda: TODAY
    dialog.show()
    qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
    per_hour = gpu.usd_per_second * 3600 * 5  # five times RunPod's default
    type_price(qtbot, dialog.gpu_prices.boxes[gpu.key], f"{per_hour:.3f}")
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    with qtbot.waitSignal(dialog.saved, timeout=QT_WAIT_MS):
        qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton)

    saved = Settings.load()
    assert saved.gpu_prices == {gpu.key: pytest.approx(gpu.usd_per_second * 5)}
    assert saved.gpu_prices_as_of == "2027-01-05"
    assert gui_ctx.config.gpu_prices == saved.gpu_prices and gui_ctx.services.config.gpu_prices_as_of == "2027-01-05"
    new_rate = f"at ${gpu.usd_per_second * 5:.5f}/s (prices as of 2027-01-05; sandbox: nothing is billed)"
    qtbot.waitUntil(lambda: new_rate in label.toolTip(), timeout=QT_WAIT_MS)  # no restart needed
    after = dollars(label.text())
    assert after == pytest.approx(before * 5, abs=0.05), (before, after)


def test_the_endpoints_gpu_class_and_worker_contract_are_chosen_in_settings(gui_ctx: AppContext, qtbot: QtBot) -> None:
    """The GPU class the estimate uses is chosen above the table (saved, applied at once, the
    "used by the estimate" mark follows it); the worker contract is chosen under RunPod (saved)."""
    tab = ActorTrainingTab(gui_ctx)
    qtbot.addWidget(tab)
    tab.show()
    gui_ctx.select_actor(0)
    label = tab.start.estimate_label
    before = GPU_CLASSES[gui_ctx.config.gpu_class]
    qtbot.waitUntil(lambda: f"at ${before.usd_per_second:.5f}/s" in label.toolTip(), timeout=QT_WAIT_MS)
    other = next(g for g in GPU_CLASSES.values() if round(g.usd_per_second, 5) != round(before.usd_per_second, 5))

    dialog = SettingsDialog(gui_ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog, timeout=QT_WAIT_MS)
    choice = dialog.gpu_prices.gpu_choice
    assert choice.isEnabled() and choice.currentData() == before.key
    choice.setCurrentIndex(choice.findData(other.key))
    assert dialog.gpu_prices.names[other.key].text().endswith("used by the estimate")
    assert not dialog.gpu_prices.names[before.key].text().endswith("used by the estimate")
    assert dialog.contract.currentData() == "auto"
    dialog.contract.setCurrentIndex(dialog.contract.findData("2"))
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    with qtbot.waitSignal(dialog.saved, timeout=QT_WAIT_MS):
        qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton)

    saved = Settings.load()
    assert (saved.gpu_class, saved.worker_contract) == (other.key, "2")
    assert gui_ctx.config.gpu_class == other.key  # no restart needed for the estimate
    qtbot.waitUntil(lambda: f"at ${other.usd_per_second:.5f}/s" in label.toolTip(), timeout=QT_WAIT_MS)


def test_a_gpu_class_set_in_the_environment_locks_the_choice(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTOR_TRAINER_GPU_CLASS", "ADA_24")
    table = GpuPricesTable({}, None, endpoint_class="ADA_24", chosen_class="AMPERE_24", today=lambda: TODAY)
    qtbot.addWidget(table)
    assert not table.gpu_choice.isEnabled() and "ACTOR_TRAINER_GPU_CLASS" in table.gpu_choice.toolTip()
    assert table.names["ADA_24"].text().endswith("used by the estimate")  # what the estimate really uses
    assert table.gpu_class() == "AMPERE_24"  # the saved choice is kept for when the variable is gone
