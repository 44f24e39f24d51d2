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
from dataclasses import dataclass
from typing import Any

from actor_trainer.core import resources
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.workflow_nodes import MAX_STEPS_PER_LOOP
from actor_trainer.core.workflow_validation import WorkflowValidationError, trainer_chain, validate_workflow

__all__ = [
    "WorkflowSummary",
    "WorkflowValidationError",
    "build_workflow",
    "describe_workflow",
    "expected_output_filename",
    "load_template",
    "sample_prompts_for",
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


def expected_output_filename(model_name: str, network_dim: int, save_dtype: str) -> str:
    """The file FluxTrainer writes: `{output_name}_rank{network_dim}_{save_dtype}.safetensors`.

    ComfyUI's `/history` does not report it, so the worker looks for this name on disk.
    """
    return f"{model_name}_rank{network_dim}_{save_dtype}.safetensors"


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
) -> dict[str, Any]:
    """The template with every parameter the user set written unchanged, validated.

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
    if problems:
        raise WorkflowValidationError(problems)
    trigger = trigger.strip()

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
        sample_prompts=sample_prompts_for(trigger, sample_prompt),
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


# --- reading a built workflow (for workers) -----------------------------------------------------


@dataclass(frozen=True)
class WorkflowSummary:
    """What a worker needs from a valid training workflow."""

    dataset_path: str
    output_dir: str
    output_name: str
    trigger: str
    network_dim: int
    network_alpha: float
    learning_rate: float
    max_train_steps: int
    save_dtype: str
    #: (FluxTrainLoop node id, steps) in execution order; each loop reports its own progress
    #: 0…steps, so the global step is the sum of the earlier loops' steps plus the current value.
    loops: tuple[tuple[str, int], ...]

    @property
    def output_filename(self) -> str:
        return expected_output_filename(self.output_name, self.network_dim, self.save_dtype)

    @property
    def output_path(self) -> str:
        return posixpath.join(self.output_dir, self.output_filename)


def describe_workflow(workflow: dict[str, Any]) -> WorkflowSummary:
    """Validate `workflow` and read the dataset folder, output file and training loops from it."""
    validate_workflow(workflow)
    end = next(node_id for node_id, node in workflow.items() if node["class_type"] == "FluxTrainEnd")
    chain = trainer_chain(workflow, end)
    init = workflow[chain[-1]]["inputs"]
    dataset = workflow[init["dataset"][0]]["inputs"]
    loops = tuple(
        (node_id, int(workflow[node_id]["inputs"]["steps"]))
        for node_id in reversed(chain)
        if workflow[node_id]["class_type"] == "FluxTrainLoop"
    )
    return WorkflowSummary(
        dataset_path=str(dataset.get("dataset_path", "")),
        output_dir=str(init["output_dir"]),
        output_name=str(init["output_name"]),
        trigger=str(dataset.get("class_tokens", "")),
        network_dim=int(init["network_dim"]),
        network_alpha=float(init["network_alpha"]),
        learning_rate=float(init["learning_rate"]),
        max_train_steps=int(init["max_train_steps"]),
        save_dtype=str(init["save_dtype"]),
        loops=loops,
    )
