"""The layer rules: core/ and sandbox/ never import Qt, and no layer imports one above it.

gui, commands          (the two faces; commands never import gui)
runtime                (builds the running services from a Config)
sandbox                (the simulated endpoint and worker; uses core)
core                   (models, library, storage, RunPod client, orchestrator)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "actor_trainer"
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qasync")

#: what each layer must never import (lazily or not, TYPE_CHECKING included)
FORBIDDEN = {
    "core": (
        "actor_trainer.sandbox",
        "actor_trainer.gui",
        "actor_trainer.commands",
        "actor_trainer.runtime",
        "actor_trainer.app",
        "actor_trainer.cli",
    ),
    "sandbox": (
        "actor_trainer.gui",
        "actor_trainer.commands",
        "actor_trainer.runtime",
        "actor_trainer.app",
        "actor_trainer.cli",
    ),
    "commands": ("actor_trainer.gui", "actor_trainer.app"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_never_imports_upward(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for lineno, name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(PACKAGE)}:{lineno} {name}")
    assert not offenders, f"{layer}/ imports a layer above it:\n" + "\n".join(offenders)


def test_runtime_never_imports_a_face() -> None:
    names = [n for _, n in _imports(PACKAGE / "runtime.py")]
    assert not [n for n in names if n.startswith(("actor_trainer.gui", "actor_trainer.commands"))]


@pytest.mark.parametrize("layer", ["core", "sandbox"])
def test_layer_never_imports_qt(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if n.split(".")[0] in QT_MODULES
            ]
    assert not offenders, "Qt imported below the GUI layer:\n" + "\n".join(offenders)


def test_headless_commands_do_not_load_qt(tmp_path: Path) -> None:
    """Running a command in a fresh interpreter leaves Qt unimported (fast start, no display)."""
    from tests.library_factory import make_library

    lib = make_library(tmp_path / "lib")
    code = (
        "import sys\n"
        "from actor_trainer.cli import main\n"
        f"rc = main(['--data-dir', {str(lib)!r}, 'actors', '--json', '--local'])\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6')]\n"
        "print('QT:', loaded, file=sys.stderr)\n"
        "sys.exit(rc if not loaded else 99)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
