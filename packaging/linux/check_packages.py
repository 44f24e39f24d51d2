"""Check the Linux packages in dist/ the way a user meets them (`scripts/package --check`).

Each check prints PASS or FAIL with what it saw; the exit status is 1 when any check failed.
Standard library only: it runs with any Python 3.11+, not inside the app.

1. The tarball: unpack it, run its `actor-trainer` with a fresh HOME and XDG folders and no
   RunPod credentials (so on the sandbox): --version; `actors --json` (seeds the per-user library
   from the bundled demo); `sync 0` and `train 0 --auto --wait` to a completed version whose
   .safetensors file is on disk and is a real safetensors file; every resources/ file present in
   the bundle; the GUI offscreen until its window is shown, alive a moment later, then SIGTERM
   and exit code 0; install.sh/uninstall.sh for that user (the library is kept).
2. The .deb's contents (`dpkg-deb -c`) and control fields (`dpkg-deb -f`).
3. The .deb installed as a user would (`apt-get install ./dist/….deb`, which brings its
   Depends:), every bundled ELF's libraries resolvable, `/usr/bin/actor-trainer --version`, the
   GUI smoke; then `dpkg -r actor-trainer`: its files gone, the user's library untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
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


def safetensors_header(path: Path) -> dict[str, object]:
    """The JSON header of a .safetensors file (8-byte little-endian length, then JSON), checked."""
    data = path.read_bytes()
    assert len(data) > 8, f"{path} is {len(data)} bytes"
    (length,) = struct.unpack("<Q", data[:8])
    assert 8 + length <= len(data), f"{path}: header length {length} beyond the file"
    header: dict[str, object] = json.loads(data[8 : 8 + length])
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert tensors, f"{path} holds no tensors"
    end = max(int(v["data_offsets"][1]) for v in tensors.values())  # type: ignore[index]
    assert 8 + length + end == len(data), f"{path}: tensor data does not fill the file"
    return header


# --- the app, as a user runs it ---------------------------------------------------------------------


def app_checks(label: str, binary: Path, user: User, version: str) -> None:
    def run_version() -> str:
        result = user.run(str(binary), "--version")
        expect_ok(result, "--version")
        assert result.stdout.strip() == f"{APP} {version}", f"printed {result.stdout.strip()!r}"
        return result.stdout.strip()

    check(f"{label}: --version", run_version)

    def run_actors() -> str:
        result = user.run(str(binary), "actors", "--json", "--local")
        expect_ok(result, "actors --json")
        actors = json.loads(result.stdout)
        assert isinstance(actors, list) and actors, "no actors listed"
        assert (user.library / "actors.json").is_file(), f"no library seeded at {user.library}"
        return f"{len(actors)} actors; library seeded at {user.library}"

    check(f"{label}: actors --json seeds the demo library", run_actors)


def training_checks(label: str, binary: Path, user: User) -> None:
    def sync() -> str:
        result = user.run(str(binary), "sync", "0")
        expect_ok(result, "sync 0")
        return result.stderr.strip().splitlines()[-1]

    if not check(f"{label}: sync 0 (sandbox bucket)", sync):
        return

    def train() -> str:
        before = set(user.home.rglob("*.safetensors"))
        started = time.monotonic()
        result = user.run(str(binary), "train", "0", "--auto", "--wait")
        expect_ok(result, "train 0 --auto --wait")
        versions = json.loads(user.run(str(binary), "versions", "0", "--json").stdout)
        newest = max(versions, key=lambda v: v.get("timestamp") or "")
        assert newest["status"] == "completed", f"newest version {newest['name']} is {newest['status']}"
        lora_url = newest.get("loraUrl") or newest.get("outputUrl") or ""
        assert lora_url.endswith(".safetensors"), f"{newest['name']} names no .safetensors ({lora_url!r})"
        # The sandbox bucket is a local folder: the version's file is there, under its key.
        created = [p for p in set(user.home.rglob("*.safetensors")) - before if lora_url.endswith("/" + p.name)]
        assert created, f"no new file on disk for {lora_url}"
        key = lora_url.split("/", 3)[-1]
        found = [p for p in created if p.as_posix().endswith("/" + key)]
        assert found, f"{lora_url}'s key {key} is not on disk (new files: {created})"
        header = safetensors_header(found[0])
        size = found[0].stat().st_size
        return (
            f"{newest['name']} completed in {time.monotonic() - started:.1f} s; "
            f"{found[0].relative_to(user.home)} {size} bytes, {len(header) - 1} tensors"
        )

    check(f"{label}: train 0 --auto --wait to a completed version with a real .safetensors", train)


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


def resources_checks(label: str, internal: Path) -> None:
    def body() -> str:
        source = ROOT / "resources"
        wanted = [p.relative_to(source) for p in source.rglob("*") if p.is_file()]
        missing = [str(p) for p in wanted if not (internal / "resources" / p).is_file()]
        assert not missing, f"missing from the bundle: {', '.join(missing[:5])}"
        assert (internal / "data" / "actors.json").is_file(), "the demo library (data/) is not bundled"
        info = json.loads((internal / "build_info.json").read_text(encoding="utf-8"))
        version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
        assert info["version"] == version, f"build_info.json says {info['version']}, pyproject {version}"
        return f"{len(wanted)} resources/ files, the demo library and build_info.json ({info['built']}) present"

    check(f"{label}: every resources/ file, the demo library and build_info.json in the bundle", body)


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


def install_script_checks(folder: Path, user: User, version: str) -> None:
    def body() -> str:
        result = user.run("sh", str(folder / "install.sh"))
        expect_ok(result, "install.sh")
        dest = user.home / ".local" / "opt" / APP
        link = user.home / ".local" / "bin" / APP
        desktop = user.data / "applications" / f"{APP}.desktop"
        icon = user.data / "icons" / "hicolor" / "256x256" / "apps" / f"{APP}.png"
        for path in (dest / APP, link, desktop, icon):
            assert path.exists(), f"{path} missing after install.sh"
        assert f'Exec="{dest / APP}"' in desktop.read_text(encoding="utf-8"), (
            "desktop entry's Exec is not the installed binary"
        )
        ran = user.run(APP, "--version")  # through ~/.local/bin, on this user's PATH
        expect_ok(ran, "the installed actor-trainer --version")
        assert ran.stdout.strip() == f"{APP} {version}"
        seeded = user.run(APP, "actors", "--json", "--local")  # the user's library, made by the installed app
        expect_ok(seeded, "the installed actor-trainer actors --json")
        before = user_files(user)
        assert before, "no library was made by the installed app"
        # An upgrade: the new version's install.sh over the installed one.
        result = user.run("sh", str(folder / "install.sh"))
        expect_ok(result, "install.sh again (upgrade)")
        expect_ok(user.run(APP, "--version"), "actor-trainer --version after the upgrade")
        assert user_files(user) == before, "the user's library or settings changed on upgrade"
        result = user.run("sh", str(dest / "uninstall.sh"))
        expect_ok(result, "uninstall.sh")
        left = [str(p) for p in (dest, link, desktop, icon) if p.exists() or p.is_symlink()]
        assert not left, f"left after uninstall.sh: {left}"
        assert user_files(user) == before, "the user's library or settings changed on uninstall"
        return (
            f"installed to {dest.relative_to(user.home)}, ran via ~/.local/bin, upgraded in place, uninstalled; "
            f"library and settings ({len(before)} files) unchanged"
        )

    check("tarball: install.sh / upgrade / uninstall.sh for the current user", body)


# --- the .deb ---------------------------------------------------------------------------------------


def deb_static_checks(deb: Path, version: str, depends: list[str]) -> None:
    def contents() -> str:
        listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
        paths = {}
        for line in listing.splitlines():
            parts = line.split(None, 5)
            name = parts[5]
            target = None
            if " -> " in name:
                name, target = name.split(" -> ", 1)
            paths[name.lstrip(".")] = (parts[0], parts[1], target)
        wanted = [
            f"/opt/{APP}/{APP}",
            f"/opt/{APP}/_internal/resources/workflows/flux_lora_training.json",
            f"/opt/{APP}/_internal/data/actors.json",
            f"/usr/share/applications/{APP}.desktop",
            "/usr/share/icons/hicolor/scalable/apps/actor-trainer.svg",
            "/usr/share/doc/actor-trainer/copyright",
        ]
        sizes = sorted(p.name for p in (ROOT / "resources" / "app-icon" / "hicolor").iterdir())
        wanted += [f"/usr/share/icons/hicolor/{s}/apps/{APP}.png" for s in sizes]
        metainfo = [p for p in paths if p.startswith("/usr/share/metainfo/") and p.endswith(".metainfo.xml")]
        assert metainfo, "no AppStream metainfo"
        missing = [p for p in wanted if p not in paths]
        assert not missing, f"missing: {missing}"
        mode, owner, _ = paths[f"/opt/{APP}/{APP}"]
        assert mode.startswith("-rwxr-xr-x") and owner == "root/root", f"/opt/{APP}/{APP} is {mode} {owner}"
        link = paths.get(f"/usr/bin/{APP}")
        assert link and link[2] == f"/opt/{APP}/{APP}", f"/usr/bin/{APP} is not a link to /opt/{APP}/{APP}: {link}"
        outside = [p for p in paths if not p.startswith(("/opt/", "/usr/", "/")) or p.startswith(("/home", "/etc"))]
        assert not outside, f"files outside /opt and /usr: {outside[:3]}"
        return f"{len(paths)} entries; {len(sizes)} icon sizes + scalable; {metainfo[0]}"

    check(".deb contents (dpkg-deb -c)", contents)

    def fields() -> str:
        def field(name: str) -> str:
            return subprocess.run(
                ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
            ).stdout.strip()

        assert field("Package") == APP, f"Package: {field('Package')}"
        assert field("Version") == version, f"Version: {field('Version')} (pyproject says {version})"
        assert field("Architecture") == "amd64", f"Architecture: {field('Architecture')}"
        declared = [d.strip() for d in field("Depends").split(",")]
        assert declared == depends, f"Depends: {declared}"
        assert int(field("Installed-Size")) > 1000, "Installed-Size missing"
        scripts = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
        assert not re.search(r"\b(postrm|prerm)\b", scripts), "a removal script: removal must only remove our files"
        return f"Package {APP}, Version {version}, amd64, {len(declared)} Depends, no removal scripts"

    check(".deb control fields (dpkg-deb -f)", fields)


def deb_install_checks(deb: Path, user: User, version: str, work: Path) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    installed = False

    def install() -> str:
        nonlocal installed
        result = subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-q", str(deb.resolve())],
            capture_output=True,
            text=True,
            env=apt_env,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:  # stale or absent package lists (a fresh machine): update once, retry
            subprocess.run([*sudo, "apt-get", "update", "-q"], capture_output=True, env=apt_env, timeout=300)
            result = subprocess.run(
                [*sudo, "apt-get", "install", "-y", "-q", str(deb.resolve())],
                capture_output=True,
                text=True,
                env=apt_env,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
        expect_ok(result, "apt-get install")
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status} ${Version}", APP], capture_output=True, text=True
        ).stdout
        assert status == f"install ok installed {version}", f"dpkg-query says {status!r}"
        installed = True
        return status

    if not check("apt-get install ./dist/….deb (brings its Depends:)", install):
        return
    try:

        def usr_bin_version() -> str:
            result = user.run(f"/usr/bin/{APP}", "--version")
            expect_ok(result, f"/usr/bin/{APP} --version")
            assert result.stdout.strip() == f"{APP} {version}", f"printed {result.stdout.strip()!r}"
            return result.stdout.strip()

        check(f"deb: /usr/bin/{APP} --version", usr_bin_version)
        elf_checks("deb", Path(f"/opt/{APP}"))
        desktop = Path(f"/usr/share/applications/{APP}.desktop")
        validators = [
            ("desktop-file-validate", [str(desktop)]),
            ("appstreamcli", ["validate", "--no-net", *map(str, Path("/usr/share/metainfo").glob("*ActorTrainer*"))]),
        ]
        for tool, tool_args in validators:
            if shutil.which(tool):  # desktop-file-utils comes with the package's Recommends:

                def validate(tool: str = tool, tool_args: list[str] = tool_args) -> str:
                    result = subprocess.run([tool, *tool_args], capture_output=True, text=True, timeout=60)
                    expect_ok(result, tool)
                    return (result.stdout.strip().splitlines() or ["no remarks"])[-1]

                check(f"deb: {tool} on the installed file", validate)

        def from_menu() -> Path:
            """What the installed menu entry starts: its Exec= command, found on the user's PATH."""
            entry = dict(line.split("=", 1) for line in desktop.read_text(encoding="utf-8").splitlines() if "=" in line)
            command = entry["Exec"].split()[0]
            found = shutil.which(command, path=user.env["PATH"])
            return Path(found) if found else Path(command)

        gui_smoke("deb: the menu entry's command", from_menu(), user)

        def upgrade() -> str:
            before = user_files(user)
            result = subprocess.run(
                [*sudo, "dpkg", "-i", str(deb.resolve())], capture_output=True, text=True, timeout=300, env=apt_env
            )
            expect_ok(result, "dpkg -i over the installed package")
            expect_ok(user.run(f"/usr/bin/{APP}", "--version"), "--version after the upgrade")
            assert before and user_files(user) == before, "the user's library or settings changed on upgrade"
            return f"reinstalled over itself; library and settings ({len(before)} files) unchanged"

        check("deb: an upgrade (dpkg -i over the installed package) keeps the user's library", upgrade)
    finally:
        if installed:
            library_before = user_files(user)

            def remove() -> str:
                files = subprocess.run(
                    ["dpkg-query", "-L", APP], capture_output=True, text=True, check=True
                ).stdout.split()
                own = [
                    f
                    for f in files
                    if f.startswith(
                        ("/opt/", "/usr/bin/", "/usr/share/applications/", "/usr/share/metainfo/", "/usr/share/icons/")
                    )
                ]
                result = subprocess.run([*sudo, "dpkg", "-r", APP], capture_output=True, text=True, timeout=300)
                expect_ok(result, "dpkg -r")
                left = [f for f in own if Path(f).is_file() or Path(f).is_symlink()]
                assert not left, f"left after dpkg -r: {left[:5]}"
                assert not Path(f"/opt/{APP}").exists(), f"/opt/{APP} is still there"
                after = user_files(user)
                assert after == library_before and after, "the user's library changed on removal"
                return f"{len(own)} files gone, /opt/{APP} gone; the user's library ({len(after)} files) untouched"

            check(f"dpkg -r {APP}: files gone, user's library untouched", remove)


