"""Validation of ComfyUI training workflows against what the FluxTrainer nodes accept.

Split from `workflow.py` (which re-exports `validate_workflow` and `WorkflowValidationError`): the
rules themselves are the table in `workflow_nodes.py`; this module walks a graph and lists every
problem, so the user sees all of them at once, before a GPU is paid for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.workflow_nodes import NODE_SPECS, InputSpec


class WorkflowValidationError(ActorTrainerError):
    """The workflow would be refused by ComfyUI (or would not train). `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        count = len(problems)
        super().__init__(
            f"The training workflow has {count} problem{'s' if count != 1 else ''}: " + "; ".join(problems),
            "Nothing was sent to the GPU. Correct the values named above and start the training again.",
        )
        self.problems: tuple[str, ...] = tuple(problems)


def validate_workflow(workflow: Any) -> None:
    """Raise WorkflowValidationError listing every problem ComfyUI (or the training) would hit.

    Checks: each node has a class_type and inputs; each known class_type has all its required
    inputs, with values of the right type within the allowed sets and ranges; links point at
    existing nodes, valid output indices and matching output types; no cycles; exactly one
    FluxTrainEnd output node, whose trainer chain reaches an InitFluxLoRATraining through
    FluxTrainLoop nodes whose steps add up to max_train_steps.
    """
    _validate(workflow, _graph_problems)


def validate_generate_workflow(workflow: Any) -> None:
    """Raise WorkflowValidationError listing every problem of a generation graph ("Try this version").

    The node checks of `validate_workflow`, then: no cycle; exactly one LoraLoaderModelOnly (whose
    `lora_name` the worker sets to the downloaded LoRA) and at least one SaveImage output node.
    """
    _validate(workflow, _generate_graph_problems)


def _validate(workflow: Any, graph_problems: Any) -> None:
    if not isinstance(workflow, dict) or not workflow:
        raise WorkflowValidationError(["the workflow is not a non-empty object of nodes"])
    problems: list[str] = []
    for node_id, node in workflow.items():
        problems.extend(_node_problems(workflow, str(node_id), node))
    if not problems:
        problems.extend(graph_problems(workflow))
    if problems:
        raise WorkflowValidationError(problems)


def _generate_graph_problems(workflow: dict[str, Any]) -> Iterator[str]:
    cycle = _find_cycle(workflow)
    if cycle:
        yield "the links form a cycle: " + " → ".join(cycle)
        return
    loras = [k for k, n in workflow.items() if n["class_type"] == "LoraLoaderModelOnly"]
    if len(loras) != 1:
        yield f"the generation graph needs exactly one LoraLoaderModelOnly node, found {len(loras)}"
    if not any(n["class_type"] == "SaveImage" for n in workflow.values()):
        yield "the generation graph has no SaveImage node: it would return no image"


def _where(node_id: str, class_type: Any) -> str:
    return f"node {node_id} ({class_type})" if isinstance(class_type, str) else f"node {node_id}"


def _node_problems(workflow: dict[str, Any], node_id: str, node: Any) -> Iterator[str]:
    if not isinstance(node, dict):
        yield f"node {node_id} is not an object"
        return
    class_type = node.get("class_type")
    where = _where(node_id, class_type)
    if not isinstance(class_type, str) or not class_type:
        yield f"{where} has no class_type"
    inputs = node.get("inputs")
    if not isinstance(inputs, dict):
        yield f"{where} has no inputs"
        return
    spec = NODE_SPECS.get(class_type) if isinstance(class_type, str) else None
    if spec is not None:
        for name, input_spec in spec.inputs.items():
            if input_spec.required and name not in inputs:
                yield f"{where}: required input '{name}' is missing"
    for name, value in inputs.items():
        known = spec.inputs.get(name) if spec is not None else None
        if _is_link(value):
            yield from _link_problems(workflow, where, name, value, known)
        elif known is not None:
            problem = _value_problem(value, known)
            if problem:
                yield f"{where}: input '{name}' {problem}"
        elif isinstance(value, list):
            yield f"{where}: input '{name}' is not a valid link {value!r} (expected [\"<node id>\", <index>])"


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int)


def _link_problems(
    workflow: dict[str, Any], where: str, name: str, link: list[Any], spec: InputSpec | None
) -> Iterator[str]:
    source_id, index = link
    if not isinstance(source_id, str) or isinstance(index, bool) or not isinstance(index, int):
        yield f"{where}: input '{name}' link {link!r} must be [\"<node id>\", <output index>]"
        return
    source = workflow.get(source_id)
    if not isinstance(source, dict):
        yield f"{where}: input '{name}' links to node {source_id}, which does not exist"
        return
    source_spec = NODE_SPECS.get(source.get("class_type", ""))
    if source_spec is None:
        return
    source_where = _where(source_id, source.get("class_type"))
    if not 0 <= index < len(source_spec.outputs):
        yield (
            f"{where}: input '{name}' links to output {index} of {source_where}, "
            f"which has {len(source_spec.outputs)} output(s)"
        )
        return
    expected = spec.link_type if spec is not None and spec.kind == "link" else None
    if spec is not None and spec.kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
        expected = spec.kind
    actual = source_spec.outputs[index]
    if expected is not None and actual != expected:
        yield (f"{where}: input '{name}' needs {expected} but is linked to {actual} (output {index} of {source_where})")


def _value_problem(value: Any, spec: InputSpec) -> str | None:
    if spec.kind == "link":
        return f'must be a link ["<node id>", <output index>] to a {spec.link_type} output, not {value!r}'
    if spec.kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if spec.kind in ("STRING", "COMBO"):
        if not isinstance(value, str):
            return f"must be text, not {value!r}"
        if spec.kind == "COMBO" and spec.choices is not None and value not in spec.choices:
            return f"is {value!r}, which is not one of {', '.join(spec.choices)} (case-sensitive)"
        if spec.non_empty and not value.strip():
            return "must not be empty"
        if value in spec.forbidden:
            return f"must not be {value!r} (the worker refuses it)"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {value!r}"
    if spec.kind == "INT" and not isinstance(value, int):
        return f"must be a whole number, not {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number, not {value!r}"
    if spec.minimum is not None and value < spec.minimum:
        return f"is {value}, below the minimum {_number(spec.minimum)}"
    if spec.maximum is not None and value > spec.maximum:
        return f"is {value}, above the maximum {_number(spec.maximum)}"
    return None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _graph_problems(workflow: dict[str, Any]) -> Iterator[str]:
    cycle = _find_cycle(workflow)
    if cycle:
        yield "the links form a cycle: " + " → ".join(cycle)
        return
    for node_id, node in workflow.items():
        yield from _node_consistency_problems(workflow, node_id, node)
    ends = [node_id for node_id, node in workflow.items() if node["class_type"] == "FluxTrainEnd"]
    if len(ends) != 1:
        yield f"the workflow needs exactly one FluxTrainEnd output node, found {len(ends)}"
        return
    chain = trainer_chain(workflow, ends[0])
    first = workflow[chain[-1]]
    if first["class_type"] != "InitFluxLoRATraining":
        yield (
            f"{_where(ends[0], 'FluxTrainEnd')} does not reach an InitFluxLoRATraining node "
            "through its network_trainer links"
        )
        return
    loops = [node_id for node_id in chain if workflow[node_id]["class_type"] == "FluxTrainLoop"]
    if not loops:
        yield "no FluxTrainLoop node feeds FluxTrainEnd: nothing would be trained"
        return
    validates = [node_id for node_id in chain if workflow[node_id]["class_type"] == "FluxTrainValidate"]
    if validates and not str(first["inputs"].get("sample_prompts", "")).strip(" |"):
        yield (
            f"{_where(chain[-1], 'InitFluxLoRATraining')}: input 'sample_prompts' is empty but "
            f"FluxTrainValidate ({', '.join(validates[::-1])}) samples it"
        )
    total = sum(int(workflow[node_id]["inputs"]["steps"]) for node_id in loops)
    max_steps = first["inputs"]["max_train_steps"]
    if total != max_steps:
        yield (
            f"{_where(chain[-1], 'InitFluxLoRATraining')}: input 'max_train_steps' is {max_steps} "
            f"but the FluxTrainLoop steps ({', '.join(loops[::-1])}) add up to {total}"
        )


def _node_consistency_problems(workflow: dict[str, Any], node_id: str, node: dict[str, Any]) -> Iterator[str]:
    inputs = node["inputs"]
    where = _where(node_id, node["class_type"])
    if node["class_type"] == "TrainDatasetAdd" and inputs.get("enable_bucket") is True:
        low, high = inputs["min_bucket_reso"], inputs["max_bucket_reso"]
        sizes = [inputs[k] for k in ("width", "height") if isinstance(inputs[k], int)]
        if isinstance(low, int) and isinstance(high, int):
            if low > high:
                yield f"{where}: input 'min_bucket_reso' ({low}) is above 'max_bucket_reso' ({high})"
            elif sizes and (min(sizes) < low or max(sizes) > high):
                yield (
                    f"{where}: inputs 'width'/'height' ({'x'.join(map(str, sizes))}) must lie within "
                    f"'min_bucket_reso'–'max_bucket_reso' ({low}–{high})"
                )
    if node["class_type"] == "InitFluxLoRATraining":
        link = inputs.get("optimizer_settings")
        optimizer = workflow.get(link[0]) if _is_link(link) else None
        if isinstance(optimizer, dict) and optimizer["class_type"] == "OptimizerConfig":
            warmup = optimizer["inputs"].get("lr_warmup_steps")
            steps = inputs.get("max_train_steps")
            if isinstance(warmup, int) and isinstance(steps, int) and warmup > steps:
                yield (
                    f"{_where(link[0], 'OptimizerConfig')}: input 'lr_warmup_steps' ({warmup}) exceeds "
                    f"'max_train_steps' ({steps}) of {where}"
                )


def _links_of(node: dict[str, Any]) -> Iterator[str]:
    for value in node["inputs"].values():
        if _is_link(value):
            yield str(value[0])


def _find_cycle(workflow: dict[str, Any]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node_id: str, path: list[str]) -> list[str] | None:
        state[node_id] = 1
        for source in _links_of(workflow[node_id]):
            if source not in workflow:
                continue
            if state.get(source) == 1:  # a link back into the current path
                return [*path[path.index(source) :], source]
            if source not in state:
                found = visit(source, [*path, source])
                if found:
                    return found
        state[node_id] = 2
        return None

    for node_id in workflow:
        if node_id not in state:
            found = visit(node_id, [node_id])
            if found:
                return found
    return None


def trainer_chain(workflow: dict[str, Any], start: str) -> list[str]:
    """Node ids from `start` back along `network_trainer` links, ending at the chain's first node."""
    chain = [start]
    while True:
        link = workflow[chain[-1]]["inputs"].get("network_trainer")
        if not _is_link(link) or link[0] not in workflow or link[0] in chain:
            return chain
        chain.append(link[0])
