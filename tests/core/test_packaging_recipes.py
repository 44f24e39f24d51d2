"""The installer recipes agree with each other and with pyproject (issue 11): cheap static checks.

The builds themselves are checked by `scripts/package --check` (Linux, in .ci/run) and by
.github/workflows/release.yml (Windows, macOS); these tests catch the drift between the files
that no single build sees: the version written somewhere else than pyproject, the reverse-DNS id
or the desktop entry's name differing between recipes, icons older than their SVG, the .deb's
Depends: and the user-facing install hints naming different libraries.
"""

from __future__ import annotations

import re
import struct
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from actor_trainer import APP_ID, __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "actor-trainer.spec"
ISS = PACKAGING / "windows" / "actor-trainer.iss"
VERSION_TEMPLATE = PACKAGING / "windows" / "version_info.txt.in"
PACKAGE_SCRIPT = ROOT / "scripts" / "package"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
LINUX = ROOT / "resources" / "linux"
ICONS = ROOT / "resources" / "app-icon"

#: The OS libraries Qt needs on Linux, as the .deb must depend on them (issue 11 / the brief).
QT_OS_PACKAGES = [
    "libegl1", "libgl1", "libxkbcommon0", "libxkbcommon-x11-0", "libfontconfig1", "fonts-dejavu-core",
    "libglib2.0-0", "libdbus-1-3", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
    "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1", "libx11-xcb1",
]  # fmt: skip


def pyproject_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    return version


