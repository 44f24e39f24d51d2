"""The `POST /run` body of a generate job ("Try this version", docs/worker-contract.md v2).

`input.task: "generate"`, `input.generate` (the LoRA's URL, prompt, negative prompt, seed, count,
strength, size, sampling steps, guidance, one image URL per image — keys decided by the app,
core/sample_keys.py) and `input.workflow`, the generation graph (core/workflow_generate.py). Sent
only to an endpoint that speaks v2 (core/contract_memory.py). Nothing secret goes in `input`.
"""

from __future__ import annotations

import math
import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from actor_trainer.core.contract import CONTRACT_V2, TASK_GENERATE, GenerateRunRequest
from actor_trainer.core.models import TrainingVersion, Trial
from actor_trainer.core.request_builder import (
    MAX_POLICY_MS,
    MAX_URL_CHARS,
    MIN_EXECUTION_TIMEOUT_MS,
    QUEUE_ALLOWANCE_MS,
    RequestBuildError,
)
from actor_trainer.core.sample_keys import trial_image_key
from actor_trainer.core.webhook_tokens import WebhookAddressError, new_webhook_token, webhook_url
from actor_trainer.core.workflow_generate import DEFAULT_GUIDANCE, DEFAULT_STEPS, build_generate_workflow

# One Flux dev sampling step of a 1024×1024 image takes ~1 s on a 24–48 GB serverless GPU; loading
# Flux and the LoRA (cold) a few minutes. The timeout doubles the work and adds 15 min.
SECONDS_PER_STEP_AT_1024 = 1.0
GENERATE_OVERHEAD_SECONDS = 15 * 60
GENERATE_TTL_MS = 6 * 3600 * 1000


@dataclass(frozen=True)
class BuiltGenerateRequest:
    body: dict[str, Any]
    request_id: str
    image_urls: tuple[str, ...]
    lora_name: str  # the name the graph carries until the worker sets its own unique one
    webhook_token: str | None


def trial_lora_url(version: TrainingVersion, checkpoint_step: int | None) -> str | None:
    """The LoRA a Try uses: the version's final LoRA, or the kept checkpoint of `checkpoint_step`."""
    if checkpoint_step is None:
        return version.loraUrl or version.outputUrl
    return next((c.url for c in version.checkpoints or [] if c.step == checkpoint_step), None)


def trial_image_keys(prefix: str, actor_id: int, model_name: str, request_id: str, count: int) -> list[str]:
    return [trial_image_key(prefix, actor_id, model_name, request_id, i) for i in range(count)]


def generate_timeout_ms(trial: Trial, steps: int = DEFAULT_STEPS) -> int:
    pixels = trial.width * trial.height / 1024**2
    cfg_factor = 2 if trial.negative.strip() else 1
    work = trial.count * steps * SECONDS_PER_STEP_AT_1024 * pixels * cfg_factor
    seconds = work * 2 + GENERATE_OVERHEAD_SECONDS
    return max(MIN_EXECUTION_TIMEOUT_MS, min(MAX_POLICY_MS, math.ceil(seconds * 1000)))


def build_generate_request(
    *,
    trial: Trial,
    lora_url: str,
    image_urls: Sequence[str],
    webhook_base_url: str | None,
    model_name: str,
    webhook_token: str | None = None,
    steps: int = DEFAULT_STEPS,
    guidance: float = DEFAULT_GUIDANCE,
    ttl_ms: int = GENERATE_TTL_MS,
) -> BuiltGenerateRequest:
    """Build and validate the `POST /run` body of a Try. `trial.requestId` (made here when None)
    names the job; `image_urls` holds one URL per image (trial.count). Raises RequestBuildError."""
    urls = [str(u) for u in image_urls]
    if len(urls) != trial.count:
        raise RequestBuildError(
            f"{len(urls)} image URLs were decided for {trial.count} images.",
            "Decide one URL per image (core/sample_keys.py).",
        )
    if not lora_url.strip():
        raise RequestBuildError("This version has no LoRA to try.", "Try a completed version, or a kept checkpoint.")
    if any(len(u) > MAX_URL_CHARS for u in [lora_url, *urls]):
        raise RequestBuildError("A URL of the Try is too long.", "Use a shorter bucket prefix.")
    request_id = trial.requestId or str(uuid.uuid4())
    lora_name = f"{posixpath.basename(model_name) or 'actor'}.safetensors"
    workflow = build_generate_workflow(trial, lora_name, steps=steps, guidance=guidance)
    timeout = generate_timeout_ms(trial, steps)
    body: dict[str, Any] = {
        "input": {
            "task": TASK_GENERATE,
            "generate": {
                "lora_url": lora_url,
                "prompt": trial.prompt,
                "negative": trial.negative,
                "seed": trial.seed,
                "count": trial.count,
                "strength": trial.strength,
                "width": trial.width,
                "height": trial.height,
                "steps": steps,
                "guidance": guidance,
                "image_urls": urls,
                "contract_version": CONTRACT_V2,
                "request_id": request_id,
            },
            "workflow": workflow,
        },
        "policy": {"executionTimeout": timeout, "ttl": min(MAX_POLICY_MS, max(ttl_ms, timeout + QUEUE_ALLOWANCE_MS))},
    }
    token: str | None = None
    if webhook_base_url is not None:
        token = webhook_token or new_webhook_token()
        try:
            body["webhook"] = webhook_url(webhook_base_url, token)
        except WebhookAddressError as exc:
            raise RequestBuildError(exc.message, exc.hint) from exc
    try:
        GenerateRunRequest.model_validate(body)
    except ValidationError as exc:
        first = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise RequestBuildError(
            f"The Try request does not match the worker contract: {first}", "Check the Try's prompt, count and size."
        ) from exc
    return BuiltGenerateRequest(
        body=body, request_id=request_id, image_urls=tuple(urls), lora_name=lora_name, webhook_token=token
    )
