"""Issue 10, item 10: every Auto-adjust sentence agrees with the change it explains."""

from __future__ import annotations

import re

import pytest

from actor_trainer.core.auto_adjust import auto_adjust
from actor_trainer.core.models import TrainingParameters

COMPARATIVES = re.compile(r"\b(higher|lower|fewer|slightly|more steps|less)\b")


@pytest.mark.parametrize("images", [1, 6, 15, 16, 18, 30, 31, 45, 60, 61, 200])
@pytest.mark.parametrize(
    "current",
    [
        TrainingParameters(),
        TrainingParameters(learning_rate=1e-5, max_train_steps=500, num_repeats=5, network_dim=64, network_alpha=64),
        TrainingParameters(learning_rate=1e-3, max_train_steps=5000, num_repeats=1, network_dim=4, network_alpha=1),
    ],
)
def test_the_sentence_follows_the_change(images: int, current: TrainingParameters) -> None:
    for change in auto_adjust(images, current).changes:
        head, _, why = change.reason.partition(" — ")
        assert head.startswith(f"{images} image")
        if isinstance(change.new, int | float) and not isinstance(change.new, bool):
            verb = "raises" if change.new > change.old else "lowers"
            assert f": {verb} " in head, change.reason
        else:
            assert ": switches " in head, change.reason
        assert not COMPARATIVES.search(why), change.reason  # the why never claims a direction


def test_eighteen_images_lower_the_rate_and_say_so() -> None:
    rate = next(c for c in auto_adjust(18, TrainingParameters()).changes if c.field == "learning_rate")
    assert (rate.old, rate.new) == (0.0004, 0.00025)
    assert rate.reason.startswith("18 images: lowers the learning rate from 0.0004 to 0.00025 — ")
    assert "higher" not in rate.reason
