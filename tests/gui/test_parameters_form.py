"""The ParametersForm, driven like a user: typing, the Advanced section, inline errors, Auto-adjust."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox
from pytestqt.qtbot import QtBot

from actor_trainer.core.models import (
    GRADIENT_DTYPES,
    LR_SCHEDULERS,
    OPTIMIZER_TYPES,
    SAVE_DTYPES,
    TrainingParameters,
)
from actor_trainer.gui.training.parameters_form import ParametersForm
from tests.waits import QT_WAIT_MS


@pytest.fixture
def form(light_ctx: Any, qtbot: QtBot) -> ParametersForm:
    widget = ParametersForm(light_ctx)
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    widget.set_image_count(6)
    return widget


def editor(form: ParametersForm, name: str) -> Any:
    return form.fields[name].editor


def type_into(qtbot: QtBot, widget: Any, text: str) -> None:
    """Select everything in the field and type `text`, as a user would."""
    line = widget.lineEdit() if isinstance(widget, QSpinBox) else widget
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)


def test_defaults_are_shown_and_advanced_starts_collapsed(form: ParametersForm) -> None:
    assert form.parameters() == TrainingParameters()
    assert editor(form, "learning_rate").text() == "0.0004"
    assert editor(form, "max_train_steps").value() == 2000
    assert editor(form, "network_alpha").text() == "1"
    assert not form.advanced.isVisible()
    assert not form.advanced_toggle.isChecked()
    form.advanced_toggle.click()
    assert form.advanced.isVisible()


def test_combos_offer_exactly_the_allowed_spellings(form: ParametersForm) -> None:
    for name, allowed in (
        ("optimizer_type", OPTIMIZER_TYPES),
        ("lr_scheduler", LR_SCHEDULERS),
        ("gradient_dtype", GRADIENT_DTYPES),
        ("save_dtype", SAVE_DTYPES),
    ):
        combo = editor(form, name)
        assert isinstance(combo, QComboBox)
        assert [combo.itemText(i) for i in range(combo.count())] == list(allowed)


def test_learning_rate_keeps_what_the_user_typed(form: ParametersForm, qtbot: QtBot) -> None:
    lr = editor(form, "learning_rate")
    assert isinstance(lr, QLineEdit)
    emitted: list[TrainingParameters | None] = []
    form.parametersChanged.connect(emitted.append)
    type_into(qtbot, lr, "2.5e-4")
    assert lr.text() == "2.5e-4"
    assert emitted and emitted[-1] is not None and emitted[-1].learning_rate == 2.5e-4
    params = form.parameters()
    assert params is not None and params.learning_rate == 2.5e-4
    # Loading the same value again does not rewrite the user's spelling...
    form.set_parameters(params)
    assert lr.text() == "2.5e-4"
    # ...and a value from elsewhere is shown without rounding.
    form.set_parameters(TrainingParameters(learning_rate=0.000123456))
    assert lr.text() == "0.000123456"


def test_unreadable_number_is_outlined_with_a_message(form: ParametersForm, qtbot: QtBot) -> None:
    lr = editor(form, "learning_rate")
    emitted: list[TrainingParameters | None] = []
    form.parametersChanged.connect(emitted.append)
    type_into(qtbot, lr, "fast")
    assert emitted == [None]
    assert form.parameters() is None
    message = form.fields["learning_rate"].message
    assert message.isVisible() and "Not a number" in message.text()
    assert "Fix the highlighted field" in form.derived_label.text()
    type_into(qtbot, lr, "0")
    assert "greater than 0" in message.text()
    type_into(qtbot, lr, "0.0003")
    assert not message.isVisible()
    assert form.parameters() is not None and form.parameters().learning_rate == 0.0003


def test_warmup_longer_than_the_steps_is_shown_under_warmup(form: ParametersForm, qtbot: QtBot) -> None:
    assert not form.advanced.isVisible()
    type_into(qtbot, editor(form, "lr_warmup_steps"), "5000")
    assert form.parameters() is None
    warmup = form.fields["lr_warmup_steps"]
    assert warmup.message.isVisible()
    assert warmup.message.text() == "Warmup steps (5000) exceeds steps (2000)"
    # The problem is inside Advanced: the section opens and its title says so.
    assert form.advanced.isVisible()
    assert "1 field needs attention" in form.advanced_toggle.text()
    type_into(qtbot, editor(form, "max_train_steps"), "6000")
    assert not warmup.message.isVisible()
    assert form.parameters() is not None
    assert form.advanced_toggle.text() == "Advanced"


def test_derived_epochs_follow_every_edit(form: ParametersForm, qtbot: QtBot) -> None:
    assert form.derived_label.text().startswith("≈ 334 epochs · 333.3 steps per image · 6 images × 1 repeats")
    form.advanced_toggle.click()
    type_into(qtbot, editor(form, "num_repeats"), "2")
    assert form.derived_label.text().startswith("≈ 167 epochs")  # ceil(2000 / (6 × 2))
    type_into(qtbot, editor(form, "batch_size"), "4")
    assert "÷ batch 4" in form.derived_label.text()
    assert form.derived_label.text().startswith("≈ 667 epochs")  # ceil(2000 / ceil(12 / 4))
    form.set_image_count(0)
    assert "No training images" in form.derived_label.text()


def test_auto_adjust_proposes_explains_and_keeps_typed_values(form: ParametersForm, qtbot: QtBot) -> None:
    type_into(qtbot, editor(form, "max_train_steps"), "1800")
    assert form.edited_fields() == {"max_train_steps"}
    form.auto_adjust_button.click()
    dialog = form.auto_adjust_dialog
    assert dialog is not None and dialog.isVisible()
    assert form.parameters() is not None and form.parameters().learning_rate == 0.0004  # nothing applied yet
    assert "1–15 images" in dialog.subtitle.text()
    changes = dialog.changes_text()
    assert "learning_rate: 0.0004 → 0.0002" in changes
    assert "num_repeats: 1 → 2" in changes
    assert "network_dim: 8 → 16" in changes
    assert not any(c.startswith("max_train_steps") for c in changes)
    reason = dialog.findChild(type(dialog.title), "reason_learning_rate")
    assert reason is not None and "6 images" in reason.text()
    kept = dialog.kept_boxes["max_train_steps"]
    assert "1800" in kept.text() and "1500" in kept.text() and not kept.isChecked()

    dialog.apply_button.click()
    params = form.parameters()
    assert params is not None
    assert params.max_train_steps == 1800  # typed, so kept
    assert params.learning_rate == 2e-4 and params.num_repeats == 2 and params.network_dim == 16
    assert params.lr_warmup_steps == 360  # 20 % of the kept steps
    assert editor(form, "max_train_steps").value() == 1800
    assert form.edited_fields() == {"max_train_steps"}  # still the user's own


def test_auto_adjust_changes_a_typed_value_only_when_asked(form: ParametersForm, qtbot: QtBot) -> None:
    type_into(qtbot, editor(form, "max_train_steps"), "1800")
    dialog = form.open_auto_adjust()
    dialog.kept_boxes["max_train_steps"].click()
    assert "max_train_steps: 1800 → 1500" in dialog.changes_text()
    dialog.apply_button.click()
    assert form.parameters() is not None and form.parameters().max_train_steps == 1500
    assert form.edited_fields() == frozenset()


def test_auto_adjust_cancel_changes_nothing(form: ParametersForm) -> None:
    before = form.parameters()
    dialog = form.open_auto_adjust()
    dialog.cancel_button.click()
    assert form.parameters() == before


def test_auto_adjust_with_no_images_says_so(form: ParametersForm) -> None:
    form.set_image_count(0)
    dialog = form.open_auto_adjust()
    assert not dialog.apply_button.isEnabled()
    warnings = [w.text() for w in dialog.findChildren(type(dialog.title), "warning")]
    assert any("No training images yet" in w for w in warnings)


def test_reset_and_unknown_fields_round_trip(form: ParametersForm, qtbot: QtBot) -> None:
    loaded = TrainingParameters.model_validate({"max_train_steps": 900, "studio_note": "keep me"})
    form.set_parameters(loaded)
    type_into(qtbot, editor(form, "network_dim"), "32")
    params = form.parameters()
    assert params is not None and params.network_dim == 32
    assert params.model_dump()["studio_note"] == "keep me"  # another tool's field survives
    with qtbot.waitSignal(form.userEdited, timeout=QT_WAIT_MS):
        form.reset_button.click()
    assert form.parameters() == TrainingParameters()


def test_trigger_placeholder_is_the_actor_name(form: ParametersForm, qtbot: QtBot) -> None:
    form.set_actor_name("Anna Smith")
    trigger = editor(form, "trigger")
    assert trigger.placeholderText() == "Anna Smith"
    assert form.parameters() is not None and form.parameters().trigger is None
    qtbot.keyClicks(trigger, "annasmith")
    assert form.parameters() is not None and form.parameters().trigger == "annasmith"
    trigger.setFocus()
    qtbot.keyClick(trigger, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(trigger, Qt.Key.Key_Delete)
    assert form.parameters() is not None and form.parameters().trigger is None


def test_sample_settings_are_edited_in_advanced_and_travel_with_the_parameters(
    form: ParametersForm, qtbot: QtBot
) -> None:
    from actor_trainer.core.models import SampleSettings

    assert form.parameters() is not None and form.parameters().sampling is None  # type: ignore[union-attr]
    samples = form.samples
    samples.every.setValue(250)
    samples.seed.setValue(7)
    samples.prompts.setPlainText("{trigger} as a knight\n{trigger} laughing, close-up")
    samples.keep.setChecked(True)
    params = form.parameters()
    assert params is not None and params.sampling == SampleSettings(
        prompts=["{trigger} as a knight", "{trigger} laughing, close-up"], every=250, seed=7, keep_checkpoints=True
    )
    assert "sampling" in form.edited_fields()

    samples.prompts.setPlainText("a | b")  # FluxTrainer splits prompts on "|"
    assert form.parameters() is None and "|" in (form.first_error() or "")
    samples.prompts.setPlainText("ok")
    assert form.parameters() is not None

    form.set_parameters(TrainingParameters())  # a load shows the defaults again
    assert samples.every.value() == SampleSettings().every and form.parameters().sampling is None  # type: ignore[union-attr]
