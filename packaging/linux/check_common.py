"""What the package checks share (packaging/linux/check_packages.py, check_deb.py): the PASS/FAIL
record, a fresh user to run the app as, and the checks both the tarball and the .deb get (the GUI
smoke, every bundled ELF file's libraries). Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = "actor-trainer"
#: How long one CLI step may take (the sandbox's simulated run is shortened to SANDBOX_SECONDS).
STEP_TIMEOUT_S = 180.0
SANDBOX_SECONDS = "3"
GUI_READY_TIMEOUT_S = 60.0
GUI_ALIVE_S = 3.0  # the window must stay up this long after it is shown (a smoke, not a wait)
GUI_EXIT_TIMEOUT_S = 30.0

results: list[tuple[str, bool]] = []


def report(name: str, ok: bool, detail: str = "") -> bool:
    results.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'}  {name}{f'  ({detail})' if detail else ''}", flush=True)
    return ok


def check(name: str, body: Callable[[], str | None]) -> bool:
    """Run `body`; it returns a detail string on success and raises AssertionError on failure."""
    try:
        detail = body() or ""
    except AssertionError as exc:
        return report(name, False, str(exc))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        return report(name, False, f"{type(exc).__name__}: {exc}")
    return report(name, True, detail)


class User:
    """A fresh user: its own HOME and XDG folders, no credentials, the sandbox shortened."""

    def __init__(self, base: Path) -> None:
        self.home = base / "home"
        self.data = self.home / ".local" / "share"
        self.config = self.home / ".config"
        self.state = self.home / ".local" / "state"
        for folder in (self.data, self.config, self.state, self.home / ".cache"):
            folder.mkdir(parents=True, exist_ok=True)
        runtime = base / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        self.env = {
            "HOME": str(self.home),
            "PATH": f"{self.home / '.local' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "XDG_DATA_HOME": str(self.data),
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_STATE_HOME": str(self.state),
            "XDG_RUNTIME_DIR": str(runtime),
            "ACTOR_TRAINER_SANDBOX_SECONDS": SANDBOX_SECONDS,
            # No keyring daemon here: the keyring must not hang or prompt.
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }

    @property
    def library(self) -> Path:
        return self.data / APP / "library"

    @property
    def log_file(self) -> Path:
        return self.state / APP / "log" / f"{APP}.log"

    def run(
        self,
        *argv: str,
        timeout: float = STEP_TIMEOUT_S,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            list(argv),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
        )


def user_files(user: User) -> list[tuple[str, str]]:
    """The user's library and settings folder: every file with its SHA-256 (what must survive)."""
    import hashlib

    roots = (user.library, user.config / APP)
    return sorted(
        (str(path.relative_to(user.home)), hashlib.sha256(path.read_bytes()).hexdigest())
        for root in roots
        if root.is_dir()
        for path in root.rglob("*")
        if path.is_file()
    )


def expect_ok(result: subprocess.CompletedProcess[str], what: str) -> None:
    tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
    assert result.returncode == 0, f"{what} exited {result.returncode}: {' | '.join(tail)}"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def gui_smoke(label: str, binary: Path, user: User) -> None:
    def body() -> str:
        log = user.log_file
        shown_before = log.read_text(encoding="utf-8").count("window shown") if log.is_file() else 0
        env = {**user.env, "QT_QPA_PLATFORM": "offscreen"}
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(binary)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=user.home,
        )
        try:

            def shown() -> bool:
                assert proc.poll() is None, f"the app exited {proc.returncode} before its window showed"
                return log.is_file() and log.read_text(encoding="utf-8").count("window shown") > shown_before

            wait_for(shown, GUI_READY_TIMEOUT_S, "the window was shown")
            shown_after = time.monotonic() - started
            time.sleep(GUI_ALIVE_S)
            assert proc.poll() is None, f"the app exited {proc.returncode} {GUI_ALIVE_S} s after its window showed"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=GUI_EXIT_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        output = (proc.stdout.read() if proc.stdout else "").strip()
        assert code == 0, f"exit code {code} after SIGTERM: {output[-400:]}"
        tail = log.read_text(encoding="utf-8").rsplit("window shown", 1)[-1]
        assert "shut down cleanly" in tail, "the log does not say 'shut down cleanly'"
        assert "Traceback" not in tail, "a traceback in the log"
        return f"window shown after {shown_after:.1f} s, SIGTERM → exit 0, 'shut down cleanly' logged"

    check(f"{label}: GUI offscreen, SIGTERM, clean exit", body)


def elf_checks(label: str, folder: Path) -> None:
    def body() -> str:
        internal = folder / "_internal"
        missing: dict[str, set[str]] = {}
        count = 0
        for path in [folder / APP, *internal.rglob("*.so*")]:
            if path.is_symlink() or not path.is_file() or path.read_bytes()[:4] != b"\x7fELF":
                continue
            count += 1
            out = subprocess.run(
                ["ldd", str(path)],
                capture_output=True,
                text=True,
                env={"LD_LIBRARY_PATH": str(internal), "PATH": os.environ.get("PATH", "")},
            ).stdout
            for line in out.splitlines():
                if "not found" in line:
                    missing.setdefault(line.split()[0], set()).add(str(path.relative_to(folder)))
        assert not missing, "; ".join(f"{lib} (for {sorted(users)[0]})" for lib, users in sorted(missing.items()))
        return f"{count} ELF files, every library found"

    check(f"{label}: every bundled ELF file's libraries resolve", body)
