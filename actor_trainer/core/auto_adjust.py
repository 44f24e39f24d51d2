"""Auto-adjust: training parameters proposed from the number of training images.

A pure function. It proposes, it never applies: the caller shows the changes with their reasons
and the user accepts them. Fields the user typed (and did not ask to change) are `locked` and are
never touched; the proposal says which locked values differ from the recommendation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from actor_trainer.core.models import TrainingParameters, derived_epochs, steps_per_image


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any
    reason: str  # plain language, names the image count and the why


@dataclass(frozen=True)
class Proposal:
    params: TrainingParameters
    changes: tuple[Change, ...]
    warnings: tuple[str, ...]
    tier: str  # which image-count tier the proposal comes from ("" when there are no images)
    image_count: int

    @property
    def epochs(self) -> int:
        return derived_epochs(self.image_count, self.params)

    @property
    def steps_per_image(self) -> float:
        return steps_per_image(self.image_count, self.params)

    @property
    def changed_fields(self) -> frozenset[str]:
        return frozenset(c.field for c in self.changes)


@dataclass(frozen=True)
class _Tier:
    label: str
    max_images: int | None  # inclusive upper bound; None = no bound
    steps: int
    learning_rate: float
    num_repeats: int
    # Why this tier's value suits the set. Never a direction ("higher", "fewer"): whether a value
    # goes up or down depends on the current one, and `_moved` says that from the change itself.
    steps_reason: str
    rate_reason: str
    repeats_reason: str


_ONE_PASS = "the set is large enough for one pass per epoch; repeats would only lengthen epochs"

# The original web app's tiers (docs/training-workflow.md, "Auto-adjust"):
# ≤15 → 1500 steps, lr 2e-4, repeats 2; 16–30 → 2000, 2.5e-4, 2;
# 31–60 → 2500, 1.5e-4, 1; > 60 → 3000, 1e-4, 1 plus a warning to curate to 30–60.
_TIERS = (
    _Tier(
        label="1–15 images",
        max_images=15,
        steps=1500,
        learning_rate=2e-4,
        num_repeats=2,
        steps_reason="this many steps learn the face while avoiding overfitting a small set",
        rate_reason="a gentle rate keeps a small set from burning into every image",
        repeats_reason="showing each image twice per epoch lets a small set still fill an epoch",
    ),
    _Tier(
        label="16–30 images",
        max_images=30,
        steps=2000,
        learning_rate=2.5e-4,
        num_repeats=2,
        steps_reason="a medium set needs this many steps to learn the face from every angle",
        rate_reason="this rate lets a varied set of this size converge within the steps",
        repeats_reason="showing each image twice per epoch makes every image seen often enough",
    ),
    _Tier(
        label="31–60 images",
        max_images=60,
        steps=2500,
        learning_rate=1.5e-4,
        num_repeats=1,
        steps_reason="a larger set has more to learn, and this many steps cover it",
        rate_reason="with many images this rate averages them smoothly instead of chasing each one",
        repeats_reason=_ONE_PASS,
    ),
    _Tier(
        label="more than 60 images",
        max_images=None,
        steps=3000,
        learning_rate=1e-4,
        num_repeats=1,
        steps_reason="the largest sets get the most steps of any tier; beyond them a run mostly repeats itself",
        rate_reason="the gentlest rate of any tier keeps any single image from dominating a large set",
        repeats_reason=_ONE_PASS,
    ),
)

# Shared by every tier (same source).
NETWORK_DIM = 16
ALPHA_PER_DIM = 0.5  # rank 16 / alpha 8
LR_SCHEDULER = "cosine"
WARMUP_FRACTION = 0.2
OPTIMIZER = "adamw8bit"
BATCH_SIZE = 1
GRADIENT_DTYPE = "bf16"
CURATE_RANGE = (30, 60)


def _tier_for(image_count: int) -> _Tier:
    if image_count < 0:
        raise ValueError(f"image_count must not be negative, not {image_count}")
    return next(t for t in _TIERS if t.max_images is None or image_count <= t.max_images)


def recommended_steps(image_count: int) -> int:
    """The step count auto-adjust would propose for this many images (an empty set: the smallest tier)."""
    return _tier_for(image_count).steps


#: How far a run's steps may stray from the tier's recommendation before the dataset doctor says
#: the image count does not fit them: more than 1.5× (each image is seen so often that the LoRA
#: copies the pictures) or less than 1/1.5× (each image is seen too rarely to be learned). The
#: steps auto-adjust proposes are the recommendation itself, so they always fit.
STEPS_TOLERANCE = 1.5


@dataclass(frozen=True)
class StepsFit:
    """How a run's steps fit its image count, by the same tiers auto-adjust proposes from."""

    image_count: int
    images_seen: int  # max_train_steps × batch_size: the tiers assume batch 1
    recommended: int
    tier: str
    verdict: str  # "ok" | "too_few_images" (for these steps) | "too_many_images" (for these steps)

    @property
    def ratio(self) -> float:
        return self.images_seen / self.recommended


def steps_fit(image_count: int, max_train_steps: int, batch_size: int = 1) -> StepsFit:
    """The one rule for "steps by image count": compare with `recommended_steps` (the tiers)."""
    tier = _tier_for(image_count)
    seen = max_train_steps * max(batch_size, 1)
    ratio = seen / tier.steps
    if image_count > 0 and ratio > STEPS_TOLERANCE:
        verdict = "too_few_images"
    elif image_count > 0 and ratio < 1 / STEPS_TOLERANCE:
        verdict = "too_many_images"
    else:
        verdict = "ok"
    return StepsFit(image_count=image_count, images_seen=seen, recommended=tier.steps, tier=tier.label, verdict=verdict)


