"""Domain models of the data library (docs/architecture.md: the original web app's record shapes, kept
key for key).

Every record allows extra fields and keeps them on a load/save round trip: other studio tools
share these files, and a field we do not know is theirs, not ours to drop.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from actor_trainer.core.errors import InvalidTransitionError
from actor_trainer.core.record import Record, utc_now
from actor_trainer.core.version_records import (
    _STATUS_ALIASES,
    TERMINAL_STATUSES,
    Checkpoint,
    JobState,
    Progress,
    RunEstimate,
    RunOwner,
    Sample,
    SampleSettings,
    Trial,
    VersionError,
    VersionStatus,
    can_transition,
)

# Split out (issue 8), still importable from here: the record base (core/record.py) and the
# records a version is made of (core/version_records.py).
__all__ = [
    "GRADIENT_DTYPES",
    "LR_SCHEDULERS",
    "OPTIMIZER_TYPES",
    "SAVE_DTYPES",
    "TERMINAL_STATUSES",
    "Actor",
    "ActorRegistry",
    "Checkpoint",
    "GradientDtype",
    "JobState",
    "LrScheduler",
    "OptimizerType",
    "Progress",
    "Record",
    "RunEstimate",
    "RunOwner",
    "Sample",
    "SampleSettings",
    "SaveDtype",
    "TrainingParameters",
    "TrainingVersion",
    "Trial",
    "ValidatedLoraModel",
    "VersionError",
    "VersionStatus",
    "VersionsFile",
    "can_transition",
    "derived_epochs",
    "steps_per_epoch",
    "steps_per_image",
    "utc_now",
]


# --- actors -------------------------------------------------------------------------------------


class ValidatedLoraModel(Record):
    version_id: str
    version_name: str
    lora_url: str
    marked_at: datetime


class Actor(Record):
    """One entry of `actors.json`."""

    id: int = Field(ge=0, le=9999)
    name: str = Field(min_length=1)
    description: str | None = None
    sex: str | None = None
    ethnicity: str | None = None
    age: int | None = Field(default=None, ge=0, le=150)
    validated_lora_model: ValidatedLoraModel | None = None

    @property
    def folder_name(self) -> str:
        return f"{self.id:04d}"

    @property
    def meta_line(self) -> str:
        """ "age • sex • ethnicity", as the original web app's actor button showed it."""
        parts = [str(self.age) if self.age is not None else None, self.sex, self.ethnicity]
        return " • ".join(p for p in parts if p)


class ActorRegistry(BaseModel):
    """`actors.json`: a list of actor records (the original web app's format is a bare JSON list)."""

    actors: list[Actor]

    @model_validator(mode="after")
    def _unique_ids(self) -> ActorRegistry:
        seen: set[int] = set()
        for actor in self.actors:
            if actor.id in seen:
                raise ValueError(f"actor id {actor.id} appears more than once")
            seen.add(actor.id)
        return self


# --- training parameters ------------------------------------------------------------------------

# Allowed values of the FluxTrainer nodes (case-sensitive); see docs/training-workflow.md.
OptimizerType = Literal[
    "adamw8bit",
    "adamw",
    "prodigy",
    "CAME",
    "Lion8bit",
    "Lion",
    "adamwschedulefree",
    "sgdschedulefree",
    "AdEMAMix8bit",
    "PagedAdEMAMix8bit",
    "ProdigyPlusScheduleFree",
]
LrScheduler = Literal["constant", "cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup"]
GradientDtype = Literal["fp32", "fp16", "bf16"]
SaveDtype = Literal["fp32", "fp16", "bf16", "fp8_e4m3fn", "fp8_e5m2"]

OPTIMIZER_TYPES: tuple[str, ...] = OptimizerType.__args__  # type: ignore[attr-defined]
LR_SCHEDULERS: tuple[str, ...] = LrScheduler.__args__  # type: ignore[attr-defined]
GRADIENT_DTYPES: tuple[str, ...] = GradientDtype.__args__  # type: ignore[attr-defined]
SAVE_DTYPES: tuple[str, ...] = SaveDtype.__args__  # type: ignore[attr-defined]


