"""The realistic range of the values that cost money: one rule for the form, `train` and the checks.

FluxTrainer accepts rank and steps up to 100,000 (`TrainingParameters` keeps those hard limits:
what the trainer itself refuses). Inside them, this module says which values are *unusual* for a
person's likeness and what each one costs, so that such a value is never sent by accident: the GUI
asks for a confirmation, the CLI wants `--force` (recorded in the version as `forced`).

The range (docs/training-workflow.md, "Parameters"):
- rank (network_dim) 1–128: the LoRA's file size grows with the rank;
- alpha ≤ rank: updates scale with alpha/rank, so a larger alpha multiplies the learning rate;
- learning rate 1e-5–1e-3;
- steps by image count: at most `STEPS_TOLERANCE` × what auto-adjust proposes for the set — the
  same rule (`auto_adjust.steps_fit`) the dataset doctor uses. Fewer steps than that cost little
  and are left to the doctor's warning.

The defaults and every auto-adjust proposal are inside the range (tests/core/test_realistic_range.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actor_trainer.core.auto_adjust import STEPS_TOLERANCE, steps_fit
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.preflight import TrainingValidationError
from actor_trainer.core.request_builder import REFERENCE_RESOLUTION, SECONDS_PER_STEP_AT_512

RANK_RANGE = (1, 128)
LEARNING_RATE_RANGE = (1e-5, 1e-3)

#: Trainable parameters of a Flux LoRA per unit of rank: kohya's lora_flux targets every linear
#: layer of the 19 double blocks (per stream: qkv 3072→9216, proj 3072→3072, mlp 3072→12288 and
#: 12288→3072, modulation 3072→18432; each costs rank × (in + out)) and of the 38 single blocks
#: (linear1 3072→21504, linear2 15360→3072, modulation 3072→9216): 19 × 141,312 + 38 × 55,296.
FLUX_LORA_PARAMS_PER_RANK = 4_786_176
_BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8_e4m3fn": 1, "fp8_e5m2": 1}

CHECK_NAME = "realistic_range"


@dataclass(frozen=True)
class UnusualValue:
    """A value outside the realistic range, and why it is unusual and what it costs."""

    field: str  # the TrainingParameters field
    value: Any
    message: str

    def to_json(self) -> dict[str, Any]:
        """How `--force` (or a confirmation) records it in the version's `forced` list."""
        return {"check": CHECK_NAME, "field": self.field, "value": self.value, "message": self.message}


class UnusualValuesError(TrainingValidationError):
    """Values outside the realistic range, not confirmed; nothing was written or sent."""

    code = "unusual_values"

    def __init__(self, unusual: list[UnusualValue]) -> None:
        self.unusual = unusual
        super().__init__(
            "Unusual value(s) for a likeness LoRA: " + " ".join(u.message for u in unusual),
            "Change the value(s), or add --force to start anyway (recorded in the version as `forced`).",
        )


def lora_size_bytes(rank: int, save_dtype: str = "bf16") -> int:
    """About how large a Flux LoRA of this rank is on disk."""
    return FLUX_LORA_PARAMS_PER_RANK * rank * _BYTES_PER_VALUE.get(save_dtype, 2)


def gpu_seconds(params: TrainingParameters) -> float:
    """About how long the training steps take on the GPU (the same estimate as the run's timeout)."""
    pixels = (params.resolution / REFERENCE_RESOLUTION) ** 2
    return params.max_train_steps * SECONDS_PER_STEP_AT_512 * pixels * params.batch_size


def unusual_values(params: TrainingParameters, image_count: int | None = None) -> list[UnusualValue]:
    """Every value of `params` outside the realistic range, each with a sentence saying why it is
    unusual and what it costs. The steps are judged against `image_count` when it is known (> 0)."""
    out: list[UnusualValue] = []
    rank, alpha, lr = params.network_dim, params.network_alpha, params.learning_rate
    run_time = _duration(gpu_seconds(params))
    if not RANK_RANGE[0] <= rank <= RANK_RANGE[1]:
        out.append(
            UnusualValue(
                "network_dim",
                rank,
                (
                    f"Rank {rank} is above the {RANK_RANGE[0]}–{RANK_RANGE[1]} used for a person's likeness: the LoRA "
                    f"file grows with the rank, to about {_size(lora_size_bytes(rank, params.save_dtype))} "
                    f"({_size(lora_size_bytes(16, params.save_dtype))} at rank 16), and the extra capacity memorises "
                    "backgrounds rather than the face."
                ),
            )
        )
    if alpha > rank:
        factor = alpha / rank
        out.append(
            UnusualValue(
                "network_alpha",
                alpha,
                (
                    f"Alpha {alpha:g} is above the rank ({rank}): updates are scaled by alpha/rank = "
                    f"{factor:g}×, so the learning rate acts {factor:g}× stronger than typed and the run "
                    f"usually burns in — {run_time} of GPU time for a LoRA that is likely unusable. "
                    "Keep alpha at or below the rank."
                ),
            )
        )
    if lr < LEARNING_RATE_RANGE[0]:
        out.append(
            UnusualValue(
                "learning_rate",
                lr,
                (
                    f"Learning rate {lr:g} is below {LEARNING_RATE_RANGE[0]:g}: so slow that {params.max_train_steps} "
                    f"steps learn almost nothing — {run_time} of GPU time for a LoRA that barely differs from the "
                    "base model."
                ),
            )
        )
    elif lr > LEARNING_RATE_RANGE[1]:
        out.append(
            UnusualValue(
                "learning_rate",
                lr,
                (
                    f"Learning rate {lr:g} is above {LEARNING_RATE_RANGE[1]:g}: a Flux LoRA trained this fast burns in "
                    f"(noise, saturated colours) within a few hundred steps — {run_time} of GPU time likely wasted."
                ),
            )
        )
    if image_count is not None and image_count > 0:
        fit = steps_fit(image_count, params.max_train_steps, params.batch_size)
        if fit.verdict == "too_few_images":  # more steps than the set can use
            limit = int(fit.recommended * STEPS_TOLERANCE)
            per_image = fit.images_seen / image_count
            out.append(
                UnusualValue(
                    "max_train_steps",
                    params.max_train_steps,
                    (
                        f"{params.max_train_steps} steps are many for {image_count} image(s) (auto-adjust proposes "
                        f"{fit.recommended} for {fit.tier}; up to {limit} is usual): each image is seen about "
                        f"{per_image:.0f} times and the LoRA starts copying the pictures. The steps take "
                        f"{run_time} of GPU time, billed."
                    ),
                )
            )
    return out


def _size(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"about {minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours >= 48:
        return f"about {hours / 24:.0f} days"
    return f"about {hours} h {rest:02d} min"
