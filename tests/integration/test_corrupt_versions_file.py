"""One corrupt versions file blocks only its own actor (issue 9, item 14): start-up (summaries, the
runs in flight, the poller, the webhook token index), train, status and reconcile keep working for
the other actors, and the broken file is named. Real processes on the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.core.errors import CorruptFileError, LibraryError
from actor_trainer.core.library import Library
from actor_trainer.core.models import VersionStatus
from tests.integration.e2e_support import FAST_PARAMS, running, wait_terminal
from tests.library_factory import completed_version, make_library

BROKEN = '{"versions": [{"id": "job-x", "name": "V1", "status": "comp'  # cut off mid-write by hand


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"ACTOR_TRAINER_SANDBOX_SECONDS": "0.5", "ACTOR_TRAINER_POLL_SECONDS": "1"})
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", *args], capture_output=True, text=True, timeout=120, env=env
    )


def break_actor_1(lib: Path) -> Path:
    path = lib / "actor_training_versions" / "0001.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BROKEN, encoding="utf-8")
    return path


def test_the_library_passes_over_the_broken_file_and_names_it(tmp_path: Path) -> None:
    lib = make_library(
        tmp_path / "lib",
        versions={
            0: [
                completed_version("job-0", "V1"),
                {**completed_version("job-0b", "V2"), "status": "queued", "webhookTokenHash": "a" * 64},
            ]
        },
    )
    broken = break_actor_1(lib)
    library = Library(lib)
    assert [(a.id, v.id) for a, v in library.in_flight_versions()] == [(0, "job-0b")]
    assert list(library.unreadable) == [broken]
    assert len(library.summaries()) == 2
    assert library.find_version("job-0")[1].name == "V1"
    with pytest.raises(LibraryError) as missing:
        library.find_version("job-elsewhere")
    assert "0001.json" in missing.value.message
    with pytest.raises(CorruptFileError):
        library.load_versions(1)
    assert broken.read_text() == BROKEN  # never overwritten


@pytest.mark.asyncio
async def test_services_start_and_another_actor_trains(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=1.0) as (services, rec):
        broken = break_actor_1(services.library.root)
        await services.require_orchestrator().load_token_index()
        assert services.poller is not None
        await services.poller.reconcile("test")
        assert any("0001.json" in line and "other actors are not affected" in line for line in rec.logs())
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        final = await wait_terminal(services, 0, version.id)
        assert final.status is VersionStatus.COMPLETED
        assert broken.read_text() == BROKEN


def test_cli_train_status_reconcile_work_for_the_others(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 3, 1: 3}, versions={0: [completed_version("job-0", "V1")]})
    broken = break_actor_1(lib)
    data = ["--data-dir", str(lib)]
    assert cli(*data, "sync", "0").returncode == 0
    trained = cli(*data, "train", "0", "--steps", "20", "--dim", "4", "--alpha", "4", "--wait")
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["status"] == "completed"
    status = cli(*data, "status", "0", "--json")
    assert status.returncode == 0, status.stderr and json.loads(status.stdout)
    reconcile = cli(*data, "reconcile")
    assert reconcile.returncode == 0, reconcile.stderr
    assert "0001.json" in reconcile.stderr and "Traceback" not in reconcile.stderr
    actors = cli(*data, "actors", "--json", "--local")
    assert actors.returncode == 0 and len(json.loads(actors.stdout)) == 2
    # The broken actor's own commands say which file, without a traceback.
    for args in (("status", "1"), ("versions", "1"), ("train", "1", "--dry-run")):
        own = cli(*data, *args)
        assert own.returncode == 1 and str(broken) in own.stderr and "Traceback" not in own.stderr, own.stderr
    assert broken.read_text() == BROKEN