class TrainingParameters(Record):
    """What the user sets for one run. Sent to the worker exactly as set.

    Defaults are the original web app's (lr 0.0004, 2000 steps, dim 8). network_alpha 1 pairs with that rate:
    the update scales with alpha/dim, and FluxTrainer's own default pairs alpha 1 with 4e-4.
    """

    learning_rate: float = Field(default=0.0004, gt=0, le=10)
    max_train_steps: int = Field(default=2000, ge=1, le=100_000)
    network_dim: int = Field(default=8, ge=1, le=100_000)
    network_alpha: float = Field(default=1.0, ge=0, le=2048)
    #: class_tokens of the dataset; None means "the actor's name".
    trigger: str | None = None
    num_repeats: int = Field(default=1, ge=1, le=10_000)
    batch_size: int = Field(default=1, ge=1, le=256)
    lr_scheduler: LrScheduler = "constant"
    lr_warmup_steps: int = Field(default=0, ge=0, le=100_000)
    optimizer_type: OptimizerType = "adamw8bit"
    gradient_dtype: GradientDtype = "bf16"
    save_dtype: SaveDtype = "bf16"
    resolution: int = Field(default=512, ge=64, le=4096)
    #: sampling while training (contract v2 endpoints only; ignored for v1); None: the defaults,
    #: so files written before sampling existed read and write back unchanged
    sampling: SampleSettings | None = None

    @field_validator("trigger")
    @classmethod
    def _strip_trigger(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    @model_validator(mode="after")
    def _warmup_within_steps(self) -> TrainingParameters:
        if self.lr_warmup_steps > self.max_train_steps:
            raise ValueError(
                f"lr_warmup_steps ({self.lr_warmup_steps}) exceeds max_train_steps ({self.max_train_steps})"
            )
        return self

    def trigger_for(self, actor: Actor) -> str:
        return self.trigger or actor.name

    @property
    def sample_settings(self) -> SampleSettings:
        return self.sampling or SampleSettings()

    @model_serializer(mode="wrap")
    def _omit_unset_sampling(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("sampling", 0) is None:
            del data["sampling"]  # written only once someone chose sampling settings
        return data


def steps_per_epoch(image_count: int, num_repeats: int, batch_size: int) -> int:
    """kohya's definition: one epoch sees every image `num_repeats` times."""
    return max(1, math.ceil(max(image_count, 1) * num_repeats / batch_size))


def derived_epochs(image_count: int, params: TrainingParameters) -> int:
    """`epochs = ceil(steps / ceil(images × repeats / batch_size))` (docs/training-workflow.md)."""
    return math.ceil(params.max_train_steps / steps_per_epoch(image_count, params.num_repeats, params.batch_size))


def steps_per_image(image_count: int, params: TrainingParameters) -> float:
    """How many times each image is seen, counting the batch: the number artists reason with."""
    if image_count <= 0:
        return 0.0
    return params.max_train_steps * params.batch_size / image_count


# --- versions (the records they are made of: core/version_records.py) -----------------------------


class TrainingVersion(Record):
    """One training run of an actor: V1, V2, …

    `id` is the RunPod job id exactly as `/run` returned it. Before the job exists (the version is
    written *before* `/run` is called) it holds the app-made `requestId`.
    """

    _always_written: ClassVar[frozenset[str]] = frozenset({"loraUrl", "isGood"})

    id: str = Field(min_length=1)
    name: str = Field(pattern=r"^V[1-9][0-9]*$")
    status: VersionStatus = VersionStatus.PENDING
    loraUrl: str | None = None
    parameters: TrainingParameters = Field(default_factory=TrainingParameters)
    timestamp: datetime = Field(default_factory=utc_now)
    imageCount: int = Field(default=0, ge=0)
    isGood: bool = False
    description: str | None = None
    completedAt: datetime | None = None
    failedAt: datetime | None = None
    error: VersionError | None = None
    progress: Progress | None = None
    # Bookkeeping of this app (not in the original web app's records; other tools keep them as extra fields).
    requestId: str | None = None
    endpoint: str | None = None  # "sandbox" or the RunPod endpoint id the job was sent to
    outputUrl: str | None = None
    webhookTokenHash: str | None = None  # sha256 of the per-job token; the token is never stored
    runpodStatus: str | None = None
    lastCheckedAt: datetime | None = None
    output: Any = None  # the worker's final output, as received
    attempts: list[dict[str, Any]] | None = None  # earlier attempts of this job (RunPod /retry)
    owner: RunOwner | None = None  # sandbox runs only: the process whose simulated worker runs it
    estimate: RunEstimate | None = None  # set at submit (core/estimate.py)
    delayTime: float | None = None  # ms, RunPod's /status: queue and cold start
    executionTime: float | None = None  # ms, RunPod's /status: running on the worker
    # [[step, loss], …] as progress arrived, thinned to at most LOSS_HISTORY_MAX points (core/run_recorder.py),
    # so a relaunched app draws the curve of an earlier run.
    lossHistory: list[tuple[int, float]] | None = None
    # Contract v2 (docs/worker-contract.md): the samples made while training (cumulative, as the
    # worker reported them), the checkpoint LoRAs kept, the Try jobs, and which file was marked good.
    samples: list[Sample] | None = None
    checkpoints: list[Checkpoint] | None = None
    #: kept checkpoints the worker could not upload: step → its reason (they cannot be marked good)
    checkpointFailures: dict[int, str] | None = None
    trials: list[Trial] | None = None
    goodCheckpointStep: int | None = None  # set when a checkpoint (not the final LoRA) was marked good
    contractVersion: int | None = None  # the highest contract_version the worker stated for this run

    @field_validator("status", mode="before")
    @classmethod
    def _status_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return _STATUS_ALIASES.get(lowered, lowered)
        return value

    @property
    def number(self) -> int:
        return int(self.name[1:])

    @property
    def key(self) -> str:
        """The version's stable key: the app-made request id, which never changes (`id` becomes
        the RunPod job id once `/run` answered). Versions written by other tools may lack one."""
        return self.requestId or self.id

    @property
    def actual_seconds(self) -> float | None:
        """The run's time on the endpoint (RunPod's delayTime + executionTime), once known."""
        if self.executionTime is None:
            return None
        return (self.executionTime + (self.delayTime or 0.0)) / 1000.0

    @property
    def job_id(self) -> str | None:
        """The RunPod job id, or None while the job has not been created."""
        if self.requestId is not None and self.id == self.requestId:
            return None
        return self.id

    def reopen_for_retry(self) -> None:
        """RunPod requeued this job (`/retry`, same id): a new attempt, not a step backwards.

        The only way out of a terminal state besides `can_transition`; the failed attempt is kept
        in `attempts`.
        """
        if self.status not in (VersionStatus.FAILED, VersionStatus.TIMED_OUT):
            raise InvalidTransitionError(
                f"{self.name} is {self.status.label}; only a failed or timed-out job can be retried.",
                "Train a new version with the same parameters instead.",
            )
        previous = {
            "status": self.status.value,
            "error": self.error.to_json() if self.error else None,
            "failedAt": self.failedAt.isoformat() if self.failedAt else None,
        }
        self.attempts = [*(self.attempts or []), previous]
        self.status = VersionStatus.QUEUED
        self.error = None
        self.failedAt = None
        self.progress = None

    def move_to(self, new: VersionStatus) -> None:
        """Change the status, refusing any move backwards. Sets completedAt/failedAt."""
        if not can_transition(self.status, new):
            raise InvalidTransitionError(
                f"{self.name} cannot go from {self.status.label} back to {new.label}.",
                "States only move forward; the newer information was kept.",
            )
        if new == self.status:
            return
        self.status = new
        if new is VersionStatus.COMPLETED:
            self.completedAt = utc_now()
        elif new.is_terminal:
            self.failedAt = utc_now()


class VersionsFile(BaseModel):
    """`actor_training_versions/NNNN.json`: `{"versions": [...]}`, newest first."""

    model_config = ConfigDict(extra="allow")

    versions: list[TrainingVersion] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"versions"})
        data["versions"] = [v.to_json() for v in self.versions]
        return data
