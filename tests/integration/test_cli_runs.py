"""The headless run commands as a pipeline engineer uses them: real processes, the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.library_factory import make_library


def cli(*args: str, timeout: float = 90, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"ACTOR_TRAINER_SANDBOX_SECONDS": "1", "ACTOR_TRAINER_POLL_SECONDS": "1"})
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    return make_library(tmp_path / "lib", images={0: 6, 1: 0})


def test_dry_run_prints_the_contract_body(lib: Path) -> None:
    result = cli(
        "--data-dir",
        str(lib),
        "train",
        "0",
        "--steps",
        "1800",
        "--lr",
        "0.00025",
        "--dim",
        "16",
        "--alpha",
        "8",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) >= {"input", "policy"}
    job_input = body["input"]
    assert set(job_input) == {"workflow", "training_data", "training_config"}
    urls = job_input["training_data"]["s3_urls"]
    assert len(urls) == 6 and all(u.startswith("file://") and "/actors/0000/training_data/" in u for u in urls)
    config = job_input["training_config"]
    assert config["mode"] == "custom-actors" and config["user_id"] == "actor_maker_user"
    # The sandbox speaks worker contract v2 (issue 12): the run samples at 500, 1000, 1500 and 1800.
    assert config["model_name"] == "actor_0000_V1" and config["contract_version"] == 2
    assert config["sampling"]["sample_steps"] == [500, 1000, 1500, 1800]
    assert len(config["sample_urls"]) == 4
    assert config["sample_urls"][0][0].endswith("/models/actor_0000_V1/samples/step000500_p00.png")
    assert config["learning_rate"] == 0.00025 and config["max_train_steps"] == 1800
    assert config["actor_id"] == 0 and config["trigger"] == "0000_european_16_male"
    assert config["output_url"].endswith("/actors/0000/models/actor_0000_V1.safetensors")
    assert config["request_id"]
    init = next(n for n in job_input["workflow"].values() if n["class_type"] == "InitFluxLoRATraining")
    assert init["inputs"]["network_dim"] == 16 and init["inputs"]["network_alpha"] == 8
    assert init["inputs"]["learning_rate"] == 0.00025 and init["inputs"]["max_train_steps"] == 1800
    policy = body["policy"]
    assert policy["executionTimeout"] > 1800 * 1000 and policy["ttl"] >= policy["executionTimeout"]
    assert "api_key" not in result.stdout.lower() and "bearer" not in result.stdout.lower()
    assert "not fully synced" in result.stderr  # honest about the state of the data
    # Nothing was written: a dry run makes no version.
    assert not (lib / "actor_training_versions" / "0000.json").exists()


def test_dry_run_without_images_exits_1(lib: Path) -> None:
    result = cli("--data-dir", str(lib), "train", "1", "--dry-run")
    assert result.returncode == 1 and "no training images" in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_train_refuses_unsynced_data_then_sync_and_train_wait_completes(lib: Path) -> None:
    refused = cli("--data-dir", str(lib), "train", "0", "--steps", "30", "--dim", "4", "--alpha", "4", "--wait")
    assert refused.returncode == 1 and "not in the bucket" in refused.stderr and "sync 0" in refused.stderr

    synced = cli("--data-dir", str(lib), "sync", "0", "--json")
    assert synced.returncode == 0, synced.stderr
    assert len(json.loads(synced.stdout)[0]["uploaded"]) == 6
    again = cli("--data-dir", str(lib), "sync", "0", "--json")
    assert json.loads(again.stdout)[0]["uploaded"] == [] and len(json.loads(again.stdout)[0]["skipped"]) == 6

    actors = json.loads(cli("--data-dir", str(lib), "actors", "--json").stdout)
    assert actors[0]["sync_state"] == "synced" and actors[0]["remote_images"] == 6
    assert actors[1]["sync_state"] == "no_data"

    run = cli(
        "--data-dir",
        str(lib),
        "train",
        "0",
        "--steps",
        "30",
        "--dim",
        "4",
        "--alpha",
        "4",
        "--wait",
        "--description",
        "from the CLI",
    )
    assert run.returncode == 0, run.stderr
    version = json.loads(run.stdout)
    assert version["status"] == "completed" and version["loraUrl"] and version["description"] == "from the CLI"

    good = cli("--data-dir", str(lib), "mark-good", "0", version["id"])
    assert good.returncode == 0, good.stderr
    registry = json.loads((lib / "actors.json").read_text())
    assert registry[0]["validated_lora_model"]["version_id"] == version["id"]


@pytest.mark.slow
def test_failed_run_exits_1_with_the_workers_message(lib: Path, tmp_path: Path) -> None:
    assert cli("--data-dir", str(lib), "sync", "0").returncode == 0
    run = cli("--data-dir", str(lib), "train", "0", "--optimizer", "AdamW8bit", "--wait")
    assert run.returncode == 1  # refused before spending money: the trainer rejects that spelling
    assert "optimizer_type" in run.stderr
