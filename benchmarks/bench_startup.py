"""Benchmark: Actor Trainer's start-up to the window's first paint, beside a bare PySide6 window.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--frozen PATH]

Each side runs in fresh child processes, offscreen, with its own HOME whose library was seeded
from the demo library by a warm-up run (so seeding is not measured), and no RunPod credentials
(so the app starts its sandbox services, as an artist's first start does):

- bare: `python -c` that imports PySide6, builds a QApplication and a QMainWindow with a label,
  and shows it;
- app (source): the app as `actor-trainer` starts it (`actor_trainer.cli.main([])`), with an event
  filter on the QApplication (made before the app's, which reuses it) noting the first Paint of
  a top-level window;
- app (frozen): the PyInstaller build (`--frozen`, default build/package/pyinstaller-dist/
  actor-trainer/actor-trainer from scripts/package, when present). Nothing can be injected
  there: its "window shown" log line (written right after show(), before the paint) is the mark.

Every side is timed from just before the child is started (wall clock) to the mark; the app
closes itself after (ACTOR_TRAINER_QUIT_AFTER_S). Prints medians and the ratio to the bare
window (issue 11's goal: first paint within 2.5x the bare window).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FROZEN = ROOT / "build" / "package" / "pyinstaller-dist" / "actor-trainer" / "actor-trainer"
MARK = "FIRST_PAINT_AT"
CHILD_TIMEOUT_S = 120.0

BARE = f"""
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
app = QApplication(sys.argv[:1])
class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and obj is window:
            print("{MARK}", time.time(), flush=True)
            QTimer.singleShot(0, app.quit)
        return False
probe = Probe()
app.installEventFilter(probe)
window = QMainWindow()
window.setCentralWidget(QLabel("bare"))
window.resize(1200, 800)
window.show()
app.exec()
"""

APP = f"""
import sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])  # the app reuses it (actor_trainer/app.py)
class Probe(QObject):
    done = False
    def eventFilter(self, obj, event):
        if (not self.done and event.type() == QEvent.Type.Paint and isinstance(obj, QWidget)
                and obj.isWindow() and type(obj).__name__ == "MainWindow"):
            self.done = True
            print("{MARK}", time.time(), flush=True)
        return False
probe = Probe()
app.installEventFilter(probe)
from actor_trainer.cli import main
sys.exit(main([]))
"""


def user_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RUNPOD", "ACTOR_TRAINER", "NGROK", "AWS", "S3_"))
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        QT_QPA_PLATFORM="offscreen",
        QT_API="pyside6",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        ACTOR_TRAINER_QUIT_AFTER_S="0.5",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_marked(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from just before the start to the child's printed mark."""
    started = time.time()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    for line in result.stdout.splitlines():
        if line.startswith(MARK):
            return float(line.split()[1]) - started
    raise RuntimeError(f"{argv[:2]} printed no mark (exit {result.returncode}): {result.stderr[-600:]}")


def run_frozen(binary: Path, env: dict[str, str], home: Path) -> float:
    """Seconds from just before the start to the frozen app's 'window shown' log line."""
    log = home / ".local" / "state" / "actor-trainer" / "log" / "actor-trainer.log"
    before = log.read_text(encoding="utf-8").count("window shown") if log.is_file() else 0
    started = time.time()
    result = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if "window shown" in line]
    if len(lines) <= before:
        raise RuntimeError(
            f"the frozen app logged no 'window shown' (exit {result.returncode}): {result.stderr[-600:]}"
        )
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", lines[-1])
    if stamp is None:
        raise RuntimeError(f"no timestamp on {lines[-1]!r}")
    shown = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # logging's local time
    return shown - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="child processes per side (medians are shown)")
    parser.add_argument("--frozen", type=Path, default=DEFAULT_FROZEN, help="the frozen actor-trainer binary")
    args = parser.parse_args(argv)
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        sides: dict[str, list[float]] = {"bare PySide6 window": [], "app (source)": []}
        app_home = work / "app"
        app_env = user_env(app_home)
        run_marked([python, "-c", APP], app_env)  # warm-up: seeds the library, fills the OS caches
        run_marked([python, "-c", BARE], user_env(work / "bare"))
        frozen = args.frozen if args.frozen.is_file() else None
        if frozen:
            sides["app (frozen build)"] = []
            frozen_home = work / "frozen"
            frozen_env = user_env(frozen_home)
            run_frozen(frozen, frozen_env, frozen_home)
        for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits every side
            sides["bare PySide6 window"].append(run_marked([python, "-c", BARE], user_env(work / "bare")))
            sides["app (source)"].append(run_marked([python, "-c", APP], app_env))
            if frozen:
                sides["app (frozen build)"].append(run_frozen(frozen, frozen_env, frozen_home))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bare = statistics.median(sides["bare PySide6 window"])
    print(f"Start-up to first paint, median of {args.runs} runs each (offscreen, demo library, sandbox):")
    for name, times in sides.items():
        median = statistics.median(times)
        mark = " (to 'window shown', logged before the paint)" if "frozen" in name else ""
        print(f"  {name:22s} {median:6.3f} s  ({median / bare:4.1f}x bare)  min {min(times):.3f}{mark}")
    if not frozen:
        print(f"  (no frozen build at {args.frozen}: run scripts/package first, or pass --frozen)")
    print("Goal (issue 11): the app's first paint within 2.5x the bare window.")
    print(json.dumps({name: round(statistics.median(times), 4) for name, times in sides.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
