"""The .deb's checks (packaging/linux/check_packages.py runs them): its contents and control
fields, then installed as a user would, upgraded over itself and removed. Standard library only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from check_common import APP, ROOT, User, check, elf_checks, expect_ok, gui_smoke, user_files


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
            f"/opt/{APP}/_internal/docs/user-guide.md",  # Help → User guide
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

    def apt_install() -> subprocess.CompletedProcess[str]:
        command = [*sudo, "apt-get", "install", "-y", "-q", str(deb.resolve())]
        return subprocess.run(
            command, capture_output=True, text=True, env=apt_env, timeout=600, stdin=subprocess.DEVNULL
        )

    def install() -> str:
        nonlocal installed
        result = apt_install()
        if result.returncode != 0:  # stale or absent package lists (a fresh machine): update once, retry
            subprocess.run([*sudo, "apt-get", "update", "-q"], capture_output=True, env=apt_env, timeout=300)
            result = apt_install()
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
