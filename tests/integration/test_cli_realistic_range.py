"""`train` and `train --dry-run` refuse values outside the realistic range without `--force`,
with a sentence saying why and what it costs; `--force` starts anyway and records it in the
version. Real processes on the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actor_trainer.core.lora_file import read_lora_info
from actor_trainer.core.storage.local import path_from_file_url
from actor_trainer.sandbox.lora import MAX_WRITTEN_RANK
from tests.integration.test_cli_runs import cli
from tests.library_factory import make_library


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    return make_library(tmp_path / "lib", images={0: 6, 1: 0})


@pytest.mark.parametrize(
    ("flags", "sentence"),
    [
        (("--dim", "256"), "Rank 256 is above the 1–128 used for a person's likeness"),
        (("--lr", "5"), "Learning rate 5 is above 0.001"),
        (("--dim", "8", "--alpha", "64"), "Alpha 64 is above the rank (8)"),
        (("--steps", "100000"), "100000 steps are many for 6 image(s)"),
    ],
)
def test_dry_run_refuses_an_unusual_value_without_force(lib: Path, flags: tuple[str, ...], sentence: str) -> None:
    result = cli("--data-dir", str(lib), "train", "0", *flags, "--dry-run")
    assert result.returncode == 1 and result.stdout == ""
    assert sentence in result.stderr and "--force" in result.stderr


def test_dry_run_with_force_prints_the_body_and_says_what_it_accepted(lib: Path) -> None:
    result = cli("--data-dir", str(lib), "train", "0", "--dim", "256", "--dry-run", "--force")
    assert result.returncode == 0, result.stderr
    init = next(
        n for n in json.loads(result.stdout)["input"]["workflow"].values() if n["class_type"] == "InitFluxLoRATraining"
    )
    assert init["inputs"]["network_dim"] == 256  # never silently changed
    assert "--force: starting despite — Rank 256 is above" in result.stderr


@pytest.mark.slow
def test_forced_run_records_what_was_forced_and_the_sandbox_lora_stays_small(lib: Path) -> None:
    assert cli("--data-dir", str(lib), "sync", "0").returncode == 0
    refused = cli("--data-dir", str(lib), "train", "0", "--dim", "4096", "--alpha", "8", "--steps", "30", "--wait")
    assert refused.returncode == 1 and "Rank 4096" in refused.stderr
    assert not (lib / "actor_training_versions" / "0000.json").exists()  # nothing written, nothing sent

    run = cli(
        "--data-dir", str(lib), "train", "0", "--dim", "4096", "--alpha", "8", "--steps", "30", "--wait", "--force"
    )
    assert run.returncode == 0, run.stderr
    version = json.loads(run.stdout)
    assert version["status"] == "completed"
    assert [(f["check"], f["field"], f["value"]) for f in version["forced"]] == [
        ("realistic_range", "network_dim", 4096)
    ]
    assert "Rank 4096 is above" in version["forced"][0]["message"]
    info = read_lora_info(path_from_file_url(version["loraUrl"]))
    assert info.rank == MAX_WRITTEN_RANK and info.metadata["ss_network_dim"] == "4096"
    assert info.metadata["simulation_written_rank"] == str(MAX_WRITTEN_RANK)
