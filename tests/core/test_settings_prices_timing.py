"""The settings behind issue 13's estimate: GPU prices are 0 or more, and the sandbox users meet
(the app, the CLI) has scaled timing by default while the test suite runs on fixed timing — also in
the CLI processes the tests start, which inherit it through the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actor_trainer.core.errors import ConfigError, CorruptFileError
from actor_trainer.core.estimate import estimate_run
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.settings import SANDBOX_SECONDS_DEFAULT, Settings, gpu_table, resolve_config
from actor_trainer.sandbox.timing import simulated_seconds


@pytest.mark.parametrize("bad", ["-0.001", "Infinity", "NaN", '"cheap"'])
def test_a_price_that_is_not_a_number_of_dollars_or_more_is_refused_with_where(tmp_path: Path, bad: str) -> None:
    (tmp_path / "settings.json").write_text('{"gpu_prices": {"AMPERE_24": ' + bad + "}}")
    with pytest.raises(CorruptFileError) as raised:
        Settings.load(tmp_path)
    assert "gpu_prices.AMPERE_24" in str(raised.value)
    (tmp_path / "settings.json").write_text('{"gpu_prices": {"AMPERE_24": 0}}')
    assert Settings.load(tmp_path).gpu_prices == {"AMPERE_24": 0.0}  # free is a price


def test_the_estimate_uses_the_saved_price_and_says_its_date() -> None:
    params = TrainingParameters()
    default = estimate_run(params, [], gpu="AMPERE_24", gpus=gpu_table({}))
    doubled = estimate_run(
        params, [], gpu="AMPERE_24", gpus=gpu_table({"AMPERE_24": 0.00038}), prices_as_of="2027-01-05"
    )
    assert default.cost is not None and doubled.cost == pytest.approx(default.cost * 2)
    assert doubled.basis.endswith("A5000 / L4 / 3090 24 GB at $0.00038/s (prices as of 2027-01-05)")


def test_the_sandbox_users_meet_scales_a_run_with_its_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTOR_TRAINER_SANDBOX_TIMING")  # as on a user's machine
    config = resolve_config(Settings(), data_dir=tmp_path / "lib")
    assert config.sandbox and config.sandbox_timing == "scaled"
    assert config.sandbox_duration_s == SANDBOX_SECONDS_DEFAULT == 20.0
    seconds = {
        (steps, res, batch): simulated_seconds(
            config.sandbox_duration_s, steps=steps, resolution=res, batch_size=batch, timing=config.sandbox_timing
        )
        for steps, res, batch in ((2000, 512, 1), (1500, 512, 1), (2000, 1024, 1), (2000, 512, 2))
    }
    # the default parameters take what every demo run took before (20 s); the rest scale like a GPU
    assert seconds == {
        (2000, 512, 1): 20.0,
        (1500, 512, 1): 15.0,
        (2000, 1024, 1): 80.0,
        (2000, 512, 2): 40.0,
    }
    assert resolve_config(Settings(sandbox_timing="fixed"), data_dir=tmp_path / "lib").sandbox_timing == "fixed"
    monkeypatch.setenv("ACTOR_TRAINER_SANDBOX_TIMING", " Fixed ")
    assert resolve_config(Settings(), data_dir=tmp_path / "lib").sandbox_timing == "fixed"
    monkeypatch.setenv("ACTOR_TRAINER_SANDBOX_TIMING", "slow")
    with pytest.raises(ConfigError) as raised:
        resolve_config(Settings(), data_dir=tmp_path / "lib")
    assert "ACTOR_TRAINER_SANDBOX_TIMING='slow'" in raised.value.message and "scaled" in raised.value.hint


def test_tests_and_the_cli_processes_they_start_run_the_sandbox_on_fixed_timing(tmp_path: Path) -> None:
    assert os.environ["ACTOR_TRAINER_SANDBOX_TIMING"] == "fixed"  # tests/conftest.py
    assert resolve_config(Settings(), data_dir=tmp_path / "lib").sandbox_timing == "fixed"
    code = (
        "from actor_trainer.core.settings import Settings, resolve_config; "
        "print(resolve_config(Settings()).sandbox_timing)"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "fixed"
