"""The `POST /run` body of a training job (docs/worker-contract.md, version 1).

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from actor_trainer.core.contract import CONTRACT_VERSION, DEFAULT_USER_ID, TRAINING_MODE, RunRequest
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.webhook_tokens import WebhookAddressError, new_webhook_token, webhook_url
from actor_trainer.core.workflow import build_workflow, worker_dataset_dir, worker_output_dir

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


def model_name_for(actor: Actor, version_name: str) -> str:
    """`actor_NNNN_Vn`: the LoRA's name everywhere (workflow output name, bucket key, config)."""
    return f"actor_{actor.id:04d}_{version_name}"


def execution_timeout_ms(params: TrainingParameters, image_count: int) -> int:
    """A generous `policy.executionTimeout` for this run, clamped to RunPod's 5 s – 7 d.

    (steps × 1.5 s × (resolution/512)² × batch) × 2, plus 20 min fixed and 5 s per image.
    2000 steps at 512 px, batch 1, 20 images: 100 + 20 + 1.7 min ≈ 2 h 2 min.
    """
    pixel_factor = (params.resolution / REFERENCE_RESOLUTION) ** 2
    training = params.max_train_steps * SECONDS_PER_STEP_AT_512 * pixel_factor * params.batch_size
    seconds = training * TIMEOUT_MARGIN + FIXED_OVERHEAD_SECONDS + SECONDS_PER_IMAGE * max(image_count, 0)
    return max(MIN_EXECUTION_TIMEOUT_MS, min(MAX_POLICY_MS, math.ceil(seconds * 1000)))


def job_ttl_ms(params: TrainingParameters, file_count: int, ttl_ms: int = DEFAULT_TTL_MS) -> int:
    """The job's `policy.ttl`: at least the execution timeout plus an hour of queueing, at most 7 days.
    Presigned training URLs must live this long (the worker may start that late)."""
    return min(MAX_POLICY_MS, max(ttl_ms, execution_timeout_ms(params, file_count) + QUEUE_ALLOWANCE_MS))


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
) -> BuiltRequest:
    """Build and validate the `POST /run` body of one training version.

    Every parameter the user set reaches the workflow unchanged. `webhook_base_url=None` is
    poll-only mode: no `webhook` key at all and no token. A token is made here when none is given.
    `ttl_ms` is raised when needed so that it covers the execution timeout plus an hour of queueing
    (RunPod deletes a job whose ttl expires, even mid-run), and capped at RunPod's 7 days.
    Raises EmptyTrainingDataError without images and RequestBuildError (or
    WorkflowValidationError) for anything that the worker would refuse.
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
    too_long = next((u for u in urls if len(u) > MAX_URL_CHARS
                     or len(u.rsplit("/", 1)[-1].split("?", 1)[0].encode()) > MAX_FILE_NAME_BYTES), None)
    if too_long is not None:
        raise RequestBuildError(
            f"A training file's name or URL is too long ({too_long[:80]!r}…).",
            f"Rename the file (at most {MAX_FILE_NAME_BYTES} bytes) and sync again.",
        )
    if len(user_id) > MAX_USER_ID_CHARS or _CONTROL_CHARS.search(user_id):
        raise RequestBuildError(f"The user id is longer than {MAX_USER_ID_CHARS} characters or holds control "
                                "characters.", "Set a short user id in Settings.")

    model_name = model_name_for(actor, version_name)
    trigger = params.trigger_for(actor)
    if len(trigger) > MAX_TRIGGER_CHARS or _CONTROL_CHARS.search(trigger):
        raise RequestBuildError(
            f"The trigger {trigger[:60]!r}{'…' if len(trigger) > 60 else ''} is longer than {MAX_TRIGGER_CHARS} "
            "characters or holds control characters (it would begin every caption).",
            "Give a shorter trigger (--trigger, or the Trigger field), or rename the actor.",
        )
    workflow = build_workflow(
        params,
        model_name=model_name,
        trigger=trigger,
        dataset_path=worker_dataset_dir(model_name),
        output_dir=worker_output_dir(model_name),
    )
    request_id = request_id or str(uuid.uuid4())
    timeout_ms = execution_timeout_ms(params, len(urls))
    ttl = job_ttl_ms(params, len(urls), ttl_ms)

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
                "contract_version": CONTRACT_VERSION,
                "request_id": request_id,
                "actor_id": actor.id,
                "trigger": trigger,
                "output_url": output_url,
            },
        },
        "policy": {"executionTimeout": timeout_ms, "ttl": ttl},
    }
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
        body=body, request_id=request_id, model_name=model_name, output_url=output_url, webhook_token=token
    )


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:limit]]
    return "; ".join(parts)
