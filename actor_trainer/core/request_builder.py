"""The `POST /run` body of a training job (docs/worker-contract.md, versions 1 and 2).

To an endpoint that speaks v2 (core/contract_memory.py) with sampling on, the body adds
`training_config.sampling`, `sample_urls` (one per prompt per sample step, keys decided by the
app) and, when checkpoints are kept, `checkpoint_urls`; to a v1 endpoint it is exactly the v1 body.

The original web app's request structure plus what a real worker needs: the validated workflow, the training
images, the training config with the app-made request id and the LoRA's final URL, a per-job
webhook URL (unless the app only polls) and a policy whose timeouts fit a LoRA run. Nothing secret
goes in `input`: RunPod echoes it back in the webhook. The webhook token is the one secret, and it
lives only in the webhook URL; the caller stores its sha256.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from actor_trainer.core.contract import CONTRACT_V2, CONTRACT_VERSION, DEFAULT_USER_ID, TRAINING_MODE, RunRequest
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.models import Actor, SampleSettings, TrainingParameters
from actor_trainer.core.webhook_tokens import WebhookAddressError, new_webhook_token, webhook_url
from actor_trainer.core.workflow import (
    build_workflow,
    sample_prompt_list,
    sample_steps_for,
    worker_dataset_dir,
    worker_output_dir,
)

# --- execution time estimate ---------------------------------------------------------------------
# A Flux dev LoRA step (fp8 base, bf16, gradient checkpointing, 512×512, batch 1) takes about 1.5 s
# on a typical 24–48 GB serverless GPU (RTX 4090 / A5000 / L40 class): 2000 steps ≈ 50 min, which
# matches the 20–60 min runs of docs/runpod.md. Time grows with the pixels per step (resolution² ×
# batch). The estimate is doubled (slower GPU types, contention), then fixed time is added for
# loading the models, downloading and caching the images, saving and uploading the LoRA.
SECONDS_PER_STEP_AT_512 = 1.5
REFERENCE_RESOLUTION = 512
TIMEOUT_MARGIN = 2.0
FIXED_OVERHEAD_SECONDS = 20 * 60  # model load (cold start), caching, save, upload
SECONDS_PER_IMAGE = 5  # download + latent caching of one training image
MIN_EXECUTION_TIMEOUT_MS = 5_000  # RunPod's range for policy.executionTimeout: 5 s – 7 d
MAX_POLICY_MS = 7 * 24 * 3600 * 1000  # the upper bound of both executionTimeout and ttl
MIN_TTL_MS = 10_000
# ttl covers queue + run, and RunPod deletes a job when it expires, even mid-run: keep at least this
# much queueing time on top of the execution timeout.
QUEUE_ALLOWANCE_MS = 3600 * 1000
DEFAULT_TTL_MS = 24 * 3600 * 1000

# Sampling while training (contract v2): one Flux dev sampling step of one 512×512 image takes
# about 0.3 s on the same GPU class, growing with the pixels; each image adds ~2 s (VAE decode,
# PNG), each sample checkpoint ~10 s (switching the trainer to eval and back).
SECONDS_PER_SAMPLE_STEP_AT_512 = 0.3
SECONDS_PER_SAMPLE_IMAGE = 2.0
SECONDS_PER_SAMPLE_POINT = 10.0

_VERSION_NAME = re.compile(r"^V[1-9][0-9]*$")
#: Sane limits for text that enters the request (and, on the worker, captions, paths and the bucket):
#: the trigger becomes each caption's prefix; a URL names one training file (a presigned one is ~1.5 kB).
MAX_TRIGGER_CHARS = 200
MAX_URL_CHARS = 4096
MAX_FILE_NAME_BYTES = 255  # what ext4, APFS and NTFS allow for one name
MAX_USER_ID_CHARS = 128
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RequestBuildError(ActorTrainerError):
    """The training request could not be built; nothing was sent."""


class EmptyTrainingDataError(RequestBuildError):
    def __init__(self, actor: Actor) -> None:
        super().__init__(
            f"Actor {actor.folder_name} ({actor.name}) has no training images in the bucket.",
            "Add images to the actor's training_data folder and sync them before training.",
        )
        self.actor_id = actor.id


@dataclass(frozen=True)
class BuiltRequest:
    """A ready `POST /run` body and the facts the caller records before sending it."""

    body: dict[str, Any]  # exactly the RunRequest JSON of docs/worker-contract.md
    request_id: str
    model_name: str  # actor_NNNN_Vn
    output_url: str
    webhook_token: str | None  # the per-job secret (the caller stores only its sha256)
    contract_version: int = CONTRACT_VERSION
    #: v2 with sampling: the steps sampled, and sample_urls[i][j] for step i, prompt j
    sample_steps: tuple[int, ...] = ()
    sample_urls: tuple[tuple[str, ...], ...] = ()
    checkpoint_urls: dict[int, str] = field(default_factory=dict)


def sampling_active(params: TrainingParameters, contract_version: int) -> bool:
    """Whether a run samples: only on a v2 endpoint, with `every` above 0."""
    return contract_version >= CONTRACT_V2 and params.sample_settings.every > 0


def sample_plan(params: TrainingParameters, contract_version: int) -> tuple[list[int], list[int]]:
    """(the steps sampled, the steps whose checkpoint LoRA is uploaded) of a run; ([], []) without sampling.

    The caller decides a URL for each (core/sample_keys.py) before building the request."""
    if not sampling_active(params, contract_version):
        return [], []
    steps = sample_steps_for(params.sample_settings.every, params.max_train_steps)
    keep = [s for s in steps if s != params.max_train_steps] if params.sample_settings.keep_checkpoints else []
    return steps, keep


def sampling_seconds(
    settings: SampleSettings | None, steps: int, seconds_per_sample_step: float | None = None
) -> float:
    """GPU seconds a run of `steps` training steps spends sampling (0 when `every` is 0).

    sample checkpoints × (prompts × (sampling steps × per-step cost × (w·h / 512²) + per image)
    + per checkpoint). `seconds_per_sample_step` overrides the 512×512 per-step cost (a GPU class's).
    """
    if settings is None or settings.every <= 0 or steps < 1:
        return 0.0
    points = len(sample_steps_for(settings.every, steps))
    per_step = SECONDS_PER_SAMPLE_STEP_AT_512 if seconds_per_sample_step is None else seconds_per_sample_step
    pixels = settings.width * settings.height / REFERENCE_RESOLUTION**2
    per_image = settings.steps * per_step * pixels + SECONDS_PER_SAMPLE_IMAGE
    return points * (len(settings.prompts) * per_image + SECONDS_PER_SAMPLE_POINT)


def model_name_for(actor: Actor, version_name: str) -> str:
    """`actor_NNNN_Vn`: the LoRA's name everywhere (workflow output name, bucket key, config)."""
    return f"actor_{actor.id:04d}_{version_name}"


def execution_timeout_ms(params: TrainingParameters, image_count: int, contract_version: int = CONTRACT_VERSION) -> int:
    """A generous `policy.executionTimeout` for this run, clamped to RunPod's 5 s – 7 d.

    (steps × 1.5 s × (resolution/512)² × batch + sampling) × 2, plus 20 min fixed and 5 s per image.
    2000 steps at 512 px, batch 1, 20 images, no sampling: 100 + 20 + 1.7 min ≈ 2 h 2 min.
    """
    pixel_factor = (params.resolution / REFERENCE_RESOLUTION) ** 2
    training = params.max_train_steps * SECONDS_PER_STEP_AT_512 * pixel_factor * params.batch_size
    if sampling_active(params, contract_version):
        training += sampling_seconds(params.sample_settings, params.max_train_steps)
    seconds = training * TIMEOUT_MARGIN + FIXED_OVERHEAD_SECONDS + SECONDS_PER_IMAGE * max(image_count, 0)
    return max(MIN_EXECUTION_TIMEOUT_MS, min(MAX_POLICY_MS, math.ceil(seconds * 1000)))


def job_ttl_ms(
    params: TrainingParameters, file_count: int, ttl_ms: int = DEFAULT_TTL_MS, contract_version: int = CONTRACT_VERSION
) -> int:
    """The job's `policy.ttl`: at least the execution timeout plus an hour of queueing, at most 7 days.
    Presigned training URLs (and v2's presigned sample and checkpoint URLs) must live this long."""
    timeout = execution_timeout_ms(params, file_count, contract_version)
    return min(MAX_POLICY_MS, max(ttl_ms, timeout + QUEUE_ALLOWANCE_MS))


def build_run_request(
    *,
    actor: Actor,
    params: TrainingParameters,
    version_name: str,
    training_urls: Sequence[str],
    output_url: str,
    webhook_base_url: str | None,
    request_id: str | None = None,
    webhook_token: str | None = None,
    user_id: str = DEFAULT_USER_ID,
    ttl_ms: int = DEFAULT_TTL_MS,
    contract_version: int = CONTRACT_VERSION,
    sample_url: Callable[[int, int], str] | None = None,
    checkpoint_url: Callable[[int], str] | None = None,
) -> BuiltRequest:
    """Build and validate the `POST /run` body of one training version.

    Every parameter the user set reaches the workflow unchanged. `webhook_base_url=None` is
    poll-only mode: no `webhook` key at all and no token. A token is made here when none is given.
    `ttl_ms` is raised when needed so that it covers the execution timeout plus an hour of queueing
    (RunPod deletes a job whose ttl expires, even mid-run), and capped at RunPod's 7 days.
    Raises EmptyTrainingDataError without images and RequestBuildError (or
    WorkflowValidationError) for anything that the worker would refuse.

    `contract_version` is the endpoint's (core/contract_memory.py): 1 gives exactly the v1 body.
    With 2 and `params.sample_settings.every` > 0, the graph samples and `sample_url(step, prompt
    index)` names each sample's URL (and `checkpoint_url(step)` each kept checkpoint's, when
    `keep_checkpoints`); see `sample_plan` for the steps. With 2 and sampling off, the body is v1's
    but states contract_version 2.
    """
    urls = [str(u) for u in training_urls]
    if not urls:
        raise EmptyTrainingDataError(actor)
    blank = [i for i, u in enumerate(urls) if not u.strip()]
    if blank:
        raise RequestBuildError(
            f"Training URL number {blank[0] + 1} of actor {actor.folder_name} is empty.",
            "Refresh the actor's sync state and try again.",
        )
    if not _VERSION_NAME.match(version_name):
        raise RequestBuildError(f"{version_name!r} is not a version name.", "Version names are V1, V2, V3, …")
    if not output_url.strip():
        raise RequestBuildError(
            "No output URL was decided for the LoRA.", "Check the storage settings (bucket and prefix)."
        )
    if request_id is not None and not request_id.strip():
        raise RequestBuildError("The request id is empty.", "Leave it out to have one made.")
    too_long = next(
        (
            u
            for u in urls
            if len(u) > MAX_URL_CHARS or len(u.rsplit("/", 1)[-1].split("?", 1)[0].encode()) > MAX_FILE_NAME_BYTES
        ),
        None,
    )
    if too_long is not None:
        raise RequestBuildError(
            f"A training file's name or URL is too long ({too_long[:80]!r}…).",
            f"Rename the file (at most {MAX_FILE_NAME_BYTES} bytes) and sync again.",
        )
    if len(user_id) > MAX_USER_ID_CHARS or _CONTROL_CHARS.search(user_id):
        raise RequestBuildError(
            f"The user id is longer than {MAX_USER_ID_CHARS} characters or holds control characters.",
            "Set a short user id in Settings.",
        )

    model_name = model_name_for(actor, version_name)
    trigger = params.trigger_for(actor)
    if len(trigger) > MAX_TRIGGER_CHARS or _CONTROL_CHARS.search(trigger):
        raise RequestBuildError(
            f"The trigger {trigger[:60]!r}{'…' if len(trigger) > 60 else ''} is longer than {MAX_TRIGGER_CHARS} "
            "characters or holds control characters (it would begin every caption).",
            "Give a shorter trigger (--trigger, or the Trigger field), or rename the actor.",
        )
    if contract_version not in (CONTRACT_VERSION, CONTRACT_V2):
        raise RequestBuildError(
            f"Worker contract version {contract_version} is not one this app speaks.",
            "Set the worker contract to auto, 1 or 2 in Settings.",
        )
    sample_steps, checkpoint_steps = sample_plan(params, contract_version)
    sampling = params.sample_settings if sample_steps else None
    prompts = sample_prompt_list(sampling, trigger) if sampling is not None else []
    sample_urls: list[list[str]] = []
    checkpoint_urls: dict[int, str] = {}
    if sampling is not None:
        if sample_url is None or (checkpoint_steps and checkpoint_url is None):
            raise RequestBuildError(
                "No URLs were decided for the run's samples or checkpoints.",
                "Check the storage settings (bucket and prefix).",
            )
        sample_urls = [[sample_url(step, index) for index in range(len(prompts))] for step in sample_steps]
        checkpoint_urls = {step: checkpoint_url(step) for step in checkpoint_steps} if checkpoint_url else {}
    workflow = build_workflow(
        params,
        model_name=model_name,
        trigger=trigger,
        dataset_path=worker_dataset_dir(model_name),
        output_dir=worker_output_dir(model_name),
        sampling=sampling,
    )
    request_id = request_id or str(uuid.uuid4())
    timeout_ms = execution_timeout_ms(params, len(urls), contract_version)
    ttl = job_ttl_ms(params, len(urls), ttl_ms, contract_version)

    body: dict[str, Any] = {
        "input": {
            "workflow": workflow,
            "training_data": {"s3_urls": urls},
            "training_config": {
                "mode": TRAINING_MODE,
                "user_id": user_id,
                "model_name": model_name,
                "learning_rate": params.learning_rate,
                "max_train_steps": params.max_train_steps,
                "contract_version": contract_version,
                "request_id": request_id,
                "actor_id": actor.id,
                "trigger": trigger,
                "output_url": output_url,
            },
        },
        "policy": {"executionTimeout": timeout_ms, "ttl": ttl},
    }
    if sampling is not None:
        config = body["input"]["training_config"]
        config["sampling"] = {
            "prompts": prompts,
            "seed": sampling.seed,
            "width": sampling.width,
            "height": sampling.height,
            "steps": sampling.steps,
            "guidance": sampling.guidance,
            "sample_steps": sample_steps,
        }
        config["sample_urls"] = sample_urls
        if checkpoint_urls:
            config["checkpoint_urls"] = {str(step): url for step, url in checkpoint_urls.items()}
    token: str | None = None
    if webhook_base_url is not None:
        token = webhook_token or new_webhook_token()
        try:
            body["webhook"] = webhook_url(webhook_base_url, token)
        except WebhookAddressError as exc:
            raise RequestBuildError(exc.message, exc.hint) from exc

    try:
        RunRequest.model_validate(body)
    except ValidationError as exc:
        raise RequestBuildError(
            f"The training request does not match the worker contract: {_first_errors(exc)}",
            "Check the parameters and settings named above.",
        ) from exc
    return BuiltRequest(
        body=body,
        request_id=request_id,
        model_name=model_name,
        output_url=output_url,
        webhook_token=token,
        contract_version=contract_version,
        sample_steps=tuple(sample_steps),
        sample_urls=tuple(tuple(row) for row in sample_urls),
        checkpoint_urls=checkpoint_urls,
    )


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:limit]]
    return "; ".join(parts)
