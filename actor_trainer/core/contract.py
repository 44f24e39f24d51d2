"""The job contract between the app and the worker, versions 1 and 2 (docs/worker-contract.md).

The request the app sends to `POST /run`, the progress payload a worker reports while the job is
IN_PROGRESS, the result of a COMPLETED job, and RunPod's status object that carries them. A change
to any of these shapes is a contract version bump.

Version 2 adds, all optional so that a v1 worker's answers still parse: sampling while training
(`training_config.sampling`, `sample_urls`, `checkpoint_urls`; `samples` in progress and result,
cumulative), checkpoint LoRAs (`checkpoints` in progress, cumulative, and in the result;
`checkpoint_failures` for those not uploaded), the worker's `contract_version` in
progress and result, and a second job type, `input.task: "generate"` ("Try this version").
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actor_trainer.core.models import Checkpoint, JobState, Sample

#: The version of the v1 body (what the app sends to an endpoint not known to speak v2).
CONTRACT_VERSION = 1
CONTRACT_V1 = 1
CONTRACT_V2 = 2
LATEST_CONTRACT_VERSION = CONTRACT_V2
SUPPORTED_CONTRACT_VERSIONS = (CONTRACT_V1, CONTRACT_V2)
TASK_TRAIN = "train"
TASK_GENERATE = "generate"
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


class SamplingConfig(_Open):
    """`training_config.sampling` (v2): FluxTrainer's validation settings hold one seed, size and
    step count for every prompt. The prompts already hold the trigger; `sample_steps` are the
    training steps after which the worker samples (ascending)."""

    prompts: list[str] = Field(min_length=1, max_length=8)
    seed: int = Field(ge=0, le=2**64 - 1)
    width: int = Field(ge=64, le=4096)
    height: int = Field(ge=64, le=4096)
    steps: int = Field(ge=1, le=256)
    guidance: float = Field(ge=1.0, le=32.0)
    sample_steps: list[int] = Field(min_length=1)

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, prompts: list[str]) -> list[str]:
        if any(not p.strip() or "|" in p or "\n" in p for p in prompts):
            raise ValueError("a sample prompt is empty or holds '|' or a line break")
        return prompts

    @field_validator("sample_steps")
    @classmethod
    def _ascending(cls, steps: list[int]) -> list[int]:
        if any(s < 1 for s in steps) or steps != sorted(set(steps)):
            raise ValueError("sample_steps must be distinct positive steps in ascending order")
        return steps


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
    # --- v2 (absent in a v1 body) ---
    sampling: SamplingConfig | None = None
    #: one URL per prompt per sample step: sample_urls[i][j] is sample step i, prompt j
    sample_urls: list[list[str]] | None = None
    #: step (as text) -> where the worker uploads that checkpoint's LoRA
    checkpoint_urls: dict[str, str] | None = None

    @model_validator(mode="after")
    def _v2_fields(self) -> TrainingConfig:
        v2 = self.sampling is not None or self.sample_urls is not None or self.checkpoint_urls is not None
        if v2 and self.contract_version < CONTRACT_V2:
            raise ValueError("sampling, sample_urls and checkpoint_urls need contract_version 2")
        if (self.sampling is None) != (self.sample_urls is None):
            raise ValueError("sampling and sample_urls come together")
        if self.sampling is not None and self.sample_urls is not None:
            rows, width = len(self.sampling.sample_steps), len(self.sampling.prompts)
            if len(self.sample_urls) != rows or any(
                len(r) != width or not all(u.strip() for u in r) for r in self.sample_urls
            ):
                raise ValueError(f"sample_urls must be {rows} lists (one per sample step) of {width} URLs")
            if max(self.sampling.sample_steps) > self.max_train_steps:
                raise ValueError("a sample step is beyond max_train_steps")
        for step, url in (self.checkpoint_urls or {}).items():
            if not step.isdigit() or not 1 <= int(step) <= self.max_train_steps or not url.strip():
                raise ValueError(f"checkpoint_urls: {step!r} is not a step of this run with a URL")
        return self


class JobInput(_Open):
    task: Literal["train"] | None = None  # v2: absent or "train"
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


class GenerateConfig(_Open):
    """`input.generate` (v2): one "Try this version" job with a version's LoRA."""

    lora_url: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    negative: str = ""
    seed: int = Field(ge=0, le=2**64 - 1)
    count: int = Field(ge=1, le=8)
    strength: float = Field(ge=-4.0, le=4.0)
    width: int = Field(ge=64, le=4096)
    height: int = Field(ge=64, le=4096)
    steps: int = Field(ge=1, le=256)
    guidance: float = Field(ge=0.0, le=100.0)
    image_urls: list[str] = Field(min_length=1, max_length=8)  # one per image, decided by the app
    contract_version: int = CONTRACT_V2
    request_id: str | None = None

    @model_validator(mode="after")
    def _one_url_per_image(self) -> GenerateConfig:
        if len(self.image_urls) != self.count or any(not u.strip() for u in self.image_urls):
            raise ValueError(f"image_urls must hold {self.count} URLs (one per image)")
        if self.contract_version < CONTRACT_V2:
            raise ValueError("a generate job needs contract_version 2")
        return self