def spec_constant(name: str) -> str:
    match = re.search(rf'^{name} = "([^"]+)"', SPEC.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{name} is not set in {SPEC.name}"
    return match.group(1)


def metainfo() -> tuple[Path, ET.Element]:
    files = sorted(LINUX.glob("*.metainfo.xml"))
    assert len(files) == 1, f"one AppStream metainfo file expected in resources/linux, found {files}"
    return files[0], ET.parse(files[0]).getroot()


def desktop_entry() -> dict[str, str]:
    text = (LINUX / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n")
    return dict(line.split("=", 1) for line in text.splitlines()[1:] if "=" in line)


def package_script_value(name: str) -> str:
    match = re.search(rf'^{name}="([^"]+)"', PACKAGE_SCRIPT.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{name} is not set in scripts/package"
    return match.group(1)


def test_the_version_is_written_only_in_pyproject() -> None:
    version = pyproject_version()
    assert __version__ == version, "actor_trainer.__version__ differs from pyproject's version"
    spec = SPEC.read_text(encoding="utf-8")
    assert 'tomllib.loads((root / "pyproject.toml")' in spec and '["project"]["version"]' in spec
    literal = re.compile(rf"(?<![\d.]){re.escape(version)}(?![\d.])")
    for recipe in (SPEC, ISS, VERSION_TEMPLATE, PACKAGE_SCRIPT, RELEASE, PACKAGING / "macos" / "make-dmg.sh"):
        assert not literal.search(recipe.read_text(encoding="utf-8")), f"{recipe.name} writes the version {version}"
    assert "#error" in ISS.read_text(encoding="utf-8"), "the Inno Setup script must refuse to build without a version"


def test_the_metainfo_release_is_the_current_version() -> None:
    _, root = metainfo()
    releases = root.findall("releases/release")
    assert releases, "the metainfo lists no release"
    assert releases[0].get("version") == pyproject_version(), "the newest <release> is not pyproject's version"


def test_one_reverse_dns_id_and_one_desktop_file_name_everywhere() -> None:
    rdns = spec_constant("APP_RDNS")
    path, root = metainfo()
    assert root.findtext("id") == rdns
    assert path.name == f"{rdns}.metainfo.xml"
    assert f'#define AppRdns "{rdns}"' in ISS.read_text(encoding="utf-8")
    assert "AppId={#AppRdns}" in ISS.read_text(encoding="utf-8")
    assert "bundle_identifier=APP_RDNS" in SPEC.read_text(encoding="utf-8")
    # The desktop file's name is the app's desktop file name (QGuiApplication.setDesktopFileName).
    assert root.findtext("launchable[@type='desktop-id']") == f"{APP_ID}.desktop"
    assert spec_constant("APP") == APP_ID
    assert root.findtext("provides/binary") == APP_ID


def test_the_desktop_entry_starts_the_installed_command_with_the_themed_icon() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"] == APP_ID, "Exec must be the bare command (install.sh rewrites it to the full path)"
    assert entry["Icon"] == APP_ID
    assert entry["StartupWMClass"] == APP_ID
    assert entry["Categories"].endswith(";")
    _, root = metainfo()
    assert [c.text for c in root.findall("categories/category")] == entry["Categories"].rstrip(";").split(";")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_icons_are_made_from_the_current_svg_at_every_size() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_icons", ROOT / "scripts" / "make_icons.py")
    assert spec and spec.loader
    make_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icons)
    assert make_icons.stale() == [], "run .venv/bin/python scripts/make_icons.py"
    for size in make_icons.SIZES:
        assert png_size(make_icons.png_path(size)) == (size, size)
    ico = (ICONS / f"{APP_ID}.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1), "not an .ico"
    sizes = sorted((ico[6 + 16 * i] or 256) for i in range(count))
    assert sizes == sorted(make_icons.ICO_SIZES)
    icns = (ICONS / f"{APP_ID}.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


def test_the_deb_depends_on_every_os_library_qt_needs_and_the_hints_name_the_same() -> None:
    depends = [d.strip() for d in package_script_value("DEB_DEPENDS").split(",")]
    assert depends == QT_OS_PACKAGES
    for hint in (PACKAGING / "linux" / "README-portable.txt", PACKAGING / "linux" / "install.sh"):
        named = set(re.findall(r"\b(lib[a-z0-9.+-]+[0-9]|fonts-dejavu-core)\b", hint.read_text(encoding="utf-8")))
        assert set(QT_OS_PACKAGES) <= named, f"{hint.name} does not name {set(QT_OS_PACKAGES) - named}"


def test_one_pinned_pyinstaller_for_every_platform() -> None:
    pins = package_script_value("PYINSTALLER_PINS")
    assert re.fullmatch(r"pyinstaller==[\d.]+ pyinstaller-hooks-contrib==[\d.]+", pins)
    assert f'PYINSTALLER_PINS: "{pins}"' in RELEASE.read_text(encoding="utf-8")
    constraints = (PACKAGING / "build-constraints.txt").read_text(encoding="utf-8")
    for pin in pins.split():
        assert pin in constraints.splitlines(), f"{pin} missing from packaging/build-constraints.txt"


def test_the_windows_version_resource_is_filled_from_pyproject() -> None:
    template = VERSION_TEMPLATE.read_text(encoding="utf-8")
    assert "@VERSION@" in template and "@VERSION_TUPLE@" in template
    assert "_windows_version_file() if IS_WIN else None" in SPEC.read_text(encoding="utf-8")


def test_the_windows_installer_is_per_user_and_keeps_the_users_data() -> None:
    iss = ISS.read_text(encoding="utf-8")
    assert "PrivilegesRequired=lowest" in iss
    assert "DefaultDirName={localappdata}\\Programs\\" in iss
    assert "OutputBaseFilename=actor-trainer-{#AppVersion}-windows-x64-setup" in iss
    assert "{autoprograms}" in iss, "no Start-menu entry"
    assert '#define AppExeName "actor-trainer-gui.exe"' in iss, "the Start menu must start the windowed program"
    assert not re.search(r"^\[UninstallDelete\]", iss, re.MULTILINE), (
        "the uninstaller must remove only what it installed"
    )
    for relative in re.findall(r"(?:SetupIconFile|LicenseFile)=(\S+)", iss):
        assert (ISS.parent / relative.replace("\\", "/")).is_file(), f"{relative} missing"


@pytest.mark.parametrize("pattern", ["dist/", "build/", ".venv-package/"])
def test_build_outputs_are_ignored_by_git(pattern: str) -> None:
    lines = {line.strip().lstrip("/") for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()}
    assert pattern in lines


def test_the_spec_bundles_the_demo_library_and_resources_and_builds_a_mac_app() -> None:
    spec = SPEC.read_text(encoding="utf-8")
    assert '(str(root / "data"), "data")' in spec
    assert '(str(root / "resources"), "resources")' in spec
    assert "BUNDLE(" in spec and '"CFBundleShortVersionString": VERSION' in spec
    for excluded in ('"pytest"', '"moto"', '"flask"', '"hypothesis"', '"tkinter"'):
        assert excluded in spec, f"{excluded} is not excluded from the bundle"


def _runtime_requirements() -> list[str]:
    dependencies: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    return [re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in dependencies]


def test_numpy_is_neither_imported_nor_required_nor_bundled() -> None:
    """Issue 11, item 3: numpy (+ OpenBLAS, ~43 MB) was bundled for the sandbox's LoRA writer alone."""
    import ast

    importers = []
    for path in sorted((ROOT / "actor_trainer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(n.split(".")[0] in {"numpy", "safetensors"} for n in names):
                importers.append(str(path.relative_to(ROOT)))
    assert not importers, f"imported at run time by {importers}: add it back to pyproject's dependencies first"
    assert not {"numpy", "safetensors"} & set(_runtime_requirements())
    spec = SPEC.read_text(encoding="utf-8")
    assert '"numpy", "safetensors",' in spec, "the spec no longer excludes numpy and safetensors"


def test_the_spec_bundles_the_user_guide_where_help_looks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(PACKAGING))
    try:
        from guide_files import BUNDLE_FOLDER, GUIDE, guide_files
    finally:
        sys.path.remove(str(PACKAGING))
    from actor_trainer.gui.shell import user_guide

    files, broken = guide_files(ROOT / "docs")
    assert not broken, f"the guide links to files missing from docs/: {broken}"
    shown = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", (ROOT / "docs" / GUIDE).read_text(encoding="utf-8"))
    assert shown and {Path(p) for p in shown} <= set(files)
    assert Path(GUIDE) in files and Path("configuration.md") in files
    spec = SPEC.read_text(encoding="utf-8")
    assert 'guide_files(root / "docs")' in spec and "Path(BUNDLE_FOLDER) / rel.parent" in spec
    # …which is where Help → User guide looks first in a frozen build (sys._MEIPASS is the bundle).
    monkeypatch.setattr(sys, "_MEIPASS", "/opt/actor-trainer/_internal", raising=False)
    assert user_guide.GUIDE_NAME == GUIDE
    assert user_guide.guide_candidates()[0] == Path("/opt/actor-trainer/_internal") / BUNDLE_FOLDER / GUIDE
