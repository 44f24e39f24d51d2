"""The `POST /run` body (docs/worker-contract.md): built, validated, nothing secret in `input`."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from actor_trainer.core.contract import RunRequest
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.request_builder import (
    MAX_POLICY_MS,
    QUEUE_ALLOWANCE_MS,
    BuiltRequest,
    EmptyTrainingDataError,
    RequestBuildError,
    build_run_request,
    execution_timeout_ms,
)
from actor_trainer.core.webhook_tokens import new_webhook_token, webhook_token_hash
from actor_trainer.core.workflow import WorkflowValidationError, describe_workflow, validate_workflow

DEMO = Actor(id=0, name="0000_european_16_male")
URLS = [f"s3://bucket/prefix/actors/0000/training_data/img{i}.png" for i in range(1, 16)]
OUTPUT_URL = "s3://bucket/prefix/actors/0000/models/actor_0000_V1.safetensors"
PUBLIC = "https://abc123.ngrok.app"


def make(params: TrainingParameters | None = None, **kwargs: Any) -> BuiltRequest:
    options: dict[str, Any] = {
        "actor": DEMO,
        "params": params or TrainingParameters(),
        "version_name": "V1",
        "training_urls": URLS,
        "output_url": OUTPUT_URL,
        "webhook_base_url": PUBLIC,
    }
    options.update(kwargs)
    return build_run_request(**options)


def test_full_body_of_the_demo_actor_field_by_field() -> None:
    request_id = "7f0c7e7e-5f0e-4a57-9d1c-0d6f7c1c2a11"
    built = make(request_id=request_id, webhook_token="tok-123")
    body = built.body
    assert set(body) == {"input", "webhook", "policy"}
    assert set(body["input"]) == {"workflow", "training_data", "training_config"}

    assert body["input"]["training_data"] == {"s3_urls": URLS}
    config = body["input"]["training_config"]
    assert config == {
        "mode": "custom-actors",
        "user_id": "actor_maker_user",
        "model_name": "actor_0000_V1",
        "learning_rate": 0.0004,
        "max_train_steps": 2000,
        "contract_version": 1,
        "request_id": request_id,
        "actor_id": 0,
        "trigger": "0000_european_16_male",
        "output_url": OUTPUT_URL,
    }
    assert body["webhook"] == f"{PUBLIC}/api/training-webhook/tok-123"
    policy = body["policy"]
    assert set(policy) == {"executionTimeout", "ttl"}
    assert policy["executionTimeout"] == execution_timeout_ms(TrainingParameters(), len(URLS))
    assert 60 * 60_000 <= policy["executionTimeout"] <= 4 * 3600_000  # a 20–60 min run, with margin
    assert policy["ttl"] == 24 * 3600 * 1000

    workflow = body["input"]["workflow"]
    validate_workflow(workflow)
    summary = describe_workflow(workflow)
    assert summary.output_name == "actor_0000_V1"
    assert summary.trigger == "0000_european_16_male"
    assert summary.dataset_path == "/workspace/datasets/actor_0000_V1"
    assert summary.output_filename == "actor_0000_V1_rank8_bf16.safetensors"
    assert workflow["107"]["inputs"]["learning_rate"] == 0.0004
    assert workflow["4"]["inputs"]["steps"] == 2000

    assert (built.request_id, built.model_name, built.output_url, built.webhook_token) == (
        request_id, "actor_0000_V1", OUTPUT_URL, "tok-123",
    )  # fmt: skip
    # The body is exactly what the contract model accepts and writes back.
    assert RunRequest.model_validate(body).to_json() == body
    json.dumps(body)  # plain JSON, nothing else


def test_the_webhook_token_never_appears_in_input() -> None:
    built = make()
    token = built.webhook_token
    assert token is not None and len(token) >= 40
    assert built.body["webhook"].endswith(f"/api/training-webhook/{token}")
    assert token not in json.dumps(built.body["input"])
    assert webhook_token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert webhook_token_hash(token) not in json.dumps(built.body)


def test_poll_only_mode_has_no_webhook_key_and_no_token() -> None:
    built = make(webhook_base_url=None, webhook_token="ignored")
    assert "webhook" not in built.body
    assert built.webhook_token is None
    RunRequest.model_validate(built.body)


def test_each_job_gets_its_own_request_id_and_token() -> None:
    a, b = make(), make()
    assert a.request_id != b.request_id and a.webhook_token != b.webhook_token
    assert str(uuid.UUID(a.request_id)) == a.request_id
    assert a.body["input"]["training_config"]["request_id"] == a.request_id
    assert new_webhook_token() != new_webhook_token()


def test_trailing_slash_of_the_public_url() -> None:
    built = make(webhook_base_url=PUBLIC + "/", webhook_token="t")
    assert built.body["webhook"] == f"{PUBLIC}/api/training-webhook/t"


@pytest.mark.parametrize("base", ["abc123.ngrok.app", "ftp://host", ""])
def test_a_webhook_base_that_is_not_http_is_refused(base: str) -> None:
    with pytest.raises(RequestBuildError):
        make(webhook_base_url=base)


def test_empty_training_data_is_never_sent() -> None:
    with pytest.raises(EmptyTrainingDataError) as info:
        make(training_urls=[])
    assert isinstance(info.value, ActorTrainerError)
    assert "0000" in info.value.message and info.value.hint


def test_a_blank_training_url_is_refused() -> None:
    with pytest.raises(RequestBuildError, match="number 2"):
        make(training_urls=[URLS[0], "  "])


@pytest.mark.parametrize("name", ["1", "v1", "V0", "V1a", ""])
def test_bad_version_names_are_refused(name: str) -> None:
    with pytest.raises(RequestBuildError):
        make(version_name=name)


def test_versions_and_ids_shape_the_model_name() -> None:
    actor = Actor(id=42, name="0042_someone")
    built = make(actor=actor, version_name="V12")
    assert built.model_name == "actor_0042_V12"
    config = built.body["input"]["training_config"]
    assert config["actor_id"] == 42 and config["model_name"] == "actor_0042_V12"
    assert built.body["input"]["workflow"]["98"]["inputs"]["filename_prefix"] == "actor_0042_V12_loss"


def test_a_trigger_set_by_the_user_is_used_everywhere() -> None:
    built = make(TrainingParameters(trigger="ohwx man"))
    assert built.body["input"]["training_config"]["trigger"] == "ohwx man"
    workflow = built.body["input"]["workflow"]
    assert workflow["109"]["inputs"]["class_tokens"] == "ohwx man"
    assert "ohwx man" in workflow["107"]["inputs"]["sample_prompts"]


@pytest.mark.parametrize(
    ("field", "value", "node_id", "input_name"),
    [
        ("learning_rate", 0.000123, "107", "learning_rate"),
        ("max_train_steps", 3333, "107", "max_train_steps"),
        ("network_dim", 64, "107", "network_dim"),
        ("network_alpha", 32.0, "107", "network_alpha"),
        ("gradient_dtype", "fp32", "107", "gradient_dtype"),
        ("save_dtype", "fp16", "107", "save_dtype"),
        ("optimizer_type", "Lion8bit", "95", "optimizer_type"),
        ("lr_scheduler", "constant_with_warmup", "95", "lr_scheduler"),
        ("lr_warmup_steps", 150, "95", "lr_warmup_steps"),
        ("batch_size", 2, "109", "batch_size"),
        ("num_repeats", 3, "109", "num_repeats"),
        ("resolution", 1024, "109", "width"),
        ("resolution", 1024, "109", "height"),
    ],
)
def test_every_value_the_user_set_reaches_the_workflow(field: str, value: Any, node_id: str, input_name: str) -> None:
    built = make(TrainingParameters(**{field: value}))
    written = built.body["input"]["workflow"][node_id]["inputs"][input_name]
    assert written == value and type(written) is type(value)
    if field in ("learning_rate", "max_train_steps"):
        assert built.body["input"]["training_config"][field] == value


def test_more_than_10000_steps_builds_a_valid_request() -> None:
    built = make(TrainingParameters(max_train_steps=25_000))
    RunRequest.model_validate(built.body)
    loops = describe_workflow(built.body["input"]["workflow"]).loops
    assert sum(steps for _, steps in loops) == 25_000


def test_invalid_workflow_values_stop_the_build() -> None:
    # Parameters that bypassed their own validation (e.g. read from a hand-edited file) are still
    # checked against what the worker accepts before anything is sent.
    params = TrainingParameters.model_construct(**{**TrainingParameters().model_dump(), "optimizer_type": "AdamW8bit"})
    with pytest.raises(WorkflowValidationError, match="optimizer_type"):
        make(params)


# --- policy -------------------------------------------------------------------------------------


def test_execution_timeout_grows_with_the_work() -> None:
    base = TrainingParameters()
    t = execution_timeout_ms(base, 20)
    # Documented example: 2000 steps at 512 px, batch 1, 20 images ≈ 2 h 2 min.
    assert t == (2000 * 1.5 * 2 + 20 * 60 + 20 * 5) * 1000
    assert execution_timeout_ms(TrainingParameters(max_train_steps=4000), 20) > t
    assert execution_timeout_ms(TrainingParameters(resolution=1024), 20) > t
    assert execution_timeout_ms(TrainingParameters(batch_size=2), 20) > t
    assert execution_timeout_ms(base, 200) > t


def test_execution_timeout_is_clamped_to_runpods_range() -> None:
    huge = TrainingParameters(max_train_steps=100_000, resolution=4096, batch_size=256)
    assert execution_timeout_ms(huge, 10_000) == MAX_POLICY_MS
    assert execution_timeout_ms(TrainingParameters(max_train_steps=1), 0) >= 5_000


def test_ttl_covers_the_execution_timeout() -> None:
    long_run = TrainingParameters(max_train_steps=60_000, lr_warmup_steps=0)
    built = make(long_run, ttl_ms=3600_000)
    policy = built.body["policy"]
    assert policy["ttl"] == policy["executionTimeout"] + QUEUE_ALLOWANCE_MS
    assert make(ttl_ms=3 * 24 * 3600_000).body["policy"]["ttl"] == 3 * 24 * 3600_000
    capped = make(TrainingParameters(max_train_steps=100_000, resolution=4096, batch_size=8))
    assert capped.body["policy"]["ttl"] == MAX_POLICY_MS
    RunRequest.model_validate(capped.body)


def test_a_request_id_given_empty_is_refused() -> None:
    with pytest.raises(RequestBuildError):
        make(request_id=" ")
