"""The training job contract between the app and the worker, version 1 (docs/worker-contract.md).

The request the app sends to `POST /run`, the progress payload a worker reports while the job is
IN_PROGRESS, the result of a COMPLETED job, and RunPod's status object that carries them. A change
to any of these shapes is a contract version bump.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from actor_trainer.core.models import JobState

CONTRACT_VERSION = 1
TRAINING_MODE = "custom-actors"
DEFAULT_USER_ID = "actor_maker_user"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- request ------------------------------------------------------------------------------------


class TrainingData(_Open):
    s3_urls: list[str] = Field(min_length=1)

    @field_validator("s3_urls")
    @classmethod
    def _no_blank(cls, urls: list[str]) -> list[str]:
        if any(not u.strip() for u in urls):
            raise ValueError("s3_urls holds an empty URL")
        return urls


class TrainingConfig(_Open):
    mode: str = TRAINING_MODE
    user_id: str = DEFAULT_USER_ID
    model_name: str = Field(pattern=r"^actor_\d{4}_V[1-9]\d*$")
    learning_rate: float
    max_train_steps: int
    contract_version: int = CONTRACT_VERSION
    request_id: str
    actor_id: int
    trigger: str
    output_url: str


class JobInput(_Open):
    workflow: dict[str, Any]
    training_data: TrainingData
    training_config: TrainingConfig


class Policy(_Open):
    executionTimeout: int = Field(ge=5_000, le=7 * 24 * 3600 * 1000)
    ttl: int = Field(ge=10_000, le=7 * 24 * 3600 * 1000)


class RunRequest(_Open):
    """The body of `POST /run`. `webhook` and `policy` count only at the top level."""

    input: JobInput
    webhook: str | None = None
    policy: Policy

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return data


# --- progress and result ------------------------------------------------------------------------

Phase = Literal["downloading", "caching", "training", "saving", "uploading"]


class ProgressPayload(_Open):
    phase: str | None = None
    step: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)
    loss: float | None = None
    message: str | None = None


class ModelInfo(_Open):
    size_bytes: int | None = None
    sha256: str | None = None
    network_dim: int | None = None
    network_alpha: float | None = None
    max_train_steps: int | None = None
    learning_rate: float | None = None
    base_model: str | None = None
    download_url: str | None = None


class ResultOutput(_Open):
    status: str | None = None
    loraUrl: str | None = None
    loraName: str | None = None
    s3_url: str | None = None
    model_info: ModelInfo | None = None
    loss_plot_url: str | None = None
    sample_urls: list[str] | None = None
    error: Any = None
    message: str | None = None

    def lora_url(self) -> str | None:
        """`loraUrl`, else `s3_url`, else `model_info.download_url` (workers in the wild use them)."""
        for url in (self.loraUrl, self.s3_url, self.model_info.download_url if self.model_info else None):
            if url:
                return url
        return None

    def says_failed(self) -> bool:
        return (self.status or "").strip().lower() in {"failed", "failure", "error"}

    def failure_message(self) -> str:
        for candidate in (self.message, self.error):
            if isinstance(candidate, str) and candidate.strip():
                return candidate.strip()
            if isinstance(candidate, dict):
                for key in ("error_message", "message", "error"):
                    if isinstance(candidate.get(key), str):
                        return str(candidate[key])
        return "The worker reported a failure without a message."


class JobError(BaseModel):
    """A FAILED job's `error`, parsed: RunPod sends a string that often holds JSON."""

    message: str
    details: Any = None

    @classmethod
    def parse(cls, raw: Any) -> JobError:
        if raw is None:
            return cls(message="The job failed without an error message.")
        if isinstance(raw, dict):
            return cls(message=_message_from(raw), details=raw)
        text = str(raw).strip()
        if text.startswith(("{", "[")):
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                return cls(message=_message_from(decoded), details=decoded)
        return cls(message=text or "The job failed without an error message.", details=None)


def _message_from(obj: dict[str, Any]) -> str:
    for key in ("error_message", "message", "error", "detail"):
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            kind = obj.get("error_type")
            return f"{kind}: {value.strip()}" if isinstance(kind, str) and kind else value.strip()
        if isinstance(value, dict):
            return _message_from(value)
    return json.dumps(obj)[:500]


# --- status ----------------------------------------------------------------------------------


class JobStatus(_Open):
    """RunPod's status object: the answer of `GET /status/{id}` and the body of a webhook."""

    id: str = Field(min_length=1)
    status: JobState
    # Timings and bookkeeping are informational: accept whatever shape an endpoint sends (floats,
    # numbers as worker ids) rather than fail a status answer over them.
    delayTime: float | None = None
    executionTime: float | None = None
    output: Any = None
    error: Any = None
    workerId: Any = None
    retries: int | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status_spelling(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    def progress(self) -> ProgressPayload | str | None:
        """The worker's latest progress: only while the job runs. Any other shape becomes text."""
        if self.status.is_terminal or self.output is None:
            return None
        if isinstance(self.output, dict):
            try:
                return ProgressPayload.model_validate(self.output)
            except ValidationError:
                return json.dumps(self.output)[:500]
        return str(self.output)

    def result(self) -> ResultOutput | None:
        """The final output of a COMPLETED job, or None when there is none usable."""
        if self.status is not JobState.COMPLETED or not isinstance(self.output, dict):
            return None
        try:
            return ResultOutput.model_validate(self.output)
        except ValidationError:
            return None

    def job_error(self) -> JobError:
        return JobError.parse(self.error)
