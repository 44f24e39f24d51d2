"""Check the Linux packages in dist/ the way a user meets them (`scripts/package --check`).

Each check prints PASS or FAIL with what it saw; the exit status is 1 when any check failed.
Standard library only: it runs with any Python 3.11+, not inside the app.

1. The tarball: unpack it, run its `actor-trainer` with a fresh HOME and XDG folders and no
   RunPod credentials (so on the sandbox): --version; `actors --json` (seeds the per-user library
   from the bundled demo); `sync 0` and `train 0 --auto --wait` to a completed version whose
   .safetensors file is on disk and is a real safetensors file; every resources/ file present in
   the bundle; the user guide and the files it shows where Help → User guide looks; the GUI
   offscreen until its window is shown, alive a moment later, then SIGTERM and exit code 0;
   install.sh/uninstall.sh for that user (the library is kept).
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
import struct
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

from check_common import APP, ROOT, User, check, expect_ok, gui_smoke, report, results, user_files
from check_deb import deb_install_checks, deb_static_checks

sys.path.insert(0, str(ROOT / "packaging"))
from guide_files import BUNDLE_FOLDER, GUIDE, guide_files


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


def guide_checks(label: str, internal: Path) -> None:
    """Help → User guide finds the guide: `<sys._MEIPASS>/docs/user-guide.md` (gui/shell/user_guide.py)."""

    def body() -> str:
        files, broken = guide_files(ROOT / "docs")
        assert not broken, f"docs/{GUIDE} links to files missing from docs/: {', '.join(broken)}"
        bundled = internal / BUNDLE_FOLDER
        missing = [str(rel) for rel in files if not (bundled / rel).is_file()]
        assert not missing, f"missing from {bundled.relative_to(internal.parent)}: {', '.join(missing[:5])}"
        # Present, not equal: docs/ may have been edited since the build (`--check --no-build`).
        empty = [str(rel) for rel in files if (bundled / rel).stat().st_size == 0]
        assert not empty, f"empty in the bundle: {', '.join(empty[:5])}"
        pictures = sum(1 for rel in files if rel.suffix == ".png")
        pages = len(files) - pictures - 1
        return f"{GUIDE} with {pictures} pictures and {pages} linked pages in _internal/{BUNDLE_FOLDER}"

    check(f"{label}: the user guide (Help → User guide) and what it shows are in the bundle", body)


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
            guide_checks("tarball", folder / "_internal")
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