def warmup_for(steps: int) -> int:
    """20 % of the steps, rounded half up."""
    return math.floor(steps * WARMUP_FRACTION + 0.5)


def auto_adjust(image_count: int, current: TrainingParameters, *, locked: frozenset[str] = frozenset()) -> Proposal:
    """Propose parameters for `image_count` images, keeping every field named in `locked`.

    A Change is reported only for a value that actually differs. With no images nothing changes
    and a warning says why.
    """
    unknown = sorted(locked - set(TrainingParameters.model_fields))
    if unknown:
        raise ValueError(f"unknown parameter name(s) in locked: {', '.join(unknown)}")
    if image_count <= 0:
        _tier_for(image_count)  # rejects a negative count
        return Proposal(
            params=current,
            changes=(),
            warnings=("No training images yet: nothing was adjusted. Add images to the actor first.",),
            tier="",
            image_count=0,
        )

    tier = _tier_for(image_count)
    n = f"{image_count} image{'s' if image_count != 1 else ''}"
    warnings: list[str] = []
    if tier.max_images is None:
        warnings.append(
            f"{n} is more than training needs: curate the set to the best {CURATE_RANGE[0]}–"
            f"{CURATE_RANGE[1]} (varied angles, light and expressions; no near-duplicates)."
        )

    steps = tier.steps
    warmup_locked = "lr_warmup_steps" in locked
    if "max_train_steps" not in locked and warmup_locked and current.lr_warmup_steps > steps:
        # The warmup the user typed must fit inside the steps; keep as many steps as it needs.
        warnings.append(
            f"Kept {current.lr_warmup_steps} steps instead of {steps}: your warmup of "
            f"{current.lr_warmup_steps} steps must fit inside the training."
        )
        steps = current.lr_warmup_steps
    final_steps = current.max_train_steps if "max_train_steps" in locked else steps
    final_dim = current.network_dim if "network_dim" in locked else NETWORK_DIM
    alpha = final_dim * ALPHA_PER_DIM

    proposed: list[tuple[str, Any, str]] = [
        ("max_train_steps", steps, tier.steps_reason),
        ("learning_rate", tier.learning_rate, tier.rate_reason),
        ("num_repeats", tier.num_repeats, tier.repeats_reason),
        (
            "network_dim",
            NETWORK_DIM,
            f"rank {NETWORK_DIM} holds a person's likeness with room for detail; "
            "beyond it a rank mostly adds file size and memorises backgrounds",
        ),
        (
            "network_alpha",
            alpha,
            f"alpha {alpha:g} with rank {final_dim} halves each update (updates scale with "
            "alpha/rank), which suits the learning rate above",
        ),
        (
            "lr_scheduler",
            LR_SCHEDULER,
            "cosine eases the rate off toward the end, so the last steps refine instead of overshoot",
        ),
        (
            "lr_warmup_steps",
            warmup_for(final_steps),
            f"warming up over 20 % of the {final_steps} steps keeps the first updates from wrecking the base model",
        ),
        (
            "optimizer_type",
            OPTIMIZER,
            "adamw8bit with bf16 is the combination known to work on the worker",
        ),
        (
            "batch_size",
            BATCH_SIZE,
            "batch 1 trains one image per step, which the step counts above assume",
        ),
        (
            "gradient_dtype",
            GRADIENT_DTYPE,
            "bf16 is the training precision known to work with adamw8bit on Flux",
        ),
    ]

    updates: dict[str, Any] = {}
    changes: list[Change] = []
    for field, new, why in proposed:
        old = getattr(current, field)
        if not _differs(old, new):
            continue
        if field in locked:
            warnings.append(f"Kept your {field} = {old} (you set it); the recommendation for {n} is {new}.")
            continue
        updates[field] = new
        # The sentence starts from the change actually made (issue 10, item 10): the direction
        # comes from old → new, the tier only says why the new value suits the set.
        reason = f"{n}: {_moved(field, old, new)} — {why}"
        changes.append(Change(field=field, old=old, new=new, reason=reason))

    params = TrainingParameters.model_validate({**current.model_dump(), **updates}) if updates else current
    return Proposal(
        params=params,
        changes=tuple(changes),
        warnings=tuple(warnings),
        tier=tier.label,
        image_count=image_count,
    )


#: the words a sentence uses for a field (core has no Qt; the GUI shows the field's label beside it)
FIELD_WORDS = {
    "max_train_steps": "the steps",
    "learning_rate": "the learning rate",
    "num_repeats": "the repeats",
    "network_dim": "the rank",
    "network_alpha": "alpha",
    "lr_scheduler": "the scheduler",
    "lr_warmup_steps": "the warmup",
    "optimizer_type": "the optimizer",
    "batch_size": "the batch size",
    "gradient_dtype": "the training precision",
}


def _shown(value: Any) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _moved(field: str, old: Any, new: Any) -> str:
    """What the change does, read from the values: "lowers the learning rate from 0.0004 to 0.00025"."""
    words = FIELD_WORDS.get(field, field)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (old, new))
    if numeric:
        verb = "raises" if float(new) > float(old) else "lowers"
        return f"{verb} {words} from {_shown(old)} to {_shown(new)}"
    return f"switches {words} from {_shown(old)} to {_shown(new)}"


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        if isinstance(old, bool) or isinstance(new, bool) or not isinstance(old, int | float):
            return bool(old != new)
        return not math.isclose(float(old), float(new), rel_tol=1e-9, abs_tol=0.0)
    return bool(old != new)
