"""What a training graph will do, read back from the graph itself (`describe_workflow`): the
dataset, the steps, where samples are drawn, the output file — for `train --dry-run`, the tests and
the worker's own checks. The builder is core/workflow.py."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from actor_trainer.core.workflow_validation import trainer_chain, validate_workflow


def expected_output_filename(model_name: str, network_dim: int, save_dtype: str) -> str:
    """The file FluxTrainer writes: `{output_name}_rank{network_dim}_{save_dtype}.safetensors`.

    ComfyUI's `/history` does not report it, so the worker looks for this name on disk.
    """
    return f"{model_name}_rank{network_dim}_{save_dtype}.safetensors"


def checkpoint_filename(model_name: str, network_dim: int, save_dtype: str, step: int) -> str:
    """The file FluxTrainSave writes after `step`: kohya's `{output_name}-step{step:08d}`, where
    FluxTrainer's output_name is `{output_name}_rank{network_dim}_{save_dtype}`."""
    return f"{model_name}_rank{network_dim}_{save_dtype}-step{step:08d}.safetensors"


SAMPLE_PREFIX = re.compile(r"(?:^|/)samples/step(\d{6,})$")


def step_of_sample_prefix(prefix: str) -> int | None:
    """The step a SaveImage `filename_prefix` made by `workflow.sample_filename_prefix` names."""
    match = SAMPLE_PREFIX.search(prefix)
    return int(match.group(1)) if match else None


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
    #: (SaveImage node id, step) of the samples, by step ([]: the run does not sample)
    sample_saves: tuple[tuple[str, int], ...] = ()
    #: the sample prompts in FluxTrainValidate's image order
    sample_prompts: tuple[str, ...] = ()
    #: steps after which a FluxTrainSave writes a checkpoint LoRA (before the end)
    checkpoint_steps: tuple[int, ...] = ()

    def checkpoint_path(self, step: int) -> str:
        return posixpath.join(
            self.output_dir, checkpoint_filename(self.output_name, self.network_dim, self.save_dtype, step)
        )

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
    validated = {node_id for node_id in chain if workflow[node_id]["class_type"] == "FluxTrainValidate"}
    saves = sorted(
        (
            (node_id, step)
            for node_id, node in workflow.items()
            if node["class_type"] == "SaveImage"
            and _is_link(node["inputs"].get("images"))
            and node["inputs"]["images"][0] in validated
            and (step := step_of_sample_prefix(str(node["inputs"]["filename_prefix"]))) is not None
        ),
        key=lambda pair: pair[1],
    )
    steps_before = _steps_before(workflow, chain)
    checkpoints = tuple(
        sorted(
            steps_before[node_id]
            for node_id in chain[1:-1]
            if workflow[node_id]["class_type"] == "FluxTrainSave" and node_id != chain[1]
        )
    )
    prompts = tuple(p.strip() for p in str(init.get("sample_prompts", "")).split("|") if p.strip()) if saves else ()
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
        sample_saves=tuple(saves),
        sample_prompts=prompts,
        checkpoint_steps=checkpoints,
    )


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _steps_before(workflow: dict[str, Any], chain: list[str]) -> dict[str, int]:
    """For each node of the trainer chain: the global step reached when it runs."""
    reached, done = {}, 0
    for node_id in reversed(chain):
        if workflow[node_id]["class_type"] == "FluxTrainLoop":
            done += int(workflow[node_id]["inputs"]["steps"])
        reached[node_id] = done
    return reached
