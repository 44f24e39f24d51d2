"""Auto-adjust from the image count: proposes, explains, never touches what the user locked."""

from __future__ import annotations

from typing import Any

import pytest

from actor_trainer.core.auto_adjust import auto_adjust, recommended_steps, warmup_for
from actor_trainer.core.models import TrainingParameters

# The original web app's tiers (docs/training-workflow.md, "Auto-adjust"): images → (steps, learning rate, repeats).
TIERS = [
    (1, 1500, 2e-4, 2),
    (15, 1500, 2e-4, 2),
    (16, 2000, 2.5e-4, 2),
    (30, 2000, 2.5e-4, 2),
    (31, 2500, 1.5e-4, 1),
    (60, 2500, 1.5e-4, 1),
    (61, 3000, 1e-4, 1),
    (400, 3000, 1e-4, 1),
]

COMMON = {
    "network_dim": 16,
    "network_alpha": 8.0,
    "lr_scheduler": "cosine",
    "optimizer_type": "adamw8bit",
    "batch_size": 1,
    "gradient_dtype": "bf16",
}


@pytest.mark.parametrize(("images", "steps", "rate", "repeats"), TIERS)
def test_tiers(images: int, steps: int, rate: float, repeats: int) -> None:
    proposal = auto_adjust(images, TrainingParameters())
    p = proposal.params
    assert (p.max_train_steps, p.learning_rate, p.num_repeats) == (steps, rate, repeats)
    assert {k: getattr(p, k) for k in COMMON} == COMMON
    assert p.lr_warmup_steps == steps // 5  # 20 % of the steps
    assert recommended_steps(images) == steps
    assert proposal.image_count == images and proposal.tier


def test_more_than_60_images_warns_to_curate() -> None:
    assert not auto_adjust(60, TrainingParameters()).warnings
    (warning,) = auto_adjust(61, TrainingParameters()).warnings
    assert "61 images" in warning and "30–60" in warning


def test_no_images_changes_nothing_and_says_why() -> None:
    current = TrainingParameters(learning_rate=0.001)
    proposal = auto_adjust(0, current)
    assert proposal.params == current and proposal.changes == ()
    assert len(proposal.warnings) == 1 and "images" in proposal.warnings[0]
    with pytest.raises(ValueError):
        auto_adjust(-1, current)
    with pytest.raises(ValueError):
        recommended_steps(-1)


def test_changes_name_old_new_and_why_with_the_image_count() -> None:
    current = TrainingParameters()  # seed defaults: 2000 steps, lr 4e-4, dim 8, alpha 1, constant
    proposal = auto_adjust(15, current)
    changes = {c.field: c for c in proposal.changes}
    assert set(changes) == {
        "max_train_steps", "learning_rate", "num_repeats", "network_dim", "network_alpha",
        "lr_scheduler", "lr_warmup_steps",
    }  # fmt: skip  # optimizer, batch and dtype already match: not reported
    steps = changes["max_train_steps"]
    assert (steps.old, steps.new) == (2000, 1500)
    assert "15 images" in steps.reason and "overfitting a small set" in steps.reason
    for change in proposal.changes:
        assert "15 images" in change.reason
        assert change.old == getattr(current, change.field)
        assert change.new == getattr(proposal.params, change.field)
        assert change.old != change.new
    assert "1 image:" in auto_adjust(1, current).changes[0].reason


def test_applying_a_proposal_again_changes_nothing() -> None:
    first = auto_adjust(22, TrainingParameters())
    again = auto_adjust(22, first.params)
    assert again.changes == () and again.params == first.params


def test_the_current_parameters_are_not_mutated() -> None:
    current = TrainingParameters()
    before = current.model_dump()
    auto_adjust(40, current)
    assert current.model_dump() == before


LOCKABLE: list[tuple[str, Any]] = [
    ("max_train_steps", 1111),
    ("learning_rate", 0.0007),
    ("num_repeats", 5),
    ("network_dim", 4),
    ("network_alpha", 2.0),
    ("lr_scheduler", "polynomial"),
    ("lr_warmup_steps", 13),
    ("optimizer_type", "prodigy"),
    ("batch_size", 2),
    ("gradient_dtype", "fp16"),
]


@pytest.mark.parametrize(("field", "value"), LOCKABLE)
@pytest.mark.parametrize("images", [5, 25, 45, 90])
def test_locked_fields_are_never_changed(field: str, value: Any, images: int) -> None:
    current = TrainingParameters(**{field: value})
    proposal = auto_adjust(images, current, locked=frozenset({field}))
    assert getattr(proposal.params, field) == value
    assert field not in proposal.changed_fields
    assert any(f"Kept your {field}" in w for w in proposal.warnings)


def test_everything_locked_means_no_changes() -> None:
    current = TrainingParameters(**dict(LOCKABLE))
    proposal = auto_adjust(20, current, locked=frozenset(f for f, _ in LOCKABLE))
    assert proposal.changes == () and proposal.params == current


def test_warmup_follows_the_steps_the_user_kept() -> None:
    proposal = auto_adjust(20, TrainingParameters(max_train_steps=1000), locked=frozenset({"max_train_steps"}))
    assert proposal.params.max_train_steps == 1000 and proposal.params.lr_warmup_steps == 200


def test_a_locked_warmup_longer_than_the_tier_keeps_enough_steps() -> None:
    current = TrainingParameters(max_train_steps=5000, lr_warmup_steps=1800)
    proposal = auto_adjust(10, current, locked=frozenset({"lr_warmup_steps"}))
    assert proposal.params.lr_warmup_steps == 1800
    assert proposal.params.max_train_steps == 1800
    assert any("warmup" in w for w in proposal.warnings)


def test_alpha_is_half_the_rank_the_user_kept() -> None:
    proposal = auto_adjust(20, TrainingParameters(network_dim=32), locked=frozenset({"network_dim"}))
    assert proposal.params.network_dim == 32 and proposal.params.network_alpha == 16.0


def test_unknown_locked_names_are_refused() -> None:
    with pytest.raises(ValueError, match="learningrate"):
        auto_adjust(20, TrainingParameters(), locked=frozenset({"learningrate"}))


def test_unrelated_fields_are_kept() -> None:
    current = TrainingParameters(trigger="ohwx", save_dtype="fp16", resolution=768)
    params = auto_adjust(20, current).params
    assert (params.trigger, params.save_dtype, params.resolution) == ("ohwx", "fp16", 768)


def test_derived_epochs_and_steps_per_image() -> None:
    proposal = auto_adjust(15, TrainingParameters())
    # 1500 steps, 15 images × 2 repeats / batch 1 = 30 steps per epoch → 50 epochs; 100 steps per image.
    assert proposal.epochs == 50
    assert proposal.steps_per_image == 100.0
    assert auto_adjust(0, TrainingParameters()).steps_per_image == 0.0


def test_warmup_rounding() -> None:
    assert [warmup_for(s) for s in (1500, 2000, 2500, 3000, 1, 3, 12)] == [300, 400, 500, 600, 0, 1, 2]
