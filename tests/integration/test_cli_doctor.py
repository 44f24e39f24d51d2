"""`actor-trainer doctor` and `train`'s refusal, as a pipeline engineer uses them: real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer import cli
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.parameter_memory import ParameterMemory
from actor_trainer.core.settings import config_dir
from tests.doctor_defects import BLOCKING, DEMO, PLANTED, plant_defects
from tests.library_factory import make_library


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"ACTOR_TRAINER_SANDBOX_SECONDS": "1", "ACTOR_TRAINER_POLL_SECONDS": "1"})
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return plant_defects(tmp_path / "lib")


def test_doctor_json_finds_every_planted_defect(planted: Path) -> None:
    result = run_cli("--data-dir", str(planted), "doctor", "0", "--json")
    assert result.returncode == 1, result.stderr  # something blocks
    doc = json.loads(result.stdout)
    assert doc["actor"] == {"id": 0, "name": "0000_european_16_male"}
    assert doc["assumed"]["steps"] == 2000 and doc["assumed"]["resolution"] == 512
    assert doc["assumed"]["source"] == "default"
    findings = doc["findings"]
    assert all(set(f) >= {"file", "code", "severity", "message"} for f in findings)
    assert {(f["file"], f["code"]) for f in findings} == PLANTED
    assert {(f["file"], f["code"]) for f in findings if f["severity"] == "blocking"} == BLOCKING
    assert {f["severity"] for f in findings} == {"blocking", "warning"}
    assert doc["summary"]["blocking"] == 3 and doc["summary"]["verdict"] == "blocked"
    assert result.stderr == ""  # JSON mode: nothing human unless something went wrong

    clean = run_cli("--data-dir", str(planted), "doctor", "1", "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["findings"] == []


def test_doctor_human_output_and_given_parameters(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--data-dir", str(planted), "doctor", "1", "--steps", "5000", "--resolution", "768"]) == 0
    err = capsys.readouterr().err
    assert "checked against 5000 steps at 768 px (given parameters)" in err
    assert "too_small" in err and "too_few_images_for_steps" in err and "0004_01.jpg is 512×512 px" in err

    assert cli.main(["--data-dir", str(planted), "doctor", "0"]) == 1
    err = capsys.readouterr().err
    assert "BLOCKS  notes.png [not_an_image]" in err and "train --force" in err


def test_doctor_assumes_the_remembered_parameters(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ParameterMemory(config_dir() / "actor_parameters.json").save(1, TrainingParameters(resolution=1024))
    assert cli.main(["--data-dir", str(planted), "doctor", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["assumed"] == {
        "steps": 2000,
        "resolution": 1024,
        "source": "remembered",
        "batch_size": 1,
        "trigger": "0001_african_34_female",
    }
    assert [f["code"] for f in doc["findings"]] == ["too_small"] * 6
    assert cli.main(["--data-dir", str(planted), "doctor", "1", "--json", "--resolution", "512"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["assumed"]["source"] == "given" and doc["findings"] == []


def test_the_demo_library_is_never_blocked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "demo"
    shutil.copytree(DEMO, lib)
    for actor in json.loads((lib / "actors.json").read_text(encoding="utf-8")):
        code = cli.main(["--data-dir", str(lib), "doctor", str(actor["id"]), "--json"])
        doc = json.loads(capsys.readouterr().out)
        if doc["summary"]["images"] == 0:  # actor 0008: no pictures yet, so no run can start
            assert code == 1 and [f["code"] for f in doc["findings"]] == ["too_few_images"]
            continue
        assert code == 0, doc
        assert all(f["severity"] == "warning" for f in doc["findings"]), doc


def test_dismiss_from_the_command_line(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--data-dir", str(planted), "doctor", "0", "--json", "--dismiss", "tiny.png:too_small"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert ("tiny.png", "too_small") not in {(f["file"], f["code"]) for f in doc["findings"]}
    assert [(f["file"], f["code"]) for f in doc["dismissed"]] == [("tiny.png", "too_small")]
    assert json.loads((planted / "actors.json").read_text(encoding="utf-8"))[0]["doctor_dismissed"]

    assert cli.main(["--data-dir", str(planted), "doctor", "0", "--dismiss", "notes.png:not_an_image"]) == 1
    assert "cannot be dismissed: it blocks training" in capsys.readouterr().err

    assert cli.main(["--data-dir", str(planted), "doctor", "0", "--json", "--undismiss", "tiny.png:too_small"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert ("tiny.png", "too_small") in {(f["file"], f["code"]) for f in doc["findings"]} and not doc["dismissed"]


def test_train_refuses_while_something_blocks(planted: Path) -> None:
    refused = run_cli("--data-dir", str(planted), "train", "0", "--steps", "30", "--wait")
    assert refused.returncode == 1
    assert "block training" in refused.stderr and "--force" in refused.stderr and "not_an_image" in refused.stderr
    assert not (planted / "actor_training_versions" / "0000.json").exists()  # nothing written, nothing sent

    dry = run_cli("--data-dir", str(planted), "train", "0", "--steps", "30", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would block a real run" in dry.stderr and json.loads(dry.stdout)["input"]  # stdout: the body


def test_train_force_starts_and_records_why(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 0, 1: 0})
    folder = lib / "actors" / "0000" / "training_data"
    for name in ("0000_01.png", "0000_04.png"):  # two pictures: too few to learn a likeness
        shutil.copy2(DEMO / "actors" / "0000" / "training_data" / name, folder / name)
    assert run_cli("--data-dir", str(lib), "sync", "0").returncode == 0

    refused = run_cli("--data-dir", str(lib), "train", "0", "--steps", "30", "--wait")
    assert refused.returncode == 1 and "too_few_images" in refused.stderr

    run = run_cli("--data-dir", str(lib), "train", "0", "--steps", "30", "--wait", "--force")
    assert run.returncode == 0, run.stderr
    assert "--force: starting despite" in run.stderr
    saved = json.loads((lib / "actor_training_versions" / "0000.json").read_text(encoding="utf-8"))
    version = saved["versions"][0]
    assert version["status"] == "completed"
    assert [(r["check"], r["code"], r["file"]) for r in version["forced"]] == [
        ("dataset_doctor", "too_few_images", None)
    ]
