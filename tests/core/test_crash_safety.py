"""A writer killed with SIGKILL mid-write never leaves an unparsable library file behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actor_trainer.core.library import Library
from tests.library_factory import completed_version, make_library

WRITER = r"""
import sys
from pathlib import Path
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingVersion, VersionStatus

lib = Library(Path(sys.argv[1]))
print("ready", flush=True)
n = 0
while True:
    n += 1
    v = lib.append_version(0, lambda name: TrainingVersion(
        id=f"req-{n}-{name}", requestId=f"req-{n}-{name}", name=name, description="x" * 4000))
    lib.update_version(0, v.id, lambda v: v.move_to(VersionStatus.QUEUED))
    lib.mark_good(0, "job-good")
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_mid_write_never_leaves_a_broken_file(tmp_path: Path) -> None:
    root = make_library(tmp_path / "lib", versions={0: [completed_version("job-good", "V1")]})
    rng = random.Random(1234)
    kills = 0
    for _ in range(25):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills += 1
        # Every file parses and validates after every kill.
        json.loads((root / "actors.json").read_text())
        lib = Library(root)
        versions = lib.load_versions(0)
        assert versions[-1].name == "V1"
        names = [v.number for v in versions]
        assert names == sorted(names, reverse=True) and len(set(names)) == len(names)
    assert kills == 25
    # Temp files of killed writers are never mistaken for data.
    assert Library(root).load_actors()[0].validated_lora_model is not None
