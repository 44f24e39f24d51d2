"""The ComfyUI training workflow: template, builder and validation (docs/training-workflow.md)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.workflow import (
    END_NODE,
    INIT_NODE,
    LOOP_NODE,
    TEMPLATE_CLASS_TYPES,
    WorkflowValidationError,
    build_workflow,
    describe_workflow,
    expected_output_filename,
    load_template,
    split_steps,
    validate_workflow,
    worker_dataset_dir,
    worker_output_dir,
)
from actor_trainer.core.workflow_nodes import OUTPUT_COUNTS, REQUIRED_INPUTS

MODEL = "actor_0000_V1"
TRIGGER = "0000_european_16_male"


def build(params: TrainingParameters | None = None, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "model_name": MODEL,
        "trigger": TRIGGER,
        "dataset_path": worker_dataset_dir(MODEL),
        "output_dir": worker_output_dir(MODEL),
    }
    options.update(kwargs)
    return build_workflow(params or TrainingParameters(), **options)


def problems_of(workflow: Any) -> tuple[str, ...]:
    with pytest.raises(WorkflowValidationError) as info:
        validate_workflow(workflow)
    return info.value.problems


# --- the template -------------------------------------------------------------------------------


def test_template_is_the_documented_graph() -> None:
    template = load_template()
    assert {k: v["class_type"] for k, v in template.items()} == TEMPLATE_CLASS_TYPES
    links = {
        (node_id, name): tuple(value)
        for node_id, node in template.items()
        for name, value in node["inputs"].items()
        if isinstance(value, list)
    }
    assert links == {
        ("109", "dataset_config"): ("108", 0),
        ("107", "flux_models"): ("2", 0),
        ("107", "dataset"): ("109", 0),
        ("107", "optimizer_settings"): ("95", 0),
        ("4", "network_trainer"): ("107", 0),
        ("14", "network_trainer"): ("4", 0),
        ("97", "network_trainer"): ("4", 0),
        ("98", "images"): ("97", 0),
        ("133", "network_trainer"): ("14", 0),
    }
    validate_workflow(template)


def test_template_has_every_required_input_and_the_fixed_settings() -> None:
    template = load_template()
    for node in template.values():
        assert REQUIRED_INPUTS[node["class_type"]] <= set(node["inputs"])
    assert template["2"]["inputs"] == {
        "transformer": "flux1-dev-fp8.safetensors",
        "vae": "ae.safetensors",
        "clip_l": "clip_l.safetensors",
        "t5": "t5xxl_fp8.safetensors",
    }
    init = template[INIT_NODE]["inputs"]
    fixed = {
        "apply_t5_attn_mask": True, "cache_latents": "memory", "cache_text_encoder_outputs": "memory",
        "blocks_to_swap": 0, "weighting_scheme": "logit_normal", "logit_mean": 0.0, "logit_std": 1.0,
        "mode_scale": 1.29, "timestep_sampling": "shift", "sigmoid_scale": 1.0,
        "model_prediction_type": "raw", "guidance_scale": 1.0, "discrete_flow_shift": 3.1582,
        "highvram": True, "fp8_base": True, "attention_mode": "sdpa", "train_text_encoder": "disabled",
        "clip_l_lr": 0, "T5_lr": 0, "gradient_checkpointing": "enabled", "additional_args": "",
    }  # fmt: skip
    assert {k: init[k] for k in fixed} == fixed
    assert template["108"]["inputs"]["reset_on_queue"] is True  # a warm worker must not skip the run
    assert template["97"]["inputs"]["plot_style"] != "default"
    assert template[END_NODE]["inputs"]["save_state"] is False
    assert template["14"]["inputs"] == {"network_trainer": ["4", 0], "save_state": False,
                                        "copy_to_comfy_lora_folder": False}  # fmt: skip


def test_load_template_returns_independent_copies() -> None:
    first = load_template()
    first[INIT_NODE]["inputs"]["learning_rate"] = 99
    assert load_template()[INIT_NODE]["inputs"]["learning_rate"] != 99


def test_output_counts_match_the_node_pack() -> None:
    assert OUTPUT_COUNTS["InitFluxLoRATraining"] == 3  # network_trainer, epochs_count, args
    assert OUTPUT_COUNTS["FluxTrainLoop"] >= 1 and OUTPUT_COUNTS["FluxTrainEnd"] >= 1
    for class_type in ("FluxTrainModelSelect", "TrainDatasetGeneralConfig", "TrainDatasetAdd", "OptimizerConfig"):
        assert OUTPUT_COUNTS[class_type] == 1


# --- building -----------------------------------------------------------------------------------

USER_VALUES: list[tuple[str, Any, str, str]] = [
    # (parameter, a non-default value, node id, input name)
    ("learning_rate", 0.000123, "107", "learning_rate"),
    ("max_train_steps", 1234, "107", "max_train_steps"),
    ("network_dim", 32, "107", "network_dim"),
    ("network_alpha", 16.0, "107", "network_alpha"),
    ("gradient_dtype", "fp16", "107", "gradient_dtype"),
    ("save_dtype", "fp8_e4m3fn", "107", "save_dtype"),
    ("optimizer_type", "prodigy", "95", "optimizer_type"),
    ("lr_scheduler", "cosine_with_restarts", "95", "lr_scheduler"),
    ("lr_warmup_steps", 77, "95", "lr_warmup_steps"),
    ("batch_size", 3, "109", "batch_size"),
    ("num_repeats", 4, "109", "num_repeats"),
    ("resolution", 768, "109", "width"),
    ("resolution", 768, "109", "height"),
]


@pytest.mark.parametrize(("field", "value", "node_id", "input_name"), USER_VALUES)
def test_every_user_value_reaches_its_node_unchanged(field: str, value: Any, node_id: str, input_name: str) -> None:
    workflow = build(TrainingParameters(**{field: value}))
    written = workflow[node_id]["inputs"][input_name]
    assert written == value and type(written) is type(value)


def test_names_folders_trigger_and_prefix() -> None:
    workflow = build(dataset_path="/data/in", output_dir="/data/out")
    assert workflow["109"]["inputs"]["class_tokens"] == TRIGGER
    assert workflow["109"]["inputs"]["dataset_path"] == "/data/in"
    assert workflow[INIT_NODE]["inputs"]["output_dir"] == "/data/out"
    assert workflow[INIT_NODE]["inputs"]["output_name"] == MODEL
    assert workflow["98"]["inputs"]["filename_prefix"] == f"{MODEL}_loss"
    assert TRIGGER in workflow[INIT_NODE]["inputs"]["sample_prompts"]
    assert worker_dataset_dir(MODEL) == f"/workspace/datasets/{MODEL}"
    assert worker_output_dir(MODEL) == f"/workspace/output/{MODEL}"


def test_sample_prompts_always_name_the_trigger() -> None:
    given = build(sample_prompt=f"{TRIGGER} smiling | standing in the rain")["107"]["inputs"]["sample_prompts"]
    prompts = [p.strip() for p in given.split("|")]
    assert prompts == [f"{TRIGGER} smiling", f"{TRIGGER}, standing in the rain"]


@pytest.mark.parametrize(
    ("steps", "loops"),
    [(1, [1]), (2000, [2000]), (10_000, [10_000]), (10_001, [10_000, 1]),
     (25_000, [10_000, 10_000, 5_000]), (100_000, [10_000] * 10)],
)  # fmt: skip
def test_loops_are_chained_above_10000_steps(steps: int, loops: list[int]) -> None:
    assert split_steps(steps) == loops
    workflow = build(TrainingParameters(max_train_steps=steps))
    summary = describe_workflow(workflow)
    assert [s for _, s in summary.loops] == loops
    assert summary.loops[0][0] == LOOP_NODE
    last = summary.loops[-1][0]
    assert workflow["14"]["inputs"]["network_trainer"] == [last, 0]
    assert workflow["97"]["inputs"]["network_trainer"] == [last, 0]
    assert workflow[INIT_NODE]["inputs"]["max_train_steps"] == steps
    loop_nodes = [k for k, v in workflow.items() if v["class_type"] == "FluxTrainLoop"]
    assert len(loop_nodes) == len(loops)


@pytest.mark.parametrize(
    "params",
    [
        TrainingParameters(),
        TrainingParameters(max_train_steps=1, lr_warmup_steps=0, resolution=64),
        TrainingParameters(max_train_steps=30_000, network_dim=128, network_alpha=128, resolution=1024,
                           batch_size=4, num_repeats=10, lr_scheduler="polynomial", lr_warmup_steps=3000),
        TrainingParameters(max_train_steps=100_000, learning_rate=10, network_alpha=0, resolution=4096,
                           optimizer_type="ProdigyPlusScheduleFree", gradient_dtype="fp32", save_dtype="fp8_e5m2"),
    ],
)  # fmt: skip
def test_built_workflows_pass_validation(params: TrainingParameters) -> None:
    validate_workflow(build(params))


@pytest.mark.parametrize(("resolution", "low", "high"), [(64, 64, 1024), (512, 256, 1024), (2048, 256, 2048)])
def test_bucket_range_includes_the_resolution(resolution: int, low: int, high: int) -> None:
    inputs = build(TrainingParameters(resolution=resolution))["109"]["inputs"]
    assert (inputs["min_bucket_reso"], inputs["max_bucket_reso"]) == (low, high)


def test_building_twice_does_not_leak_between_builds() -> None:
    first = build(TrainingParameters(max_train_steps=25_000))
    snapshot = copy.deepcopy(first)
    second = build(TrainingParameters(max_train_steps=500))
    assert first == snapshot
    assert "134" not in second and second[LOOP_NODE]["inputs"]["steps"] == 500


@pytest.mark.parametrize("field", ["model_name", "trigger", "dataset_path", "output_dir"])
def test_empty_names_are_refused(field: str) -> None:
    blank: dict[str, Any] = {field: "  "}
    with pytest.raises(WorkflowValidationError, match=field):
        build(**blank)


def test_summary_and_output_filename() -> None:
    params = TrainingParameters(network_dim=16, save_dtype="fp16")
    summary = describe_workflow(build(params))
    assert summary.output_filename == f"{MODEL}_rank16_fp16.safetensors"
    assert summary.output_path == f"/workspace/output/{MODEL}/{MODEL}_rank16_fp16.safetensors"
    assert summary.dataset_path == f"/workspace/datasets/{MODEL}" and summary.trigger == TRIGGER
    assert expected_output_filename("flux_lora", 8, "bf16") == "flux_lora_rank8_bf16.safetensors"


# --- validation ---------------------------------------------------------------------------------

INVALID_VALUES: list[tuple[str, str, Any]] = [
    ("95", "optimizer_type", "AdamW8bit"),
    ("95", "optimizer_type", "Adafactor"),
    ("95", "lr_scheduler", "linear"),
    ("95", "lr_warmup_steps", -1),
    ("107", "gradient_dtype", "float32"),
    ("107", "save_dtype", "fp8"),
    ("97", "plot_style", "default"),
    ("107", "network_dim", 0),
    ("107", "network_dim", 100_001),
    ("107", "network_dim", 8.5),
    ("107", "network_alpha", -1),
    ("107", "network_alpha", 2049),
    ("107", "learning_rate", -0.0001),
    ("107", "learning_rate", 11),
    ("107", "learning_rate", "0.0004"),
    ("107", "learning_rate", True),
    ("107", "learning_rate", float("nan")),
    ("107", "max_train_steps", 0),
    ("107", "max_train_steps", 100_001),
    ("4", "steps", 10_001),
    ("4", "steps", 0),
    ("109", "width", 63),
    ("109", "height", 32),
    ("109", "batch_size", 0),
    ("109", "num_repeats", 0),
    ("109", "min_bucket_reso", 32),
    ("109", "max_bucket_reso", 5000),
    ("109", "class_tokens", ""),
    ("107", "guidance_scale", 0.5),
    ("107", "guidance_scale", 33),
    ("107", "highvram", "yes"),
    ("107", "output_name", 5),
    ("107", "dataset", "not a link"),
]


@pytest.mark.parametrize(("node_id", "input_name", "value"), INVALID_VALUES)
def test_each_invalid_value_is_caught_naming_node_and_input(node_id: str, input_name: str, value: Any) -> None:
    workflow = build()
    workflow[node_id]["inputs"][input_name] = value
    problems = problems_of(workflow)
    assert len(problems) == 1, problems
    assert f"node {node_id} ({workflow[node_id]['class_type']})" in problems[0]
    assert f"'{input_name}'" in problems[0]


def test_every_problem_is_listed_not_just_the_first() -> None:
    workflow = build()
    workflow["95"]["inputs"]["optimizer_type"] = "AdamW8bit"
    workflow["107"]["inputs"]["gradient_dtype"] = "fp64"
    workflow["109"]["inputs"]["batch_size"] = 0
    del workflow["107"]["inputs"]["output_dir"]
    with pytest.raises(WorkflowValidationError) as info:
        validate_workflow(workflow)
    assert len(info.value.problems) == 4
    assert isinstance(info.value, ActorTrainerError) and info.value.hint
    text = str(info.value)
    for fragment in ("'optimizer_type'", "'gradient_dtype'", "'batch_size'", "required input 'output_dir'"):
        assert fragment in text


def test_missing_class_type_and_inputs() -> None:
    workflow = build()
    del workflow["2"]["class_type"]
    workflow["108"]["inputs"] = "nothing"
    problems = problems_of(workflow)
    assert any("node 2 has no class_type" in p for p in problems)
    assert any("node 108 (TrainDatasetGeneralConfig) has no inputs" in p for p in problems)


@pytest.mark.parametrize(
    ("node_id", "input_name", "link", "fragment"),
    [
        ("107", "dataset", ["555", 0], "node 555, which does not exist"),
        ("109", "dataset_config", ["108", 1], "has 1 output(s)"),
        ("107", "flux_models", ["2", -1], "has 1 output(s)"),
        ("109", "dataset_config", ["95", 0], "needs JSON but is linked to ARGS"),
        ("14", "network_trainer", ["4", 1], "needs NETWORKTRAINER but is linked to INT"),
        ("4", "network_trainer", [107, 0], 'must be ["<node id>", <output index>]'),
    ],
)
def test_bad_links_are_caught(node_id: str, input_name: str, link: list[Any], fragment: str) -> None:
    workflow = build()
    workflow[node_id]["inputs"][input_name] = link
    problems = problems_of(workflow)
    assert len(problems) == 1 and fragment in problems[0] and f"'{input_name}'" in problems[0], problems


def test_exactly_one_fluxtrainend() -> None:
    none = build()
    del none[END_NODE]
    assert "exactly one FluxTrainEnd output node, found 0" in problems_of(none)[0]
    two = build()
    two["200"] = copy.deepcopy(two[END_NODE])
    assert "found 2" in problems_of(two)[0]


def test_cycles_are_caught() -> None:
    workflow = build()
    workflow[LOOP_NODE]["inputs"]["network_trainer"] = ["14", 0]
    assert "cycle" in problems_of(workflow)[0]


def test_end_must_reach_the_init_node_through_loops() -> None:
    workflow = build()
    workflow["300"] = {"class_type": "SomeoneElsesTrainer", "inputs": {"anything": 1}}
    workflow[LOOP_NODE]["inputs"]["network_trainer"] = ["300", 0]
    assert "does not reach an InitFluxLoRATraining" in problems_of(workflow)[0]

    no_loop = build()
    no_loop["14"]["inputs"]["network_trainer"] = [INIT_NODE, 0]
    no_loop["97"]["inputs"]["network_trainer"] = [INIT_NODE, 0]
    del no_loop[LOOP_NODE]
    assert "nothing would be trained" in problems_of(no_loop)[0]


def test_loop_steps_must_add_up_to_max_train_steps() -> None:
    workflow = build(TrainingParameters(max_train_steps=25_000))
    workflow["135"]["inputs"]["steps"] = 4000
    (problem,) = problems_of(workflow)
    assert "node 107 (InitFluxLoRATraining): input 'max_train_steps' is 25000" in problem
    assert "add up to 24000" in problem


def test_resolution_outside_the_bucket_range_is_caught() -> None:
    workflow = build()
    workflow["109"]["inputs"]["width"] = 2048
    (problem,) = problems_of(workflow)
    assert "node 109 (TrainDatasetAdd)" in problem and "'width'" in problem


def test_warmup_longer_than_training_is_caught() -> None:
    workflow = build(TrainingParameters(max_train_steps=100))
    workflow["95"]["inputs"]["lr_warmup_steps"] = 101
    (problem,) = problems_of(workflow)
    assert "node 95 (OptimizerConfig): input 'lr_warmup_steps' (101)" in problem


def test_unknown_nodes_get_structural_checks_only() -> None:
    workflow = build()
    workflow["400"] = {"class_type": "PreviewAny", "inputs": {"source": ["133", 0], "whatever": {"a": 1}}}
    validate_workflow(workflow)
    workflow["400"]["inputs"]["source"] = ["999", 0]
    assert "node 999, which does not exist" in problems_of(workflow)[0]


@pytest.mark.parametrize("bad", [None, [], {}, "workflow"])
def test_non_workflows_are_refused(bad: Any) -> None:
    assert problems_of(bad)
