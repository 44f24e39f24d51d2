"""Worker contract v2 (docs/worker-contract.md): the new request fields, lenient readers of
progress and results, and the per-endpoint memory of the contract version."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from actor_trainer.core.contract import (
    GenerateConfig,
    JobStatus,
    TrainingConfig,
    checkpoints_of,
    contract_version_of,
    images_of,
    samples_of,
)
from actor_trainer.core.contract_memory import ContractMemory, speaks_v2
from actor_trainer.core.errors import ConfigError
from actor_trainer.core.sample_keys import checkpoint_key, sample_key, trial_image_key
from actor_trainer.core.settings import Settings, resolve_config


def _sample(step: int, index: int, url: str | None = None) -> dict:
    return {
        "url": url or f"s3://b/s{step}_{index}.png",
        "prompt": f"p{index}",
        "seed": 42,
        "step": step,
        "index": index,
    }


def test_samples_are_read_leniently_sorted_and_deduplicated() -> None:
    payload = {
        "phase": "sampling",
        "step": 1000,
        "contract_version": 2,
        "samples": [
            _sample(1000, 1),
            _sample(500, 0),
            "junk",
            {"url": "", "prompt": "x", "seed": 1, "step": 5},
            {"url": "u", "prompt": "x", "seed": -1, "step": 5},
            _sample(500, 0, "s3://b/again.png"),
        ],
    }
    got = samples_of(payload)
    assert [(s.step, s.index, s.url) for s in got] == [(500, 0, "s3://b/again.png"), (1000, 1, "s3://b/s1000_1.png")]
    status = JobStatus.model_validate({"id": "j", "status": "IN_PROGRESS", "output": payload})
    assert status.progress().phase == "sampling"  # type: ignore[union-attr]
    assert samples_of(status) == got and contract_version_of(status) == 2


def test_a_v1_payload_has_no_samples_and_no_version() -> None:
    v1 = {"phase": "training", "step": 10, "total": 100, "loss": 0.3}
    assert samples_of(v1) == [] and contract_version_of(v1) is None and checkpoints_of(v1) == []
    assert samples_of({"samples": "not a list"}) == [] and samples_of(None) == []
    assert contract_version_of({"contract_version": True}) is None
    status = JobStatus.model_validate({"id": "j", "status": "IN_PROGRESS", "output": {**v1, "samples": 7}})
    assert status.progress().step == 10  # type: ignore[union-attr]  # a bad samples field fails nothing


def test_result_checkpoints_and_images() -> None:
    result = {
        "status": "success",
        "loraUrl": "s3://b/m.safetensors",
        "contract_version": 2,
        "checkpoints": [
            {"step": 1000, "url": "s3://b/c1000"},
            {"step": "500", "url": "s3://b/c500"},
            {"step": 0, "url": "x"},
            {"step": 700},
        ],
        "images": [
            {"url": "s3://b/t_01.png", "prompt": "p", "seed": 7, "index": 1},
            {"url": "s3://b/t_00.png", "prompt": "p", "seed": 7, "index": 0},
        ],
    }
    assert [(c.step, c.url) for c in checkpoints_of(result)] == [(500, "s3://b/c500"), (1000, "s3://b/c1000")]
    assert [i.url for i in images_of(result)] == ["s3://b/t_00.png", "s3://b/t_01.png"]
    status = JobStatus.model_validate({"id": "j", "status": "COMPLETED", "output": result})
    assert status.result().lora_url() == "s3://b/m.safetensors"  # type: ignore[union-attr]


def _config(**extra) -> dict:
    return {
        "model_name": "actor_0001_V1",
        "learning_rate": 1e-4,
        "max_train_steps": 1000,
        "request_id": "r",
        "actor_id": 1,
        "trigger": "t",
        "output_url": "s3://b/m",
        **extra,
    }


def test_training_config_v2_fields_are_checked() -> None:
    sampling = {
        "prompts": ["a t", "b t"],
        "seed": 1,
        "width": 512,
        "height": 512,
        "steps": 20,
        "guidance": 3.5,
        "sample_steps": [500, 1000],
    }
    urls = [["u1", "u2"], ["u3", "u4"]]
    ok = TrainingConfig.model_validate(
        _config(contract_version=2, sampling=sampling, sample_urls=urls, checkpoint_urls={"500": "c"})
    )
    assert ok.sampling is not None and ok.sampling.sample_steps == [500, 1000]
    bad = [
        _config(contract_version=1, sampling=sampling, sample_urls=urls),
        _config(contract_version=2, sampling=sampling),
        _config(contract_version=2, sampling=sampling, sample_urls=[["u1"], ["u3", "u4"]]),
        _config(contract_version=2, sampling={**sampling, "sample_steps": [1000, 500]}, sample_urls=urls),
        _config(contract_version=2, sampling={**sampling, "sample_steps": [500, 1500]}, sample_urls=urls),
        _config(contract_version=2, sampling={**sampling, "prompts": ["a|b", "c"]}, sample_urls=urls),
        _config(contract_version=2, checkpoint_urls={"5000": "c"}),
    ]
    for body in bad:
        with pytest.raises(ValidationError):
            TrainingConfig.model_validate(body)


def test_generate_config_needs_one_url_per_image() -> None:
    base = {
        "lora_url": "s3://b/l",
        "prompt": "p",
        "seed": 1,
        "count": 2,
        "strength": 1.0,
        "width": 1024,
        "height": 1024,
        "steps": 20,
        "guidance": 3.5,
        "image_urls": ["a", "b"],
    }
    assert GenerateConfig.model_validate(base).contract_version == 2
    with pytest.raises(ValidationError):
        GenerateConfig.model_validate({**base, "image_urls": ["a"]})
    with pytest.raises(ValidationError):
        GenerateConfig.model_validate({**base, "contract_version": 1})


def test_keys_follow_the_layout() -> None:
    assert (
        sample_key("pre", 7, "actor_0007_V2", 500, 0)
        == "pre/actors/0007/models/actor_0007_V2/samples/step000500_p00.png"
    )
    assert checkpoint_key("", 7, "actor_0007_V2", 1500) == "actors/0007/models/actor_0007_V2_step001500.safetensors"
    assert trial_image_key("", 7, "actor_0007_V2", "req-1", 3) == "actors/0007/trials/actor_0007_V2/req-1_03.png"
    with pytest.raises(ValueError):
        trial_image_key("", 7, "actor_0007_V2", "../x", 0)


def test_memory_remembers_the_highest_version_per_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTOR_TRAINER_WORKER_CONTRACT", raising=False)
    memory = ContractMemory(tmp_path)
    assert not memory.speaks_v2("ep1") and memory.version_for("ep1") == 1
    assert memory.speaks_v2("SANDBOX")
    assert memory.note_payload("ep1", {"phase": "training"}) is False  # v1: nothing stated
    assert memory.note_payload("ep1", {"contract_version": 2}) is True
    assert memory.note("ep1", 1) is False  # never lowered
    again = ContractMemory(tmp_path)  # another process
    assert again.speaks_v2("ep1") and not again.speaks_v2("ep2")
    assert speaks_v2("ep1", folder=tmp_path)
    assert not ContractMemory(tmp_path, "1").speaks_v2("ep1")  # the setting overrides the memory
    assert ContractMemory(tmp_path, "2").speaks_v2("ep2")
    monkeypatch.setenv("ACTOR_TRAINER_WORKER_CONTRACT", "1")
    assert not ContractMemory(tmp_path, "2").speaks_v2("SANDBOX")  # the environment overrides the setting
    (tmp_path / "worker_contracts.json").write_text("{not json", encoding="utf-8")
    monkeypatch.delenv("ACTOR_TRAINER_WORKER_CONTRACT")
    assert ContractMemory(tmp_path).version_for("ep1") == 1  # a corrupt file is ignored, not fatal


def test_the_setting_and_its_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNPOD_ENDPOINT_ID", "RUNPOD_API_KEY", "ACTOR_TRAINER_WORKER_CONTRACT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(worker_contract="2")
    assert resolve_config(settings, data_dir=tmp_path).worker_contract == "2"
    monkeypatch.setenv("ACTOR_TRAINER_WORKER_CONTRACT", "1")
    assert resolve_config(settings, data_dir=tmp_path).worker_contract == "1"
    monkeypatch.setenv("ACTOR_TRAINER_WORKER_CONTRACT", "3")
    with pytest.raises(ConfigError):
        resolve_config(settings, data_dir=tmp_path)


def test_the_estimate_counts_sampling_on_a_v2_endpoint() -> None:
    from actor_trainer.core.estimate import estimate_run
    from actor_trainer.core.models import SampleSettings, TrainingParameters
    from actor_trainer.core.request_builder import sampling_seconds

    params = TrainingParameters(max_train_steps=2000, sampling=SampleSettings(every=500))
    plain = estimate_run(params, [], gpu="ADA_24")
    sampled = estimate_run(params, [], gpu="ADA_24", samples=True)
    expected = sampling_seconds(params.sample_settings, 2000, 0.3 * 1.6 / 1.5)
    assert sampled.execution_s - plain.execution_s == pytest.approx(expected) and expected > 0
    assert "sampling" in sampled.basis
    off = TrainingParameters(sampling=SampleSettings(every=0))
    with_off = estimate_run(off, [], gpu="ADA_24", samples=True)
    assert with_off.execution_s == estimate_run(off, [], gpu="ADA_24").execution_s
