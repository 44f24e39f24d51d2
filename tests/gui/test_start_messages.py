"""Issue 10, item 5: the message under Start Training is about the current values, names the
field, follows every edit; unusual values warn; Steps never drops or clamps what was typed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from actor_trainer.gui.training.training_tab import ActorTrainingTab
from tests.waits import QT_WAIT_MS


@pytest.fixture
def tab(gui_ctx: Any, qtbot: QtBot) -> ActorTrainingTab:
    widget = ActorTrainingTab(gui_ctx)
    qtbot.addWidget(widget)
    widget.resize(900, 800)
    widget.show()
    gui_ctx.select_actor(0)
    qtbot.waitUntil(widget.can_start, timeout=QT_WAIT_MS)
    return widget


def type_into(qtbot: QtBot, tab: ActorTrainingTab, name: str, text: str) -> None:
    line = tab.form.fields[name].editor
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text) if text else line.del_()


def test_the_reason_names_the_field_and_follows_every_edit(tab: ActorTrainingTab, qtbot: QtBot) -> None:
    type_into(qtbot, tab, "learning_rate", "abc")
    assert tab.disabled_reason() == "Learning rate: not a number (write e.g. 0.0004 or 2.5e-4)."
    assert "Learning rate: not a number" in tab.start.reason_label.text()
    # Still invalid, but now for another field too: the first problem in the form is what Start names,
    # and fixing the rate moves the message on to the next one at once (no stale text).
    type_into(qtbot, tab, "max_train_steps", "0")
    assert tab.disabled_reason().startswith("Learning rate:")
    type_into(qtbot, tab, "learning_rate", "0.0004")
    assert tab.disabled_reason() == "Steps: must be at least 1 (you typed 0)."
    type_into(qtbot, tab, "max_train_steps", "")
    assert tab.disabled_reason() == "Steps: enter a whole number."
    type_into(qtbot, tab, "max_train_steps", "1500")
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    assert not tab.start.reason_label.isVisible()


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "Must be at least 1 (you typed 0)."),
        ("-", "Not a whole number (you typed “-”)."),
        ("-5", "Must be at least 1 (you typed -5)."),
        ("12ab", "Not a whole number (you typed “12ab”)."),
        ("99999999", "Must be at most 100000 (you typed 99999999)."),
    ],
)
def test_steps_keeps_what_was_typed_and_says_what_is_wrong(
    tab: ActorTrainingTab, qtbot: QtBot, typed: str, message: str
) -> None:
    type_into(qtbot, tab, "max_train_steps", typed)
    field = tab.form.fields["max_train_steps"]
    assert field.editor.text() == typed  # nothing dropped, nothing cut
    assert field.message.isVisible() and field.message.text() == message
    assert tab.form.parameters() is None and not tab.start.button.isEnabled()
    assert tab.disabled_reason() == f"Steps: {message[:1].lower()}{message[1:]}"


def test_a_learning_rate_of_5_warns_but_does_not_block(tab: ActorTrainingTab, qtbot: QtBot) -> None:
    type_into(qtbot, tab, "learning_rate", "5")
    field = tab.form.fields["learning_rate"]
    assert field.error is None and field.warning is not None and "above" in field.warning and "5" in field.warning
    assert field.message.isVisible() and field.message.text().startswith("⚠ ")
    qtbot.waitUntil(tab.can_start, timeout=QT_WAIT_MS)
    qtbot.waitUntil(
        lambda: re.search(r"Learning rate:? 5 is (far )?above", tab.start.reason_label.text()) is not None,
        timeout=QT_WAIT_MS,
    )
    assert tab.start.reason_label.isVisible()
    type_into(qtbot, tab, "learning_rate", "0.0004")
    assert field.warning is None and not field.message.isVisible()
    qtbot.waitUntil(lambda: not tab.start.reason_label.isVisible(), timeout=QT_WAIT_MS)


def test_arrow_keys_step_the_whole_number(tab: ActorTrainingTab, qtbot: QtBot) -> None:
    from PySide6.QtCore import Qt

    steps = tab.form.fields["max_train_steps"].editor
    steps.setFocus()
    qtbot.keyClick(steps, Qt.Key.Key_Up)
    assert steps.text() == "2100" and tab.form.parameters().max_train_steps == 2100


def test_auto_adjust_dialog_explains_the_change_it_proposes(light_ctx: Any, qtbot: QtBot) -> None:
    """Issue 10, item 10: 18 images lower the rate from the default, and the dialog says so."""
    from actor_trainer.gui.training.parameters_form import ParametersForm

    form = ParametersForm(light_ctx)
    qtbot.addWidget(form)
    form.show()
    form.set_image_count(18)
    dialog = form.open_auto_adjust()
    reason = dialog.findChild(type(dialog.title), "reason_learning_rate")
    assert reason is not None
    assert reason.text().startswith("18 images: lowers the learning rate from 0.0004 to 0.00025")
    assert "higher" not in reason.text()
    dialog.apply_button.click()
    assert form.parameters().learning_rate == 0.00025
