"""The training graph the app builds, checked strictly against a real ComfyUI's node definitions
(tests/fixtures/comfy_nodes.json: ComfyUI a125cd8 with ComfyUI-FluxTrainer 639b3e8)."""

from __future__ import annotations

import copy

import pytest

from actor_trainer.core.auto_adjust import auto_adjust
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.workflow import build_workflow, worker_dataset_dir, worker_output_dir
from tests.fixtures.comfy_schema import check_prompt, node_schema

EDITED = TrainingParameters(
    max_train_steps=3000,
    learning_rate=0.0002,
    network_dim=32,
    network_alpha=16,
    num_repeats=5,
    batch_size=2,
    lr_scheduler="cosine",
    lr_warmup_steps=100,
    optimizer_type="adamw8bit",
    gradient_dtype="bf16",
    save_dtype="fp16",
    resolution=768,
    trigger="ohwx_actor",
)


def graph(params: TrainingParameters) -> dict:
    name = "actor_0000_V1"
    return build_workflow(
        params,
        model_name=name,
        trigger=params.trigger or "actor_0000",
        dataset_path=worker_dataset_dir(name),
        output_dir=worker_output_dir(name),
    )


def test_the_schema_fixture_is_the_real_nodes() -> None:
    schema = node_schema()
    assert {
        "InitFluxLoRATraining",
        "FluxTrainLoop",
        "FluxTrainValidate",
        "FluxTrainValidationSettings",
        "SaveImage",
        "LoraLoaderModelOnly",
    } <= set(schema)
    assert schema["InitFluxLoRATraining"]["input"]["required"]["network_dim"][1]["max"] == 100000


@pytest.mark.parametrize(
    "params",
    [TrainingParameters(), EDITED, auto_adjust(18, TrainingParameters()).params],
    ids=["defaults", "edited", "auto-adjusted"],
)
def test_the_training_graph_passes_comfyui_validation(params: TrainingParameters) -> None:
    assert check_prompt(graph(params)) == []


def test_the_checker_catches_what_comfyui_refuses() -> None:
    base = graph(TrainingParameters())
    init = next(k for k, n in base.items() if n["class_type"] == "InitFluxLoRATraining")
    loop = next(k for k, n in base.items() if n["class_type"] == "FluxTrainLoop")
    cases = {
        "unknown input": lambda g: g[init]["inputs"].__setitem__("learning_rat", 1e-4),
        "out of range": lambda g: g[init]["inputs"].__setitem__("network_dim", 0),
        "not a choice": lambda g: g[init]["inputs"].__setitem__("attention_mode", "flash9"),
        "wrong type": lambda g: g[loop]["inputs"].__setitem__("steps", "250"),
        "wrong link": lambda g: g[loop]["inputs"].__setitem__("network_trainer", [loop, 1]),
        "missing input": lambda g: g[init]["inputs"].pop("output_name"),
        "unknown node": lambda g: g[loop].__setitem__("class_type", "FluxTrainLoopX"),
    }
    for name, mutate in cases.items():
        broken = copy.deepcopy(base)
        mutate(broken)
        assert check_prompt(broken), f"{name} was not caught"
