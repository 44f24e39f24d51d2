"""The ComfyUI training workflow: the template, the builder that fills it, and its validation.

The template (`resources/workflows/flux_lora_training.json`, read through `core/resources.py`) is the API-format graph
of docs/training-workflow.md. `build_workflow` copies it and writes every parameter the user set,
unchanged, into the node input that carries it (by node id and input name, never by string
templating). `validate_workflow` checks a graph against what the FluxTrainer nodes accept, so that a
misspelt optimizer or an out-of-range value is caught before a GPU is paid for.
"""

from __future__ import annotations

import functools
import json
import posixpath
from typing import Any

from actor_trainer.core import resources
from actor_trainer.core.models import SampleSettings, TrainingParameters
from actor_trainer.core.workflow_nodes import MAX_STEPS_PER_LOOP
from actor_trainer.core.workflow_summary import (
    WorkflowSummary,
    checkpoint_filename,
    describe_workflow,
    expected_output_filename,
)
from actor_trainer.core.workflow_validation import WorkflowValidationError, validate_workflow

__all__ = [
    "WorkflowSummary",
    "WorkflowValidationError",
    "build_workflow",
    "checkpoint_filename",
    "describe_workflow",
    "expected_output_filename",
    "load_template",
    "sample_filename_prefix",
    "sample_prompt_list",
    "sample_prompts_for",
    "sample_steps_for",
    "split_steps",
    "validate_workflow",
    "worker_dataset_dir",
    "worker_output_dir",
]

# Node ids of the template (docs/training-workflow.md, "The graph").
MODEL_NODE = "2"
DATASET_CONFIG_NODE = "108"
DATASET_NODE = "109"
OPTIMIZER_NODE = "95"
INIT_NODE = "107"
LOOP_NODE = "4"
SAVE_NODE = "14"
LOSS_PLOT_NODE = "97"
LOSS_IMAGE_NODE = "98"
END_NODE = "133"

TEMPLATE_CLASS_TYPES: dict[str, str] = {
    MODEL_NODE: "FluxTrainModelSelect",
    DATASET_CONFIG_NODE: "TrainDatasetGeneralConfig",
    DATASET_NODE: "TrainDatasetAdd",
    OPTIMIZER_NODE: "OptimizerConfig",
    INIT_NODE: "InitFluxLoRATraining",
    LOOP_NODE: "FluxTrainLoop",
    SAVE_NODE: "FluxTrainSave",
    LOSS_PLOT_NODE: "VisualizeLoss",
    LOSS_IMAGE_NODE: "SaveImage",
    END_NODE: "FluxTrainEnd",
}

# Where the worker keeps a job's files. It downloads the job's s3_urls into the dataset folder named
# in the workflow (TrainDatasetAdd.dataset_path) and finds the LoRA in the output folder.
WORKER_DATASET_ROOT = "/workspace/datasets"
WORKER_OUTPUT_ROOT = "/workspace/output"

TEMPLATE_RESOURCE = ("workflows", "flux_lora_training.json")


def worker_dataset_dir(model_name: str) -> str:
    return posixpath.join(WORKER_DATASET_ROOT, model_name)


def worker_output_dir(model_name: str) -> str:
    return posixpath.join(WORKER_OUTPUT_ROOT, model_name)


def default_sample_prompt(trigger: str) -> str:
    return f"photo of {trigger}, portrait, natural light"


def sample_prompts_for(trigger: str, sample_prompt: str | None = None) -> str:
    """The `sample_prompts` input: prompts separated by `|`, each one naming the trigger.

    A prompt given without the trigger gets it prepended: a sample that does not use the trigger
    shows the base model, not the LoRA.
    """
    prompts = [p.strip() for p in (sample_prompt or "").split("|") if p.strip()]
    if not prompts:
        return default_sample_prompt(trigger)
    return " | ".join(p if trigger in p else f"{trigger}, {p}" for p in prompts)


# --- sampling while training (worker contract v2, docs/training-workflow.md "Samples") -------------

#: at most this many sample checkpoints per run (each one pauses training to draw every prompt)
MAX_SAMPLE_POINTS = 40
#: FluxTrainValidationSettings' schedule shift, as the node's own defaults
VALIDATION_SHIFT = {"shift": True, "base_shift": 0.5, "max_shift": 1.15}


def sample_steps_for(every: int, total: int) -> list[int]:
    """The steps after which a run samples: every `every` steps, and the last step. [] when off."""
    if every <= 0 or total < 1:
        return []
    steps = list(range(every, total + 1, every))
    if not steps or steps[-1] != total:
        steps.append(total)
    return steps


