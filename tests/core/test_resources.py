"""The app's non-code assets live in the top-level resources/ folder and are reached through one loader.

In the source tree every resource the code names is there; built into a wheel (from the tree, and
from the sdist, as `pip install` from an index does) and installed elsewhere, the same loader finds
each one with the same bytes, and the code that reads them (workflow template, icons) works.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from actor_trainer.core import resources
from actor_trainer.core.workflow import TEMPLATE_RESOURCE, load_template

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"


def _icon_resources() -> list[tuple[str, ...]]:
    from actor_trainer.gui.widgets import icons  # the GUI's list of icons (imports Qt, not a QApplication)

    return [icons.icon_resource(name) for name in icons.ICON_NAMES]


def needed_resources() -> list[tuple[str, ...]]:
    """Every resource the app's code names."""
    return [TEMPLATE_RESOURCE, resources.APP_ICON_SOURCE, resources.DESKTOP_ENTRY, *_icon_resources()]


def source_files() -> list[tuple[str, ...]]:
    """Every file in the source tree's resources/ folder, as path parts."""
    return sorted(path.relative_to(RESOURCES).parts for path in RESOURCES.rglob("*") if path.is_file())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the source tree -------------------------------------------------------------------------------


def test_every_needed_resource_is_found_in_the_source_tree() -> None:
    assert resources.resources_root() == RESOURCES
    for parts in needed_resources():
        path = resources.resource_path(*parts)
        assert path == RESOURCES.joinpath(*parts) and path.is_file(), parts
        data = resources.read_bytes(*parts)
        assert data, f"{'/'.join(parts)} is empty"
        if path.suffix == ".svg":
            assert ET.fromstring(data).tag.endswith("svg"), parts
        elif path.suffix == ".json":
            assert isinstance(json.loads(data), dict), parts
    assert resources.read_text(*resources.DESKTOP_ENTRY).startswith("[Desktop Entry]\n")
    assert load_template()  # the workflow module reads its template through the loader


def test_the_desktop_entry_names_the_app_icon_and_command() -> None:
    entry = dict(
        line.split("=", 1) for line in resources.read_text(*resources.DESKTOP_ENTRY).splitlines() if "=" in line
    )
    assert entry["Icon"] == Path(resources.APP_ICON_SOURCE[-1]).stem  # the icon installs under this name
    assert entry["Exec"].split()[0] == "actor-trainer"


def test_the_package_no_longer_holds_assets_and_reads_none_itself() -> None:
    package = ROOT / "actor_trainer"
    assert not (package / "resources").exists()
    own_readers = ("importlib.resources", "from importlib import resources")
    readers = [
        path.relative_to(ROOT)
        for path in package.rglob("*.py")
        if path != package / "core" / "resources.py" and any(s in path.read_text(encoding="utf-8") for s in own_readers)
    ]
    assert not readers, f"read resources through actor_trainer.core.resources, not importlib.resources: {readers}"


def test_a_missing_resource_or_a_path_outside_resources_is_refused() -> None:
    with pytest.raises(resources.ResourceNotFoundError, match=r"icons/nope\.svg is missing"):
        resources.resource_path("icons", "nope.svg")
    with pytest.raises(FileNotFoundError):  # what svg_text's callers have always caught
        resources.read_text("workflows", "nope.json")
    for outside in (("..", "pyproject.toml"), ("icons/../../pyproject.toml",), ("/etc/passwd",), ()):
        with pytest.raises(ValueError):
            resources.resource_path(*outside)


# --- wheel, sdist and frozen layouts ---------------------------------------------------------------

#: Run in another interpreter, from another folder, with only the installed copy on PYTHONPATH.
CHECK_SCRIPT = r"""
import hashlib, json, sys
import actor_trainer
from actor_trainer.core import resources, workflow
from actor_trainer.gui.widgets import icons

report = {"package": actor_trainer.__file__, "root": str(resources.resources_root()), "files": {}}
for parts in json.loads(sys.argv[1]):
    path = resources.resource_path(*parts)
    report["files"]["/".join(parts)] = [str(path), hashlib.sha256(resources.read_bytes(*parts)).hexdigest()]
report["template_nodes"] = len(workflow.load_template())
report["icons"] = {name: hashlib.sha256(icons.svg_text(name).encode()).hexdigest() for name in icons.ICON_NAMES}
print(json.dumps(report))
"""


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(args[:3])[:200]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _check_installed(site: Path, elsewhere: Path, *, extra: str = "") -> dict:
    """Run CHECK_SCRIPT with `site` first on the path, in `elsewhere`; return its report."""
    env = {**os.environ, "PYTHONPATH": str(site), "QT_QPA_PLATFORM": "offscreen"}
    wanted = json.dumps(source_files())
    out = _run([sys.executable, "-c", extra + CHECK_SCRIPT, wanted], cwd=elsewhere, env=env)
    return json.loads(out.strip().splitlines()[-1])


