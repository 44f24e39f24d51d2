"""The app's non-code assets, found the same way however the app runs.

The assets (line icons, the app icon source, workflow templates, the desktop entry) live in the
repository's top-level `resources/` folder. This module is the one way to reach them, wherever that
folder ended up:

1. a frozen build (PyInstaller): `packaging/actor-trainer.spec` bundles `resources/` as
   `<bundle>/resources`, and the bundle's folder is `sys._MEIPASS`;
2. an installed wheel (built from the tree or from the sdist): `setup.py` and pyproject's
   `[tool.setuptools.package-dir]` install `resources/` as the data-only package
   `actor_trainer._resources`; an editable install maps that package to the checkout's folder;
3. a source checkout: `<repository>/resources` beside the `actor_trainer` package.

Callers name a resource by its path parts under `resources/`, e.g. `read_text("workflows",
"flux_lora_training.json")`. No Qt here: the GUI turns the bytes into icons itself.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path, PurePosixPath

__all__ = [
    "APP_ICON_SOURCE",
    "DESKTOP_ENTRY",
    "FROZEN_FOLDER",
    "RESOURCE_PACKAGE",
    "ResourceNotFoundError",
    "read_bytes",
    "read_text",
    "resource_path",
    "resources_root",
]

#: The package name the top-level `resources/` folder is installed as (wheel, sdist, editable).
RESOURCE_PACKAGE = "actor_trainer._resources"
#: The folder, inside a frozen bundle, that holds `resources/` (the spec's `datas` target).
FROZEN_FOLDER = "resources"

#: The application icon's source image (the window icon; installer icons are made from it).
APP_ICON_SOURCE = ("app-icon", "actor-trainer.svg")
#: The freedesktop.org desktop entry installed on Linux.
DESKTOP_ENTRY = ("linux", "actor-trainer.desktop")


class ResourceNotFoundError(FileNotFoundError):
    """A resource (or the resources folder itself) is missing: a broken install or build."""


def _frozen_root() -> Path | None:
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / FROZEN_FOLDER
    return None


def _installed_root() -> Path | None:
    try:
        spec = importlib.util.find_spec(RESOURCE_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _checkout_root() -> Path | None:
    repository = Path(__file__).resolve().parents[2]
    # pyproject.toml beside it: a checkout, not a site-packages folder that happens to hold "resources".
    if (repository / "pyproject.toml").is_file():
        return repository / "resources"
    return None


def _candidates() -> list[Path]:
    found = (_frozen_root(), _installed_root(), _checkout_root())
    return [root for root in found if root is not None]


@functools.lru_cache(maxsize=1)
def resources_root() -> Path:
    """The folder that holds the app's resources (the first of frozen, installed, checkout that exists)."""
    candidates = _candidates()
    for root in candidates:
        if root.is_dir():
            return root
    looked = ", ".join(str(root) for root in candidates) or "nowhere (no frozen bundle, package or checkout)"
    raise ResourceNotFoundError(f"The app's resources folder is missing (looked in {looked}); reinstall Actor Trainer.")


def _relative(parts: tuple[str, ...]) -> PurePosixPath:
    if not parts:
        raise ValueError("name a resource, e.g. resource_path('icons', 'copy.svg')")
    relative = PurePosixPath(*(part.replace("\\", "/") for part in parts))
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"a resource is named by a path inside resources/, not {relative}")
    return relative


def resource_path(*parts: str) -> Path:
    """The file (or folder) `resources/<parts...>`; raises ResourceNotFoundError when it is missing."""
    relative = _relative(parts)
    root = resources_root()
    path = root.joinpath(*relative.parts)
    if not path.exists():
        raise ResourceNotFoundError(f"The resource {relative} is missing from {root}; reinstall Actor Trainer.")
    return path


def read_text(*parts: str, encoding: str = "utf-8") -> str:
    """The text of resource `resources/<parts...>`."""
    return resource_path(*parts).read_text(encoding=encoding)


def read_bytes(*parts: str) -> bytes:
    """The bytes of resource `resources/<parts...>`."""
    return resource_path(*parts).read_bytes()