def sample_prompt_list(sampling: SampleSettings, trigger: str) -> list[str]:
    """The sample prompts with the trigger in each (prepended where a prompt does not name it)."""
    prompts = [" ".join(p.split()) for p in sampling.prompts_for(trigger)]
    return [p if trigger in p else f"{trigger}, {p}" for p in prompts if p]


def sample_filename_prefix(model_name: str, step: int) -> str:
    """SaveImage's `filename_prefix` for the samples of `step`: the worker reads the step from it."""
    return f"{model_name}/samples/step{step:06d}"


def _sampling_problems(prompts: list[str], points: list[int]) -> list[str]:
    problems = []
    if not prompts:
        problems.append("sampling is on but there is no sample prompt")
    for prompt in prompts:
        if "|" in prompt or " --" in prompt:
            problems.append(f"sample prompt {prompt[:60]!r} holds '|' or ' --' (FluxTrainer would split it)")
    if len(points) > MAX_SAMPLE_POINTS:
        problems.append(
            f"sampling every {points[0]} steps makes {len(points)} sample checkpoints; "
            f"at most {MAX_SAMPLE_POINTS} (sample less often)"
        )
    return problems


def split_steps(total: int) -> list[int]:
    """Step counts of chained FluxTrainLoop nodes: each at most 10000, adding up to `total`."""
    if total < 1:
        raise ValueError(f"total steps must be at least 1, not {total}")
    full, rest = divmod(total, MAX_STEPS_PER_LOOP)
    return [MAX_STEPS_PER_LOOP] * full + ([rest] if rest else [])


@functools.lru_cache(maxsize=1)
def _template_text() -> str:
    return resources.read_text(*TEMPLATE_RESOURCE)


def load_template() -> dict[str, Any]:
    """A fresh copy of the workflow template (callers may change it freely)."""
    data = json.loads(_template_text())
    if not isinstance(data, dict):
        raise WorkflowValidationError(["the workflow template is not a JSON object"])
    return data


def build_workflow(
    params: TrainingParameters,
    *,
    model_name: str,
    trigger: str,
    dataset_path: str,
    output_dir: str,
    sample_prompt: str | None = None,
    sampling: SampleSettings | None = None,
) -> dict[str, Any]:
    """The template with every parameter the user set written unchanged, validated.

    With `sampling` (contract v2 only; None or `every` 0: no sampling, the v1 graph) the training
    is split into FluxTrainLoop segments of `every` steps; after each one a FluxTrainValidate draws
    every sample prompt with one FluxTrainValidationSettings, and a SaveImage stores the images
    under `<model_name>/samples/step000500`; with `keep_checkpoints` a FluxTrainSave before it
    writes that step's LoRA (`<stem>-step00000500.safetensors`), except after the last step.

    learning_rate, max_train_steps, network_dim, network_alpha, gradient_dtype, save_dtype go to
    InitFluxLoRATraining (107); optimizer_type, lr_scheduler, lr_warmup_steps to OptimizerConfig
    (95); batch_size, num_repeats, the trigger (class_tokens), the dataset folder and the resolution
    to TrainDatasetAdd (109). Above 10000 steps, FluxTrainLoop nodes are chained so that their steps
    add up to max_train_steps. Raises WorkflowValidationError if the result would be refused.
    """
    problems = [
        f"{label} is empty"
        for label, value in (
            ("model_name", model_name),
            ("trigger", trigger),
            ("dataset_path", dataset_path),
            ("output_dir", output_dir),
        )
        if not value.strip()
    ]
    if "/" in model_name or "\\" in model_name:
        problems.append(f"model_name {model_name!r} must not contain a path separator")
    trigger = trigger.strip()
    points = sample_steps_for(sampling.every, params.max_train_steps) if sampling is not None else []
    prompts = sample_prompt_list(sampling, trigger) if sampling is not None and points else []
    if points:
        problems.extend(_sampling_problems(prompts, points))
    if problems:
        raise WorkflowValidationError(problems)

    workflow = load_template()
    _check_template(workflow)
    nodes = {node_id: workflow[node_id]["inputs"] for node_id in TEMPLATE_CLASS_TYPES}

    nodes[INIT_NODE].update(
        output_name=model_name,
        output_dir=output_dir,
        network_dim=params.network_dim,
        network_alpha=params.network_alpha,
        learning_rate=params.learning_rate,
        max_train_steps=params.max_train_steps,
        gradient_dtype=params.gradient_dtype,
        save_dtype=params.save_dtype,
        sample_prompts="|".join(prompts) if points else sample_prompts_for(trigger, sample_prompt),
    )
    nodes[OPTIMIZER_NODE].update(
        optimizer_type=params.optimizer_type,
        lr_scheduler=params.lr_scheduler,
        lr_warmup_steps=params.lr_warmup_steps,
    )
    dataset = nodes[DATASET_NODE]
    dataset.update(
        batch_size=params.batch_size,
        num_repeats=params.num_repeats,
        class_tokens=trigger,
        dataset_path=dataset_path,
        width=params.resolution,
        height=params.resolution,
        # kohya asserts min_bucket_reso <= resolution <= max_bucket_reso: widen the template's
        # bucket range to include the resolution the user chose.
        min_bucket_reso=min(int(dataset["min_bucket_reso"]), params.resolution),
        max_bucket_reso=max(int(dataset["max_bucket_reso"]), params.resolution),
    )
    nodes[LOSS_IMAGE_NODE]["filename_prefix"] = f"{model_name}_loss"
    if points and sampling is not None:
        _set_sampled_loops(workflow, params.max_train_steps, points, sampling, model_name)
    else:
        _set_training_loops(workflow, params.max_train_steps)
    validate_workflow(workflow)
    return workflow


