"""The records a training version is made of: its status and lifecycle (`VersionStatus`,
`can_transition`, RunPod's `JobState`), its error and progress, the sandbox process that owns it,
its estimate, its sampling settings, samples, kept checkpoints and Try jobs.

Split out of models.py (issue 8); `TrainingVersion` and `TrainingParameters` stay there, and
models.py re-exports every name here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from actor_trainer.core.record import Record, utc_now

# --- versions -----------------------------------------------------------------------------------


class VersionStatus(StrEnum):
    PENDING = "pending"  # written before /run is called
    QUEUED = "queued"  # RunPod IN_QUEUE
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"  # RunPod forgot the job and no LoRA was found at output_url

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


TERMINAL_STATUSES = frozenset(
    {
        VersionStatus.COMPLETED,
        VersionStatus.FAILED,
        VersionStatus.CANCELLED,
        VersionStatus.TIMED_OUT,
        VersionStatus.EXPIRED,
    }
)
_RANK = {VersionStatus.PENDING: 0, VersionStatus.QUEUED: 1, VersionStatus.IN_PROGRESS: 2}

# Names other tools (and the original web app) wrote for the same states.
_STATUS_ALIASES = {"training": "in_progress", "running": "in_progress", "in_queue": "queued"}


def can_transition(old: VersionStatus, new: VersionStatus) -> bool:
    """The version lifecycle, in one place: states only move forward.

    pending → queued → in_progress → completed | failed | cancelled | timed_out | expired.
    A terminal state is final, with one exception: `expired` means "RunPod forgot the job and
    no LoRA was found yet", so finding the LoRA (or the worker's failure) later resolves it.
    """
    if old == new:
        return True
    if old.is_terminal:
        return old is VersionStatus.EXPIRED and new in (VersionStatus.COMPLETED, VersionStatus.FAILED)
    if new.is_terminal:
        return True
    return _RANK[new] > _RANK[old]


class VersionError(Record):
    message: str
    details: Any = None


class Progress(Record):
    """The latest progress the worker reported (docs/worker-contract.md), as the app saw it."""

    phase: str | None = None
    step: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)
    loss: float | None = None
    message: str | None = None
    updatedAt: datetime | None = None

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.total:
            return None
        return min(1.0, self.step / self.total)


class RunOwner(Record):
    """The process whose in-process sandbox endpoint runs a sandbox job (docs/architecture.md,
    "Sandbox"): its pid, a random token of that endpoint, and the endpoint's loopback base URL,
    through which another process reaches the run (`/status`, `/cancel`)."""

    pid: int
    token: str = Field(min_length=8)
    url: str
    since: datetime = Field(default_factory=utc_now)


class RunEstimate(Record):
    """What a run was expected to take and cost when it was submitted (core/estimate.py)."""

    seconds: float = Field(ge=0)  # on the endpoint: waiting for a worker plus running
    executionSeconds: float = Field(ge=0)
    delaySeconds: float = Field(ge=0)
    cost: float | None = Field(default=None, ge=0)  # US dollars; None when the GPU has no price
    gpu: str | None = None  # the GPU class priced
    basis: str = ""  # how it was reached, in words ("from 7 runs on this endpoint at 1024 px, batch 1")
    madeAt: datetime = Field(default_factory=utc_now)


class SampleSettings(Record):
    """How a run samples its LoRA while it trains (worker contract v2, docs/worker-contract.md).

    FluxTrainer's validation settings hold one seed, size and step count for every prompt; the
    prompts use `{trigger}`, replaced by the run's trigger word. `every` 0 turns sampling off."""

    prompts: list[str] = Field(
        default_factory=lambda: [
            "a portrait photo of {trigger}, soft light",
            "a three-quarter view photo of {trigger}, looking over the shoulder",
            "a full body photo of {trigger}, standing, plain background",
            "{trigger} sitting in a cafe by a window, film still",
        ],
        max_length=8,
    )
    every: int = Field(default=500, ge=0, le=100_000)  # steps between sample checkpoints
    seed: int = Field(default=42, ge=0, le=2**63 - 1)
    width: int = Field(default=512, ge=64, le=4096)
    height: int = Field(default=512, ge=64, le=4096)
    steps: int = Field(default=20, ge=1, le=256)
    guidance: float = Field(default=3.5, ge=1.0, le=32.0)
    keep_checkpoints: bool = False  # upload each checkpoint's LoRA too, so one can be marked good

    def prompts_for(self, trigger: str) -> list[str]:
        return [p.replace("{trigger}", trigger) for p in self.prompts]


class Sample(Record):
    """One image the worker made: a training sample (per checkpoint) or a Try result."""

    url: str
    prompt: str
    seed: int
    step: int | None = None  # the checkpoint's step (training samples)
    index: int = 0  # the prompt's index (training) or the image's index (Try)


class Checkpoint(Record):
    """A step's LoRA, uploaded when the run asked to keep checkpoints."""

    step: int = Field(ge=1)
    url: str


class Trial(Record):
    """ "Try this version": one generation job with the version's LoRA (contract v2, task "generate")."""

    id: str = Field(min_length=1)  # the app-made request id, then the RunPod job id
    requestId: str | None = None
    status: VersionStatus = VersionStatus.PENDING
    prompt: str
    negative: str = ""
    seed: int = Field(ge=0, le=2**63 - 1)
    count: int = Field(default=1, ge=1, le=8)
    strength: float = Field(default=1.0, ge=-4.0, le=4.0)
    width: int = Field(default=1024, ge=64, le=4096)
    height: int = Field(default=1024, ge=64, le=4096)
    checkpoint_step: int | None = None  # None: the final LoRA
    endpoint: str | None = None  # "sandbox" or the RunPod endpoint id the try was sent to (None: older files)
    images: list[Sample] | None = None
    error: VersionError | None = None
    createdAt: datetime = Field(default_factory=utc_now)


# --- RunPod -------------------------------------------------------------------------------------


class JobState(StrEnum):
    """RunPod Serverless job states (docs/runpod.md)."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    RUNNING = "RUNNING"  # listed in the docs; treated as in progress
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT)

    def to_version_status(self) -> VersionStatus:
        return {
            JobState.IN_QUEUE: VersionStatus.QUEUED,
            JobState.IN_PROGRESS: VersionStatus.IN_PROGRESS,
            JobState.RUNNING: VersionStatus.IN_PROGRESS,
            JobState.COMPLETED: VersionStatus.COMPLETED,
            JobState.FAILED: VersionStatus.FAILED,
            JobState.CANCELLED: VersionStatus.CANCELLED,
            JobState.TIMED_OUT: VersionStatus.TIMED_OUT,
        }[self]
