"""The ComfyUI generation graph of "Try this version" (worker contract v2, task "generate").

The template `resources/workflows/flux_lora_generate.json` is Flux dev (UNETLoader, DualCLIPLoader,
VAELoader) with the version's LoRA (LoraLoaderModelOnly) at a chosen strength, the prompt
(CLIPTextEncode → FluxGuidance), a negative prompt, EmptySD3LatentImage for size and count,
KSampler, VAEDecode and SaveImage. `build_generate_workflow` writes a Trial into it by node id and
input name and validates the result like the training graph (docs/training-workflow.md, "The
generation graph"). The worker downloads the LoRA into ComfyUI's `models/loras/` under a unique
name and sets every LoraLoaderModelOnly's `lora_name` to it.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from actor_trainer.core import resources
from actor_trainer.core.models import Trial
from actor_trainer.core.workflow_validation import WorkflowValidationError, validate_generate_workflow

GENERATE_TEMPLATE_RESOURCE = ("workflows", "flux_lora_generate.json")

UNET_NODE = "1"
LORA_NODE = "4"
PROMPT_NODE = "5"
GUIDANCE_NODE = "6"
NEGATIVE_NODE = "7"
LATENT_NODE = "8"
SAMPLER_NODE = "9"
SAVE_NODE = "11"

GENERATE_CLASS_TYPES: dict[str, str] = {
    UNET_NODE: "UNETLoader",
    LORA_NODE: "LoraLoaderModelOnly",
    PROMPT_NODE: "CLIPTextEncode",
    GUIDANCE_NODE: "FluxGuidance",
    NEGATIVE_NODE: "CLIPTextEncode",
    LATENT_NODE: "EmptySD3LatentImage",
    SAMPLER_NODE: "KSampler",
    SAVE_NODE: "SaveImage",
}

DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 3.5
#: Flux dev is guidance-distilled: at cfg 1 ComfyUI skips the negative prompt entirely. With a
#: negative prompt the sampler uses real CFG at this scale (each step runs twice).
NEGATIVE_CFG = 2.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@functools.lru_cache(maxsize=1)
def _template_text() -> str:
    return resources.read_text(*GENERATE_TEMPLATE_RESOURCE)


def load_generate_template() -> dict[str, Any]:
    data = json.loads(_template_text())
    if not isinstance(data, dict):
        raise WorkflowValidationError(["the generation template is not a JSON object"])
    problems = [
        f"the generation template has no node {node_id} of class {class_type}"
        for node_id, class_type in GENERATE_CLASS_TYPES.items()
        if not isinstance(data.get(node_id), dict) or data[node_id].get("class_type") != class_type
    ]
    if problems:
        raise WorkflowValidationError(problems)
    return data


def trial_filename_prefix(trial: Trial) -> str:
    return f"trials/{_SAFE.sub('_', trial.requestId or trial.id)[:100]}"


def build_generate_workflow(
    trial: Trial, lora_name: str, *, steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE
) -> dict[str, Any]:
    """The generation graph for `trial` with the LoRA file `lora_name` (under models/loras/), validated.

    count images of width × height in one batch from `seed`; the prompt and negative prompt as
    given; the LoRA at `strength`. Raises WorkflowValidationError if ComfyUI would refuse it.
    """
    problems = []
    if not lora_name.strip() or "/" in lora_name or "\\" in lora_name or lora_name.startswith("."):
        problems.append(f"lora_name {lora_name!r} must be a plain file name")
    if not trial.prompt.strip():
        problems.append("the prompt is empty")
    if problems:
        raise WorkflowValidationError(problems)
    graph = load_generate_template()
    graph[LORA_NODE]["inputs"].update(lora_name=lora_name, strength_model=float(trial.strength))
    graph[PROMPT_NODE]["inputs"]["text"] = trial.prompt
    graph[NEGATIVE_NODE]["inputs"]["text"] = trial.negative
    graph[GUIDANCE_NODE]["inputs"]["guidance"] = float(guidance)
    graph[LATENT_NODE]["inputs"].update(width=trial.width, height=trial.height, batch_size=trial.count)
    graph[SAMPLER_NODE]["inputs"].update(
        seed=trial.seed, steps=steps, cfg=NEGATIVE_CFG if trial.negative.strip() else 1.0
    )
    graph[SAVE_NODE]["inputs"]["filename_prefix"] = trial_filename_prefix(trial)
    validate_generate_workflow(graph)
    return graph