class GenerateJobInput(_Open):
    task: Literal["generate"]
    generate: GenerateConfig
    workflow: dict[str, Any]


class GenerateRunRequest(_Open):
    """The body of `POST /run` for a generate job (contract v2)."""

    input: GenerateJobInput
    webhook: str | None = None
    policy: Policy

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return data


# --- progress and result ------------------------------------------------------------------------

Phase = Literal["downloading", "caching", "training", "sampling", "saving", "uploading", "generating"]


class ProgressPayload(_Open):
    phase: str | None = None
    step: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)
    loss: float | None = None
    message: str | None = None
    # v2: every sample and kept checkpoint so far (cumulative: /status shows only the latest
    # payload), and the checkpoints that could not be uploaded; read through samples_of(),
    # checkpoints_of() and checkpoint_failures_of(), which skip malformed entries instead of failing
    samples: Any = None
    checkpoints: Any = None
    checkpoint_failures: Any = None
    contract_version: Any = None


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
    # v2 (read through samples_of / checkpoints_of / images_of / contract_version_of)
    samples: Any = None
    checkpoints: Any = None
    checkpoint_failures: Any = None
    images: Any = None  # a generate job's result
    contract_version: Any = None

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


# --- v2 readers (lenient: a v1 worker's payload gives no samples, a malformed entry is skipped) -----


def _mapping(payload: Any) -> dict[str, Any]:
    if isinstance(payload, JobStatus):
        payload = payload.output
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return payload if isinstance(payload, dict) else {}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def contract_version_of(payload: Any) -> int | None:
    """The `contract_version` a worker stated in a progress payload or result (None: not stated, v1)."""
    version = _int_or_none(_mapping(payload).get("contract_version"))
    return version if version is not None and version >= 1 else None


def _samples(entries: Any, *, training: bool) -> list[Sample]:
    if not isinstance(entries, list):
        return []
    found: dict[tuple[int | None, int], Sample] = {}
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        url, prompt = entry.get("url"), entry.get("prompt")
        seed, step = _int_or_none(entry.get("seed")), _int_or_none(entry.get("step"))
        index = _int_or_none(entry.get("index"))
        if not isinstance(url, str) or not url.strip() or not isinstance(prompt, str) or seed is None or seed < 0:
            continue
        if training and (step is None or step < 0):
            continue
        index = position if index is None or index < 0 else index
        found[(step, index)] = Sample(url=url, prompt=prompt, seed=seed, step=step, index=index)  # last one wins
    return sorted(found.values(), key=lambda s: (s.step or 0, s.index))


def samples_of(payload: Any) -> list[Sample]:
    """Every training sample in a progress payload or result (by step, then prompt index); [] for v1."""
    return _samples(_mapping(payload).get("samples"), training=True)


def images_of(result: Any) -> list[Sample]:
    """The images of a generate job's result, by index ([] when there are none)."""
    return _samples(_mapping(result).get("images"), training=False)


def checkpoints_of(result: Any) -> list[Checkpoint]:
    """The checkpoint LoRAs a progress payload or result lists, by step (malformed entries skipped)."""
    entries = _mapping(result).get("checkpoints")
    found: dict[int, Checkpoint] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        step, url = _int_or_none(entry.get("step")), entry.get("url")
        if step is not None and step >= 1 and isinstance(url, str) and url.strip():
            found[step] = Checkpoint(step=step, url=url)
    return [found[s] for s in sorted(found)]


def checkpoint_failures_of(payload: Any) -> list[tuple[int, str]]:
    """The kept checkpoints a progress payload or result says could not be uploaded: (step, the
    worker's reason), by step; [] when none (or from a worker that does not say)."""
    entries = _mapping(payload).get("checkpoint_failures")
    found: dict[int, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        step, error = _int_or_none(entry.get("step")), entry.get("error")
        if step is not None and step >= 1:
            found[step] = error.strip() if isinstance(error, str) and error.strip() else "no reason given"
    return [(s, found[s]) for s in sorted(found)]
