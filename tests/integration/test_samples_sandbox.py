"""Issue 12 in the sandbox, as a new user would: a run's samples land checkpoint by checkpoint, and
the CLI lists them, tries a new prompt, compares two versions on a contact sheet, marks a checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from actor_trainer.core.contact_sheet import CELL, HEADER_HEIGHT, LABEL_WIDTH, PAD
from actor_trainer.core.contract_memory import ContractMemory
from actor_trainer.core.events import VersionChanged
from actor_trainer.core.models import SampleSettings, VersionStatus
from actor_trainer.core.storage.local import path_from_file_url
from tests.integration.e2e_support import FAST_PARAMS, running, wait_terminal
from tests.library_factory import make_library
from tests.waits import wait_until


@pytest.mark.asyncio
async def test_samples_land_as_checkpoints_do_and_stay_with_the_version(tmp_path: Path) -> None:
    params = FAST_PARAMS.model_copy(update={"sampling": SampleSettings(every=20, keep_checkpoints=True)})
    # 2 s between the step-20 and the final samples, polled every 0.2 s: a busy machine still sees the
    # step-20 samples alone (at 1.5 s and 0.3 s polls it missed them 2 times in 4 under load).
    async with running(tmp_path, sandbox_duration_s=4.0, poll_seconds=0.2) as (services, rec):
        version = await services.require_orchestrator().submit(0, params)
        done = await wait_terminal(services, 0, version.id)
        assert done.status is VersionStatus.COMPLETED and done.contractVersion == 2
        # Seen while it ran: first the step-20 samples alone, then all of them, before completion.
        seen = [
            (e.version.status, len(e.version.samples or []))
            for e in rec.events
            if isinstance(e, VersionChanged) and e.version.key == done.key
        ]
        counts = [n for status, n in seen if status is VersionStatus.IN_PROGRESS]
        assert 4 in counts and counts == sorted(counts), seen
        assert [(s.step, s.index) for s in done.samples or []] == [(st, i) for st in (20, 40) for i in range(4)]
        trigger = done.parameters.trigger_for(services.library.get_actor(0))
        assert all(trigger in s.prompt for s in done.samples or [])
        for s in done.samples or []:
            assert f"/actors/0000/models/actor_0000_{done.name}/samples/step{s.step:06d}_p{s.index:02d}.png" in s.url
            assert Image.open(path_from_file_url(s.url)).format == "PNG"
        assert [c.step for c in done.checkpoints or []] == [20]  # the last step is the final LoRA itself
        # The endpoint's contract version is remembered (core/contract_memory.py), off the loop.
        memory = ContractMemory()
        await wait_until(lambda: memory.remembered(services.config.endpoint_label) == 2)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"ACTOR_TRAINER_SANDBOX_SECONDS": "1", "ACTOR_TRAINER_POLL_SECONDS": "1"})
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_cli_samples_try_compare_and_mark_a_checkpoint(tmp_path: Path) -> None:
    lib = str(make_library(tmp_path / "lib", images={0: 6, 1: 0}))
    assert cli("--data-dir", lib, "sync", "0").returncode == 0
    for lr in ("0.0004", "0.0002"):
        trained = cli("--data-dir", lib, "train", "0", "--steps", "1000", "--lr", lr, "--wait")
        assert trained.returncode == 0, trained.stderr

    listed = cli("--data-dir", lib, "samples", "0", "V1", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["version"] == "V1" and doc["contract_version"] == 2
    assert sorted({s["step"] for s in doc["samples"]}) == [500, 1000] and len(doc["samples"]) == 8

    out = tmp_path / "v2_500"
    got = cli("--data-dir", lib, "samples", "0", "V2@500", "--out", str(out))
    assert got.returncode == 0, got.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"step000500_p{i:02d}.png" for i in range(4)]

    dry = cli("--data-dir", lib, "try", "0", "V2", "--prompt", "{trigger} on a beach", "--seed", "9", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    body = json.loads(dry.stdout)
    assert body["input"]["task"] == "generate" and body["input"]["generate"]["seed"] == 9
    assert body["input"]["generate"]["prompt"] == "0000_european_16_male on a beach"
    assert json.loads(cli("--data-dir", lib, "samples", "0", "V2", "--json").stdout)["trials"] == []  # nothing written

    tried = cli(
        "--data-dir",
        lib,
        "try",
        "0",
        "V2",
        "--prompt",
        "{trigger} on a beach",
        "--seed",
        "9",
        "--count",
        "2",
        "--out",
        str(tmp_path / "tries"),
        "--json",
    )
    assert tried.returncode == 0, tried.stderr
    trial = json.loads(tried.stdout)
    assert trial["status"] == "completed" and [i["seed"] for i in trial["images"]] == [9, 10]
    assert all(Path(i["file"]).is_file() for i in trial["images"])
    again = json.loads(cli("--data-dir", lib, "samples", "0", "V2", "--json").stdout)
    assert again["trials"][0]["prompt"] == "0000_european_16_male on a beach"

    sheet = tmp_path / "sheet.png"
    compared = cli("--data-dir", lib, "compare", "0", "V1", "V2", "V2@500", "--out", str(sheet), "--json")
    assert compared.returncode == 0, compared.stderr
    described = json.loads(compared.stdout)
    assert [r["title"] for r in described["rows"]] == ["V1", "V2", "V2@500"] and len(described["columns"]) == 4
    image = Image.open(sheet)
    assert image.size == (LABEL_WIDTH + 4 * (CELL + PAD) + PAD, HEADER_HEIGHT + 3 * (CELL + PAD) + PAD)

    # Checkpoints are not kept by default: marking one is refused with a sentence; the final LoRA is fine.
    refused = cli("--data-dir", lib, "mark-good", "0", "V2@500")
    assert refused.returncode == 1 and "no checkpoint at step 500" in refused.stderr
    assert cli("--data-dir", lib, "mark-good", "0", "V2").returncode == 0
