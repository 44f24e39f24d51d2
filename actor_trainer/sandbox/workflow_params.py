"""Reading the training parameters out of a ComfyUI API-format workflow, as a worker must.

A real worker does not trust `training_config` for the run: ComfyUI runs the graph, so the values
that count are the node inputs (docs/training-workflow.md). This module finds the FluxTrainer
nodes, checks that the graph is one ComfyUI would accept (every link points at an existing node)
and returns the parameters the simulated worker needs. Problems raise WorkerFailure("ValueError").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actor_trainer.sandbox.worker_errors import WorkerFailure

INIT_NODE = "InitFluxLoRATraining"
OPTIMIZER_NODE = "OptimizerConfig"
DATASET_NODE = "TrainDatasetAdd"


@dataclass(frozen=True)
class WorkflowParams:
    """What the training graph asks for (from the init, optimizer and dataset nodes)."""

    output_name: str
    network_dim: int
    network_alpha: float
    learning_rate: float
    max_train_steps: int
    optimizer_type: str | None = None
    lr_scheduler: str | None = None
    num_repeats: int = 1
    batch_size: int = 1
    class_tokens: str | None = None
    seed: int | None = None
    save_dtype: str | None = None  # the LoRA file's precision (InitFluxLoRATraining.save_dtype)


def read_workflow_params(workflow: dict[str, Any]) -> WorkflowParams:
    """Validate the graph's shape and read the training parameters from its nodes."""
    if not workflow:
        raise _invalid("the workflow is empty")
    for node_id, node in workflow.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise _invalid(f"node {node_id!r} has no class_type")
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            raise _invalid(f"node {node_id} ({node['class_type']}) has no inputs object")
        for name, value in inputs.items():
            if _is_link(value) and str(value[0]) not in workflow:
                raise _invalid(
                    f"node {node_id} ({node['class_type']}) input {name!r} links to node {value[0]!r}, "
                    "which is not in the workflow"
                )

    init = _single_node(workflow, INIT_NODE, required=True)
    assert init is not None
    optimizer = _single_node(workflow, OPTIMIZER_NODE, required=False) or {}
    dataset = _single_node(workflow, DATASET_NODE, required=False) or {}

    output_name = _value(init, INIT_NODE, "output_name", str)
    if not output_name.strip():
        raise _invalid(f"{INIT_NODE}.output_name is empty")
    params = WorkflowParams(
        output_name=output_name,
        network_dim=_value(init, INIT_NODE, "network_dim", int),
        network_alpha=float(_value(init, INIT_NODE, "network_alpha", float)),
        learning_rate=float(_value(init, INIT_NODE, "learning_rate", float)),
        max_train_steps=_value(init, INIT_NODE, "max_train_steps", int),
        optimizer_type=_optional(optimizer, OPTIMIZER_NODE, "optimizer_type", str),
        lr_scheduler=_optional(optimizer, OPTIMIZER_NODE, "lr_scheduler", str),
        num_repeats=_optional(dataset, DATASET_NODE, "num_repeats", int) or 1,
        batch_size=_optional(dataset, DATASET_NODE, "batch_size", int) or 1,
        class_tokens=_optional(dataset, DATASET_NODE, "class_tokens", str),
        seed=_optional(init, INIT_NODE, "seed", int),
        save_dtype=_optional(init, INIT_NODE, "save_dtype", str),
    )
    # The ranges the FluxTrainer nodes accept (docs/training-workflow.md); ComfyUI refuses others.
    _check_range(INIT_NODE, "network_dim", params.network_dim, 1, 100_000)
    _check_range(INIT_NODE, "network_alpha", params.network_alpha, 0, 2048)
    _check_range(INIT_NODE, "learning_rate", params.learning_rate, 0, 10)
    _check_range(INIT_NODE, "max_train_steps", params.max_train_steps, 1, 100_000)
    _check_range(DATASET_NODE, "num_repeats", params.num_repeats, 1, 10_000)
    _check_range(DATASET_NODE, "batch_size", params.batch_size, 1, 10_000)
    return params


def _invalid(problem: str) -> WorkerFailure:
    return WorkerFailure("ValueError", f"Prompt outputs failed validation: {problem}.")


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _single_node(workflow: dict[str, Any], class_type: str, *, required: bool) -> dict[str, Any] | None:
    found = [node for node in workflow.values() if node["class_type"] == class_type]
    if not found:
        if required:
            raise _invalid(f"the workflow has no {class_type} node (this worker trains Flux LoRAs with it)")
        return None
    if len(found) > 1:
        raise _invalid(f"the workflow has {len(found)} {class_type} nodes; this worker expects one")
    inputs: dict[str, Any] = found[0].get("inputs", {})
    return inputs


def _value(inputs: dict[str, Any], node: str, name: str, kind: type) -> Any:
    if name not in inputs:
        raise _invalid(f"{node} is missing the required input {name!r}")
    value = _optional(inputs, node, name, kind)
    if value is None:
        raise _invalid(f"{node}.{name} is null")
    return value


def _optional(inputs: dict[str, Any], node: str, name: str, kind: type) -> Any:
    value = inputs.get(name)
    if value is None:
        return None
    if _is_link(value):
        raise _invalid(f"{node}.{name} is a link; this worker needs a literal value")
    if isinstance(value, bool):
        raise _invalid(f"{node}.{name} must be a {kind.__name__}, not {value!r}")
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind):
        raise _invalid(f"{node}.{name} must be a {kind.__name__}, not {value!r}")
    return value


def _check_range(node: str, name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise _invalid(f"{node}.{name} = {value:g} is outside the allowed range {low:g}–{high:g}")
