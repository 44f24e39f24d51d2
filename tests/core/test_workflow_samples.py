"""Sampling while training and the generation graph (contract v2, issue 12): every graph passes
ComfyUI's node schema strictly (tests/fixtures/comfy_nodes.json) and the app's own validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from actor_trainer.core.contract import RunRequest
from actor_trainer.core.models import Actor, SampleSettings, TrainingParameters, Trial
from actor_trainer.core.request_builder import (
    RequestBuildError,
    build_run_request,
    execution_timeout_ms,
    sample_plan,
    sampling_seconds,
)
from actor_trainer.core.sample_keys import checkpoint_key, sample_key
from actor_trainer.core.workflow import (
    MAX_STEPS_PER_LOOP,
    WorkflowValidationError,
    build_workflow,
    describe_workflow,
    sample_steps_for,
    validate_workflow,
)
from actor_trainer.core.workflow_generate import build_generate_workflow
from actor_trainer.core.workflow_validation import validate_generate_workflow
from tests.fixtures.comfy_schema import check_prompt

ACTOR = Actor(id=3, name="0003_test")
URLS = [f"s3://b/actors/0003/training_data/{i}.png" for i in range(4)]
EDITED = SampleSettings(
    prompts=["{trigger} laughing, close-up", "a photo of a man on a beach"],
    every=300,
    seed=1234,
    width=768,
    height=1024,
    steps=28,
    guidance=4.0,
    keep_checkpoints=True,
)


def graph(params: TrainingParameters, sampling: SampleSettings | None) -> dict[str, Any]:
    return build_workflow(
        params,
        model_name="actor_0003_V1",
        trigger="ohwx",
        dataset_path="/d",
        output_dir="/o/actor_0003_V1",
        sampling=sampling,
    )


CASES = {
    "default sampling": (TrainingParameters(), SampleSettings()),
    "edited sampling": (TrainingParameters(max_train_steps=1000, resolution=768), EDITED),
    "sampling off": (TrainingParameters(), SampleSettings(every=0)),
    "long run": (TrainingParameters(max_train_steps=25_000), SampleSettings(every=12_000)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_sampled_graphs_pass_comfyui_and_the_app(case: str) -> None:
    params, sampling = CASES[case]
    built = graph(params, sampling)
    assert check_prompt(built) == []
    validate_workflow(built)
    summary = describe_workflow(built)
    assert sum(steps for _, steps in summary.loops) == params.max_train_steps
    assert all(steps <= MAX_STEPS_PER_LOOP for _, steps in summary.loops)
    expected = sample_steps_for(sampling.every, params.max_train_steps)
    assert [step for _, step in summary.sample_saves] == expected


def test_the_default_samples_graph_in_detail() -> None:
    built = graph(TrainingParameters(max_train_steps=2000), SampleSettings())
    summary = describe_workflow(built)
    assert [step for _, step in summary.sample_saves] == [500, 1000, 1500, 2000]
    settings = [n for n in built.values() if n["class_type"] == "FluxTrainValidationSettings"]
    assert len(settings) == 1 and settings[0]["inputs"]["seed"] == 42 and settings[0]["inputs"]["steps"] == 20
    init = built["107"]["inputs"]
    assert init["sample_prompts"].split("|") == list(summary.sample_prompts)
    assert all("ohwx" in p for p in summary.sample_prompts) and len(summary.sample_prompts) == 4
    prefixes = [built[node_id]["inputs"]["filename_prefix"] for node_id, _ in summary.sample_saves]
    assert prefixes == [f"actor_0003_V1/samples/step{s:06d}" for s in (500, 1000, 1500, 2000)]
    assert summary.checkpoint_steps == ()  # keep_checkpoints off


def test_edited_settings_reach_the_nodes_and_checkpoints_are_saved() -> None:
    built = graph(TrainingParameters(max_train_steps=1000), EDITED)
    settings = next(n["inputs"] for n in built.values() if n["class_type"] == "FluxTrainValidationSettings")
    assert (settings["seed"], settings["width"], settings["height"], settings["steps"], settings["guidance_scale"]) == (
        1234,
        768,
        1024,
        28,
        4.0,
    )
    summary = describe_workflow(built)
    assert summary.sample_prompts == ("ohwx laughing, close-up", "ohwx, a photo of a man on a beach")
    assert [s for _, s in summary.sample_saves] == [300, 600, 900, 1000]
    assert summary.checkpoint_steps == (300, 600, 900)
    assert summary.checkpoint_path(300) == "/o/actor_0003_V1/actor_0003_V1_rank8_bf16-step00000300.safetensors"


def test_sampling_off_is_the_v1_graph() -> None:
    plain = graph(TrainingParameters(), None)
    assert graph(TrainingParameters(), SampleSettings(every=0)) == plain
    assert not any(n["class_type"].startswith("FluxTrainValid") for n in plain.values())


def test_bad_sample_settings_are_refused_before_a_gpu_is_paid_for() -> None:
    with pytest.raises(WorkflowValidationError, match="split it"):
        graph(TrainingParameters(), SampleSettings(prompts=["{trigger} --w 2048"]))
    with pytest.raises(WorkflowValidationError, match="sample checkpoints"):
        graph(TrainingParameters(max_train_steps=10_000), SampleSettings(every=10))
    built = graph(TrainingParameters(), SampleSettings())
    broken = copy.deepcopy(built)
    broken["107"]["inputs"]["sample_prompts"] = ""
    with pytest.raises(WorkflowValidationError, match="sample_prompts"):
        validate_workflow(broken)
    validate_node = next(k for k, n in built.items() if n["class_type"] == "FluxTrainValidate")
    for mutate in (
        lambda g: g[validate_node]["inputs"].__setitem__("validation_settings", ["107", 0]),
        lambda g: next(n for n in g.values() if n["class_type"] == "FluxTrainValidationSettings")["inputs"].__setitem__(
            "steps", 0
        ),
    ):
        broken = copy.deepcopy(built)
        mutate(broken)
        assert check_prompt(broken)
        with pytest.raises(WorkflowValidationError):
            validate_workflow(broken)


def _urls(params: TrainingParameters, version: int) -> dict[str, Any]:
    return {
        "contract_version": version,
        "sample_url": lambda step, i: "s3://b/" + sample_key("", 3, "actor_0003_V1", step, i),
        "checkpoint_url": lambda step: "s3://b/" + checkpoint_key("", 3, "actor_0003_V1", step),
    }


def build(params: TrainingParameters, version: int, **extra: Any):
    return build_run_request(
        actor=ACTOR,
        params=params,
        version_name="V1",
        training_urls=URLS,
        output_url="s3://b/m.safetensors",
        webhook_base_url=None,
        request_id="r",
        **{**_urls(params, version), **extra},
    )


def test_a_v1_endpoint_gets_exactly_the_v1_body() -> None:
    params = TrainingParameters(sampling=EDITED)
    v1 = build(params, 1)
    plain = build_run_request(
        actor=ACTOR,
        params=TrainingParameters(),
        version_name="V1",
        training_urls=URLS,
        output_url="s3://b/m.safetensors",
        webhook_base_url=None,
        request_id="r",
    )
    assert v1.body == plain.body
    assert v1.body["input"]["training_config"]["contract_version"] == 1 and "task" not in v1.body["input"]
    assert v1.sample_steps == () and sample_plan(params, 1) == ([], [])


def test_a_v2_body_carries_sampling_urls_and_checkpoints() -> None:
    params = TrainingParameters(max_train_steps=1000, sampling=EDITED, trigger="ohwx")
    built = build(params, 2)
    config = built.body["input"]["training_config"]
    assert config["contract_version"] == 2
    assert config["sampling"] == {
        "prompts": ["ohwx laughing, close-up", "ohwx, a photo of a man on a beach"],
        "seed": 1234,
        "width": 768,
        "height": 1024,
        "steps": 28,
        "guidance": 4.0,
        "sample_steps": [300, 600, 900, 1000],
    }
    assert config["sample_urls"][0] == [
        "s3://b/actors/0003/models/actor_0003_V1/samples/step000300_p00.png",
        "s3://b/actors/0003/models/actor_0003_V1/samples/step000300_p01.png",
    ]
    assert len(config["sample_urls"]) == 4
    assert config["checkpoint_urls"] == {
        str(s): f"s3://b/actors/0003/models/actor_0003_V1_step{s:06d}.safetensors" for s in (300, 600, 900)
    }
    RunRequest.model_validate(built.body)
    assert check_prompt(built.body["input"]["workflow"]) == []
    # the graph samples the very prompts the request lists
    summary = describe_workflow(built.body["input"]["workflow"])
    assert list(summary.sample_prompts) == config["sampling"]["prompts"]
    # sampling makes the timeout longer
    assert built.body["policy"]["executionTimeout"] > execution_timeout_ms(params, len(URLS), 1)
    with pytest.raises(RequestBuildError, match="No URLs"):
        build(params, 2, sample_url=None)
    off = build(TrainingParameters(sampling=SampleSettings(every=0)), 2)
    assert "sampling" not in off.body["input"]["training_config"]


def test_sampling_seconds_counts_images_and_steps() -> None:
    assert sampling_seconds(None, 2000) == 0 and sampling_seconds(SampleSettings(every=0), 2000) == 0
    base = sampling_seconds(SampleSettings(), 2000)  # 4 checkpoints × 4 prompts × 20 steps at 512²
    assert base == pytest.approx(4 * (4 * (20 * 0.3 + 2) + 10))
    assert sampling_seconds(SampleSettings(steps=40), 2000) > base
    assert sampling_seconds(SampleSettings(width=1024, height=1024), 2000) > base
    assert sampling_seconds(SampleSettings(every=250), 2000) > base


TRIALS = {
    "defaults": Trial(id="t1", requestId="t1", prompt="photo of ohwx", seed=0),
    "edited": Trial(
        id="t2",
        requestId="t2",
        prompt="ohwx as a knight",
        negative="blurry",
        seed=2**40,
        count=4,
        strength=0.8,
        width=768,
        height=1344,
        checkpoint_step=500,
    ),
}


@pytest.mark.parametrize("name", list(TRIALS))
def test_the_generation_graph_passes_comfyui_and_the_app(name: str) -> None:
    trial = TRIALS[name]
    built = build_generate_workflow(trial, "try_abc123.safetensors")
    assert check_prompt(built) == []
    validate_generate_workflow(built)
    lora = next(n["inputs"] for n in built.values() if n["class_type"] == "LoraLoaderModelOnly")
    assert lora["lora_name"] == "try_abc123.safetensors" and lora["strength_model"] == trial.strength
    latent = next(n["inputs"] for n in built.values() if n["class_type"] == "EmptySD3LatentImage")
    assert (latent["width"], latent["height"], latent["batch_size"]) == (trial.width, trial.height, trial.count)
    sampler = next(n["inputs"] for n in built.values() if n["class_type"] == "KSampler")
    assert sampler["seed"] == trial.seed and sampler["cfg"] == (2.0 if trial.negative else 1.0)


def test_the_generation_graph_checks_catch_mistakes() -> None:
    base = build_generate_workflow(TRIALS["defaults"], "x.safetensors")
    with pytest.raises(WorkflowValidationError):
        build_generate_workflow(TRIALS["defaults"], "../x.safetensors")
    for mutate in (
        lambda g: g["9"]["inputs"].__setitem__("sampler_name", "euler_x"),
        lambda g: g["8"]["inputs"].__setitem__("batch_size", 0),
        lambda g: g["9"]["inputs"].__setitem__("positive", ["10", 0]),
        lambda g: g.pop("4") and g["9"]["inputs"].__setitem__("model", ["1", 0]),
    ):
        broken = copy.deepcopy(base)
        mutate(broken)
        with pytest.raises(WorkflowValidationError):
            validate_generate_workflow(broken)
