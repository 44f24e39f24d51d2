"""Estimates learnt in the sandbox behave like real ones: with the sandbox's scaled timing
(sandbox/timing.py) a few short runs teach the seconds per step, `train --dry-run` prints the
estimate on stderr (stdout stays the exact /run body), and the next runs' recorded estimates come
within a tolerance of their actual times — at the same batch size and, scaled, at another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.core.estimate import accuracy, load_history
from actor_trainer.core.library import Library
from actor_trainer.core.models import VersionStatus
from tests.library_factory import make_library

#: A 2000-step, 512-px, batch-1 run takes this long in the scaled sandbox: 250 steps ≈ 1 s.
REFERENCE_SECONDS = "8"
TOLERANCE = 0.3  # the sandbox's fixed costs (downloads, upload, process timing) on a shared machine


def cli(lib: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({
        "ACTOR_TRAINER_SANDBOX_SECONDS": REFERENCE_SECONDS,
        "ACTOR_TRAINER_SANDBOX_TIMING": "scaled",
        "ACTOR_TRAINER_POLL_SECONDS": "1",
        "ACTOR_TRAINER_GPU_CLASS": "AMPERE_80",
    })  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "actor_trainer", "--data-dir", str(lib), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def train(lib: Path, steps: int, batch: int = 1) -> dict:  # type: ignore[type-arg]
    result = cli(
        lib,
        "train",
        "0",
        "--steps",
        str(steps),
        "--batch-size",
        str(batch),
        "--dim",
        "4",
        "--alpha",
        "4",
        "--wait",
        "--force",
    )
    assert result.returncode == 0, result.stderr
    assert "estimate: ≈ " in result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.slow
def test_estimates_learnt_in_the_sandbox_match_the_actual_times(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 6})
    assert cli(lib, "sync", "0").returncode == 0

    first = cli(lib, "train", "0", "--steps", "250", "--dry-run", "--force")
    assert first.returncode == 0, first.stderr
    json.loads(first.stdout)  # stdout is the /run body and nothing else
    assert "estimate: ≈ " in first.stderr and "default for A100 80 GB, no history yet" in first.stderr

    train(lib, 250)
    train(lib, 375)

    dry = cli(lib, "train", "0", "--steps", "500", "--dry-run", "--force")
    assert dry.returncode == 0, dry.stderr
    body = json.loads(dry.stdout)
    assert body["input"]["training_config"]["max_train_steps"] == 500
    assert "from 2 runs on this endpoint at 512 px, batch 1" in dry.stderr
    assert "estimates so far: last 2 runs: within ±" in dry.stderr  # the first two had estimates too
    print(dry.stderr)

    library = Library(lib)
    for steps, batch, basis in ((500, 1, "at 512 px, batch 1"), (250, 2, "scaled to 512 px, batch 2")):
        train(lib, steps, batch)
        version = library.load_versions(0)[0]
        assert version.status is VersionStatus.COMPLETED
        assert version.parameters.max_train_steps == steps and version.parameters.batch_size == batch
        assert version.estimate is not None and basis in version.estimate.basis
        actual = version.actual_seconds
        assert actual is not None and actual > 0.5
        error = abs(version.estimate.seconds - actual) / actual
        print(
            f"{steps} steps, batch {batch}: estimated {version.estimate.seconds:.2f} s, actual {actual:.2f} s "
            f"({error:+.0%}) — {version.estimate.basis}"
        )
        assert error < TOLERANCE, (version.estimate, actual)
    # What the app shows next to Start: the error of the last two (learnt) estimates.
    learnt = accuracy(load_history(library, "SANDBOX"), last=2)
    assert learnt is not None and learnt.runs == 2 and learnt.within < TOLERANCE
    print(learnt.text())
