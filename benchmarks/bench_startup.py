"""Benchmark: Actor Trainer's start-up to first paint and to services ready, beside a bare PySide6 window.

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
closes itself after (ACTOR_TRAINER_QUIT_AFTER_S). The app's services start behind its window
(actor_trainer/app.py): their "services ready" log line is the second mark, for both app sides.
Prints medians and the ratio to the bare window (issue 11's goal: first paint within 2.5x the bare
window, services ready within 1 s after it).
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
SHOWN = "window shown"  # actor_trainer/app.py logs it right after show()
READY = "services ready"  # ... and this once the services started behind the window
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


#: where the children keep compiled bytecode (set by main; None: as the environment says)
PYCACHE: Path | None = None


def user_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RUNPOD", "ACTOR_TRAINER", "NGROK", "AWS", "S3_"))
    }
    if PYCACHE is not None:
        # An installed app runs from compiled bytecode (pip compiles it; the frozen build holds it):
        # the warm-up run writes it here, outside the tree, even where PYTHONDONTWRITEBYTECODE is set.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        QT_QPA_PLATFORM="offscreen",
        QT_API="pyside6",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        ACTOR_TRAINER_QUIT_AFTER_S="1.5",
        PYTHONPATH=str(ROOT),
    )
    return env


def _log(home: Path) -> Path:
    return home / ".local" / "state" / "actor-trainer" / "log" / "actor-trainer.log"


def _count(log: Path, text: str) -> int:
    return log.read_text(encoding="utf-8").count(text) if log.is_file() else 0


def _logged_at(log: Path, text: str, before: int, result: subprocess.CompletedProcess[str]) -> float:
    """The time of the app's newest log line containing `text` (one more than `before` expected)."""
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if text in line] if log.is_file() else []
    if len(lines) <= before:
        raise RuntimeError(f"the app logged no {text!r} (exit {result.returncode}): {result.stderr[-600:]}")
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", lines[-1])
    if stamp is None:
        raise RuntimeError(f"no timestamp on {lines[-1]!r}")
    return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # logging's local time


def run_marked(argv: list[str], env: dict[str, str], home: Path | None = None) -> tuple[float, float | None]:
    """Seconds from just before the start to the child's printed mark, and (for the app, whose
    HOME is `home`) to its "services ready" log line."""
    before = _count(_log(home), READY) if home is not None else 0
    started = time.time()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    for line in result.stdout.splitlines():
        if line.startswith(MARK):
            ready = None  # none for the bare window, or a build from before "services ready" was logged
            if home is not None and _count(_log(home), READY) > before:
                ready = _logged_at(_log(home), READY, before, result) - started
            return float(line.split()[1]) - started, ready
    raise RuntimeError(f"{argv[:2]} printed no mark (exit {result.returncode}): {result.stderr[-600:]}")


def run_frozen(binary: Path, env: dict[str, str], home: Path) -> tuple[float, float | None]:
    """Seconds from just before the start to the frozen app's 'window shown' and 'services ready'
    log lines (None for the second when the build predates it: services started before the window)."""
    log = _log(home)
    shown_before, ready_before = _count(log, SHOWN), _count(log, READY)
    started = time.time()
    result = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    shown = _logged_at(log, SHOWN, shown_before, result) - started
    up = _logged_at(log, READY, ready_before, result) - started if _count(log, READY) > ready_before else None
    return shown, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="child processes per side (medians are shown)")
    parser.add_argument("--frozen", type=Path, default=DEFAULT_FROZEN, help="the frozen actor-trainer binary")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module at every start (as with PYTHONDONTWRITEBYTECODE=1 and no .pyc)",
    )
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]  # a shared machine: printed beside the figures
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    global PYCACHE
    PYCACHE = None if args.no_bytecode_cache else work / "pycache"
    try:
        sides: dict[str, list[float]] = {"bare PySide6 window": [], "app (source)": []}
        ready: dict[str, list[float]] = {"app (source)": []}
        app_home = work / "app"
        app_env = user_env(app_home)
        run_marked([python, "-c", APP], app_env, app_home)  # warm-up: seeds the library, fills the OS caches
        run_marked([python, "-c", BARE], user_env(work / "bare"))
        frozen = args.frozen if args.frozen.is_file() else None
        if frozen:
            sides["app (frozen build)"], ready["app (frozen build)"] = [], []
            frozen_home = work / "frozen"
            frozen_env = user_env(frozen_home)
            run_frozen(frozen, frozen_env, frozen_home)
        for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits every side
            sides["bare PySide6 window"].append(run_marked([python, "-c", BARE], user_env(work / "bare"))[0])
            painted, up = run_marked([python, "-c", APP], app_env, app_home)
            sides["app (source)"].append(painted)
            if up is not None:
                ready["app (source)"].append(up)
            if frozen:
                shown, up = run_frozen(frozen, frozen_env, frozen_home)
                sides["app (frozen build)"].append(shown)
                if up is not None:
                    ready["app (frozen build)"].append(up)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bare = statistics.median(sides["bare PySide6 window"])
    how = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached by the warm-up run"
    print(f"Start-up, median of {args.runs} runs each (offscreen, demo library, sandbox, {how}):")
    cores = os.cpu_count() or 1
    print(f"  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {cores} cores")
    print(f"  {'':22s} {'first paint':>12s} {'x bare':>7s} {'min':>7s}   {'services ready':>14s} {'after paint':>11s}")
    for name, times in sides.items():
        median = statistics.median(times)
        line = f"  {name:22s} {median:10.3f} s {median / bare:6.1f}x {min(times):7.3f}"
        if ready.get(name) and len(ready[name]) == len(times):
            up = statistics.median(ready[name])
            after = statistics.median(r - p for r, p in zip(ready[name], times, strict=True))
            line += f"   {up:12.3f} s {after:9.3f} s"
        elif name in ready:
            line += "   (no 'services ready' line: a build from before the services started behind the window)"
        if "frozen" in name:
            line += "  (paint = 'window shown', logged just before the paint)"
        print(line)
    if not frozen:
        print(f"  (no frozen build at {args.frozen}: run scripts/package first, or pass --frozen)")
    print("Goal (issue 11): first paint within 2.5x the bare window; services ready within 1 s after it.")
    summary: dict[str, float] = {name: round(statistics.median(times), 4) for name, times in sides.items()}
    summary.update(
        {f"{name} services ready": round(statistics.median(times), 4) for name, times in ready.items() if times}
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