def _check_template(workflow: dict[str, Any]) -> None:
    problems = []
    for node_id, class_type in TEMPLATE_CLASS_TYPES.items():
        node = workflow.get(node_id)
        if not isinstance(node, dict) or node.get("class_type") != class_type:
            problems.append(f"the template has no node {node_id} of class {class_type}")
        elif not isinstance(node.get("inputs"), dict):
            problems.append(f"template node {node_id} ({class_type}) has no inputs")
    if problems:
        raise WorkflowValidationError(problems)


def _set_training_loops(workflow: dict[str, Any], total_steps: int) -> None:
    chunks = split_steps(total_steps)
    workflow[LOOP_NODE]["inputs"]["steps"] = chunks[0]
    previous = LOOP_NODE
    next_id = max(int(k) for k in workflow if k.isdigit()) + 1
    for part, steps in enumerate(chunks[1:], start=2):
        node_id = str(next_id)
        next_id += 1
        workflow[node_id] = {
            "class_type": "FluxTrainLoop",
            "_meta": {"title": f"Train (part {part})"},
            "inputs": {"network_trainer": [previous, 0], "steps": steps},
        }
        previous = node_id
    workflow[SAVE_NODE]["inputs"]["network_trainer"] = [previous, 0]
    workflow[LOSS_PLOT_NODE]["inputs"]["network_trainer"] = [previous, 0]


def _set_sampled_loops(
    workflow: dict[str, Any], total_steps: int, points: list[int], sampling: SampleSettings, model_name: str
) -> None:
    next_id = max(int(k) for k in workflow if k.isdigit()) + 1

    def add(class_type: str, title: str, inputs: dict[str, Any]) -> str:
        nonlocal next_id
        node_id = str(next_id)
        next_id += 1
        workflow[node_id] = {"class_type": class_type, "_meta": {"title": title}, "inputs": inputs}
        return node_id

    settings = add(
        "FluxTrainValidationSettings",
        "Sample settings",
        {
            "steps": sampling.steps,
            "width": sampling.width,
            "height": sampling.height,
            "guidance_scale": float(sampling.guidance),
            "seed": sampling.seed,
            **VALIDATION_SHIFT,
        },
    )
    previous, done, first = INIT_NODE, 0, True
    for point in points:
        for steps in split_steps(point - done):
            if first:  # the template's own loop node runs the first part
                workflow[LOOP_NODE]["inputs"].update(network_trainer=[previous, 0], steps=steps)
                previous, first = LOOP_NODE, False
            else:
                previous = add(
                    "FluxTrainLoop", f"Train to step {point}", {"network_trainer": [previous, 0], "steps": steps}
                )
        done = point
        if sampling.keep_checkpoints and point != total_steps:
            previous = add(
                "FluxTrainSave",
                f"Save checkpoint {point}",
                {"network_trainer": [previous, 0], "save_state": False, "copy_to_comfy_lora_folder": False},
            )
        previous = add(
            "FluxTrainValidate",
            f"Sample at step {point}",
            {"network_trainer": [previous, 0], "validation_settings": [settings, 0]},
        )
        add(
            "SaveImage",
            f"Save samples of step {point}",
            {"images": [previous, 1], "filename_prefix": sample_filename_prefix(model_name, point)},
        )
    workflow[SAVE_NODE]["inputs"]["network_trainer"] = [previous, 0]
    workflow[LOSS_PLOT_NODE]["inputs"]["network_trainer"] = [previous, 0]


# --- reading a built workflow (for workers) -----------------------------------------------------