def _assert_found_under(report: dict, root: Path) -> None:
    root = root.resolve()
    assert Path(report["root"]).resolve().is_relative_to(root), report["root"]
    expected = {"/".join(parts): _sha256(RESOURCES.joinpath(*parts).read_bytes()) for parts in source_files()}
    assert {name: digest for name, (_, digest) in report["files"].items()} == expected
    for name, (path, _) in report["files"].items():
        assert Path(path).resolve().is_relative_to(root), f"{name} was read from {path}, outside {root}"
    assert report["template_nodes"] == len(load_template())
    for name, digest in report["icons"].items():
        assert digest == expected["/".join(_icon_of(name))], name


def _icon_of(name: str) -> tuple[str, ...]:
    from actor_trainer.gui.widgets import icons

    return icons.icon_resource(name)


def _copy_project(dest: Path) -> Path:
    """What a checkout holds that the build reads: the top-level files, the package, resources/."""
    dest.mkdir()
    for entry in ROOT.iterdir():
        if entry.is_file():
            shutil.copy2(entry, dest / entry.name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "actor_trainer", dest / "actor_trainer", ignore=ignore)
    shutil.copytree(RESOURCES, dest / "resources", ignore=ignore)
    return dest


BUILD_HOOK = "import sys; from setuptools import build_meta as b; print(getattr(b, sys.argv[1])(sys.argv[2]))"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An sdist, a wheel from the tree and a wheel from the sdist, built as `python -m build` does:
    the PEP 517 hooks run with pyproject's build requirements installed apart from the test venv."""
    work = tmp_path_factory.mktemp("build")
    env = {**os.environ, "HOME": str(work), "PIP_NO_CACHE_DIR": "1", "PYTHONPATH": str(work / "backend")}
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(work / "backend")]
    _run([*pip, *requires], cwd=work, env=env)

    tree = _copy_project(work / "tree")
    out = work / "dist"
    sdist = out / _run([sys.executable, "-c", BUILD_HOOK, "build_sdist", str(out)], cwd=tree, env=env).split()[-1]
    tree_wheel = out / _run([sys.executable, "-c", BUILD_HOOK, "build_wheel", str(out)], cwd=tree, env=env).split()[-1]

    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    sdist_out = work / "dist-from-sdist"
    sdist_wheel = (
        sdist_out
        / _run([sys.executable, "-c", BUILD_HOOK, "build_wheel", str(sdist_out)], cwd=unpacked, env=env).split()[-1]
    )
    return {"sdist": sdist, "tree": tree_wheel, "from-sdist": sdist_wheel}


@pytest.mark.slow
def test_the_sdist_carries_every_resource(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = [name for parts in source_files() if (name := "/".join(("resources", *parts))) not in names]
    assert not missing, f"not in the sdist: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("source", ["tree", "from-sdist"])
def test_an_installed_wheel_finds_every_resource(built: dict[str, Path], source: str, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(built[source]) as wheel:
        names = set(wheel.namelist())
        wheel.extractall(site)  # what installing a pure-Python wheel does
    assert not any(name.startswith("resources/") for name in names), "resources/ must not land at the top level"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    report = _check_installed(site, elsewhere)
    assert Path(report["package"]).resolve().is_relative_to(site.resolve()), report["package"]
    _assert_found_under(report, site / "actor_trainer" / "_resources")


def test_a_frozen_bundle_is_looked_in_first(tmp_path: Path) -> None:
    """The layout packaging/actor-trainer.spec makes (`resources/` at the bundle's top, sys._MEIPASS),
    as the loader sees it; the real frozen build is checked where it is built (scripts/package)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(RESOURCES, bundle / resources.FROZEN_FOLDER)
    pretend_frozen = f"import sys; sys.frozen = True; sys._MEIPASS = {str(bundle)!r}\n"
    report = _check_installed(ROOT, tmp_path, extra=pretend_frozen)  # the checkout is there too: bundle wins
    _assert_found_under(report, bundle / resources.FROZEN_FOLDER)