# --- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--depends", required=True, help="the .deb's Depends: as scripts/package writes it")
    parser.add_argument("--skip-deb-install", action="store_true", help="no apt-get install / dpkg -r")
    args = parser.parse_args(argv)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    depends = [d.strip() for d in args.depends.split(",")]
    tarball = args.dist / f"{APP}-{version}-linux-x86_64.tar.gz"
    deb = args.dist / f"{APP}_{version}_amd64.deb"
    manifest = args.dist / f"{APP}-{version}-manifest.txt"
    started = time.monotonic()
    print(f"Checking Actor Trainer {version} packages in {args.dist}", flush=True)
    for path in (tarball, deb, manifest):
        report(f"built: {path.name}", path.is_file(), f"{path.stat().st_size} bytes" if path.is_file() else "missing")
    work = Path(tempfile.mkdtemp(prefix="actor-trainer-check-"))
    try:
        if tarball.is_file():
            with tarfile.open(tarball) as archive:
                archive.extractall(work / "unpacked", filter="tar")
            folder = work / "unpacked" / f"{APP}-{version}-linux-x86_64"
            binary = folder / APP
            report(
                "tarball: unpacks to one folder with the binary",
                binary.is_file() and os.access(binary, os.X_OK),
                str(binary.relative_to(work)),
            )
            if manifest.is_file():
                listed = {
                    line.split(" ", 2)[2]
                    for line in manifest.read_text(encoding="utf-8").splitlines()
                    if re.match(r"^[0-9a-f]{64} \d+ ", line)
                }
                extras = {"install.sh", "uninstall.sh", "README.txt", "LICENSE"}  # the tarball's, not the bundle's
                on_disk = {
                    str(p.relative_to(folder))
                    for p in folder.rglob("*")
                    if p.is_file() and not p.is_symlink() and str(p.relative_to(folder)) not in extras
                }
                unlisted = sorted(p for p in on_disk if p not in listed)
                report(
                    "manifest lists every bundled file",
                    not unlisted and bool(listed),
                    f"{len(listed)} files listed" + (f"; unlisted: {unlisted[:3]}" if unlisted else ""),
                )
            user = User(work / "tar-user")
            resources_checks("tarball", folder / "_internal")
            app_checks("tarball", binary, user, version)
            training_checks("tarball", binary, user)
            gui_smoke("tarball", binary, user)
            install_script_checks(folder, User(work / "install-user"), version)
        if deb.is_file():
            deb_static_checks(deb, version, depends)
            if not args.skip_deb_install:
                deb_user = User(work / "deb-user")
                # The user has a library before the package is installed; removal must leave it.
                seeded = (
                    deb_user.run(
                        str(work / "unpacked" / f"{APP}-{version}-linux-x86_64" / APP), "actors", "--json", "--local"
                    )
                    if tarball.is_file()
                    else None
                )
                if seeded is not None:
                    report(
                        "deb user: a library exists before install",
                        seeded.returncode == 0 and (deb_user.library / "actors.json").is_file(),
                    )
                deb_install_checks(deb, deb_user, version, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [name for name, ok in results if not ok]
    # Not pytest's "N passed, N failed" shape: CI reads that line as the test suite's count.
    failures = f", FAIL: {len(failed)} ({'; '.join(failed)})" if failed else ""
    print(
        f"Package checks: {len(results) - len(failed)} of {len(results)} PASS{failures}; "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
