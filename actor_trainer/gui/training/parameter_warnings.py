"""Allowed but unusual parameter values: what the form and the Start panel warn about.

FluxTrainer accepts a learning rate up to 10; LoRA training of a face uses about 1e-5 to 1e-3
(docs/training-workflow.md). A value outside that range is allowed (the user may mean it) but
is named with a warning under the field and under Start. When core grows one realistic-range rule
(issue 10, item 4: core/realistic_range.py) this module defers to it.
"""

from __future__ import annotations

from actor_trainer.core.models import TrainingParameters
from actor_trainer.gui.i18n import tr

LEARNING_RATE_RANGE = (1e-5, 1e-3)


def _core_warnings(params: TrainingParameters, image_count: int | None) -> dict[str, str] | None:
    """The core rule's warnings by field, when core has one; None when it does not (yet)."""
    try:
        from actor_trainer.core import realistic_range  # optional until issue 10 item 4 lands
    except ImportError:
        return None
    check = getattr(realistic_range, "unusual_values", None)
    if check is None:
        return None
    found: dict[str, str] = {}
    for unusual in check(params, image_count):
        found.setdefault(str(unusual.field), str(unusual.message))
    return found


def parameter_warnings(params: TrainingParameters, image_count: int | None = None) -> dict[str, str]:
    """Unusual values by field name: {"learning_rate": "5 is far above …"}. Empty when all is usual."""
    from_core = _core_warnings(params, image_count)
    if from_core is not None:
        return from_core
    found: dict[str, str] = {}
    low, high = LEARNING_RATE_RANGE
    rate = params.learning_rate
    if rate > high:
        found["learning_rate"] = tr(
            "{rate:g} is far above the usual {low:g}–{high:g}: training will likely diverge and the LoRA be noise."
        ).format(rate=rate, low=low, high=high)
    elif rate < low:
        found["learning_rate"] = tr(
            "{rate:g} is below the usual {low:g}–{high:g}: the run will barely learn in its steps."
        ).format(rate=rate, low=low, high=high)
    return found
