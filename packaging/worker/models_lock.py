"""The Flux files the image bakes in, pinned: `models.lock.toml` read, checked, written and verified.

Each `[[model]]` entry names a file in a Hugging Face repository, the commit it is taken from
(`revision`, a full 40-character commit id), its `sha256` and `size` (as the Hub's LFS metadata
gives them) and where it goes under ComfyUI's models folder (`dest`). `pin_models.py` fills the
lock from the Hub; the image build (Dockerfile) downloads each file at its commit and runs
`verify`, which fails the build when a file's sha256 is not the lock's.

Standard library only (Python 3.11: tomllib), so that the image's build runs it as it is:

    python models_lock.py check LOCK              exit 1 if an entry is not pinned, unless the
                                                  environment has ALLOW_UNPINNED_MODELS=1
    python models_lock.py downloads LOCK          one line per file: repo file revision dest
                                                  (revision `main` for an entry not pinned)
    python models_lock.py verify LOCK MODELS_DIR  exit 1 unless every file is there with the
                                                  lock's size and sha256
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

LOCK_NAME = "models.lock.toml"
LOCK_FORMAT = 1
#: The revision downloaded for an entry that is not pinned (only with ALLOW_UNPINNED_MODELS=1).
UNPINNED_REVISION = "main"
COMMIT = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_CHUNK = 8 * 1024 * 1024

HEADER = """\
# The Flux files baked into the worker image, pinned (packaging/worker/README.md, "Pinning the models").
# Written by pin_models.py from the Hugging Face Hub: `revision` is the commit each file is taken
# from, `sha256` and `size` its LFS object. The image build downloads each file at that commit and
# fails when its sha256 differs (models_lock.py verify). An empty revision or sha256 is not pinned:
# the build refuses it unless given --build-arg ALLOW_UNPINNED_MODELS=1.
"""


class LockError(Exception):
    """The lock cannot be read, is not pinned, or a file does not match it (the message says which)."""


@dataclass(frozen=True)
class ModelPin:
    repo: str  # the Hugging Face repository, owner/name
    file: str  # the file's path in the repository
    dest: str  # where it goes, relative to ComfyUI's models folder (e.g. unet/flux1-dev-fp8.safetensors)
    revision: str = ""  # the commit id (40 hex characters); "" = not pinned
    sha256: str = ""  # the file's sha256 (64 hex characters); "" = not pinned
    size: int = 0  # its size in bytes (0 = unknown)

    @property
    def pinned(self) -> bool:
        return bool(COMMIT.match(self.revision) and SHA256.match(self.sha256))

    @property
    def name(self) -> str:
        return f"{self.repo} {self.file}"


def read_lock(path: Path) -> list[ModelPin]:
    """The lock's entries, checked; LockError names the entry and the field that is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LockError(f"Cannot read the model lock {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"The model lock {path} is not valid TOML: {exc}") from None
    if data.get("format") != LOCK_FORMAT:
        raise LockError(f"The model lock {path} has format {data.get('format')!r}; this script reads {LOCK_FORMAT}.")
    entries = data.get("model")
    if not isinstance(entries, list) or not entries:
        raise LockError(f"The model lock {path} lists no [[model]] entry.")
    pins = [_entry(path, i, entry) for i, entry in enumerate(entries, 1)]
    dests = [p.dest for p in pins]
    twice = sorted({d for d in dests if dests.count(d) > 1})
    if twice:
        raise LockError(f"The model lock {path} sends several files to {', '.join(twice)}.")
    return pins


def _entry(path: Path, number: int, entry: object) -> ModelPin:
    where = f"{path}, [[model]] #{number}"
    if not isinstance(entry, dict):
        raise LockError(f"{where} is not a table.")
    text = {k: entry.get(k, "") for k in ("repo", "file", "dest", "revision", "sha256")}
    for key, value in text.items():
        if not isinstance(value, str) or any(c.isspace() for c in value):
            raise LockError(f"{where}: {key} must be text without spaces, not {value!r}.")
    size = entry.get("size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise LockError(f"{where}: size must be a whole number of bytes, not {size!r}.")
    if not REPO.match(text["repo"]):
        raise LockError(f"{where}: repo {text['repo']!r} is not a Hugging Face repository (owner/name).")
    for key in ("file", "dest"):
        parts = PurePosixPath(text[key]).parts
        if not text[key] or text[key].startswith("/") or ".." in parts or "\\" in text[key]:
            raise LockError(f"{where}: {key} {text[key]!r} must be a relative path without '..'.")
    if text["revision"] and not COMMIT.match(text["revision"]):
        raise LockError(
            f"{where} ({text['repo']} {text['file']}): revision {text['revision']!r} is not a full commit id "
            "(40 lower-case hex characters); a branch or tag moves. Run pin_models.py to fill it."
        )
    if text["sha256"] and not SHA256.match(text["sha256"]):
        raise LockError(f"{where} ({text['repo']} {text['file']}): sha256 must be 64 lower-case hex characters.")
    if bool(text["revision"]) != bool(text["sha256"]):
        raise LockError(f"{where} ({text['repo']} {text['file']}): revision and sha256 are filled together.")
    return ModelPin(size=size, **text)


def render_lock(pins: Iterable[ModelPin]) -> str:
    lines = [HEADER, f"format = {LOCK_FORMAT}"]
    for pin in pins:
        lines += [
            "",
            "[[model]]",
            f'repo = "{pin.repo}"',
            f'file = "{pin.file}"',
            f'dest = "{pin.dest}"',
            f'revision = "{pin.revision}"',
            f'sha256 = "{pin.sha256}"',
            f"size = {pin.size}",
        ]
    return "\n".join(lines) + "\n"


def write_lock(path: Path, pins: Sequence[ModelPin]) -> None:
    """Write the lock whole (a temporary file beside it, then renamed): never half written."""
    text = render_lock(pins)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        read_lock(tmp)  # what is written must read back
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def require_pinned(pins: Sequence[ModelPin], *, allow_unpinned: bool, lock: Path) -> list[str]:
    """Raise LockError when an entry is not pinned, unless allowed; then return one warning per entry."""
    loose = [p for p in pins if not p.pinned]
    if not loose:
        return []
    names = ", ".join(p.name for p in loose)
    if not allow_unpinned:
        raise LockError(
            f"{lock} does not pin {names}: the build would take whatever `{UNPINNED_REVISION}` holds today. "
            "Run `python packaging/worker/pin_models.py` (it needs access to Hugging Face) and commit the lock, "
            "or build with --build-arg ALLOW_UNPINNED_MODELS=1 to accept unpinned models."
        )
    return [f"WARNING: {p.name} is not pinned: taking {UNPINNED_REVISION}, its sha256 unchecked" for p in loose]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(pins: Sequence[ModelPin], models_dir: Path, *, lock: Path) -> tuple[list[str], list[str]]:
    """(problems, notes): every file must be under `models_dir` at its dest with the lock's size and
    sha256 (an entry not pinned is only noted, with the sha256 found)."""
    problems: list[str] = []
    notes: list[str] = []
    for pin in pins:
        path = models_dir / pin.dest
        if not path.is_file():
            problems.append(f"{path}: missing ({pin.name} was not downloaded there)")
            continue
        size = path.stat().st_size
        if pin.size and size != pin.size:
            problems.append(
                f"{path}: {size:,} bytes, but {lock.name} says {pin.size:,} for {pin.name} at {pin.revision or '?'}: "
                "an incomplete or different download"
            )
            continue
        found = sha256_of(path)
        if not pin.sha256:
            notes.append(f"{path}: not pinned; its sha256 is {found}")
        elif found != pin.sha256:
            problems.append(
                f"{path}: sha256 {found}, but {lock.name} says {pin.sha256} for {pin.name} at commit "
                f"{pin.revision}: the file is not the pinned one (changed on the Hub, or damaged). Do not "
                "ship this image; re-pin with pin_models.py only if the new file is the one you mean to use."
            )
        else:
            notes.append(f"{path}: sha256 matches the lock")
    return problems, notes


def main(argv: Sequence[str]) -> int:
    usage = "usage: models_lock.py check LOCK | downloads LOCK | verify LOCK MODELS_DIR"
    if len(argv) < 2 or argv[0] not in ("check", "downloads", "verify") or (argv[0] == "verify") != (len(argv) == 3):
        print(usage, file=sys.stderr)
        return 2
    command, lock = argv[0], Path(argv[1])
    allow = os.environ.get("ALLOW_UNPINNED_MODELS", "0").strip() == "1"
    try:
        pins = read_lock(lock)
        if command == "check":
            for warning in require_pinned(pins, allow_unpinned=allow, lock=lock):
                print(warning, file=sys.stderr)
            print(f"{lock.name}: {sum(p.pinned for p in pins)} of {len(pins)} model file(s) pinned")
        elif command == "downloads":
            require_pinned(pins, allow_unpinned=allow, lock=lock)
            for pin in pins:
                print(pin.repo, pin.file, pin.revision or UNPINNED_REVISION, pin.dest)
        else:
            problems, notes = verify(pins, Path(argv[2]), lock=lock)
            for note in notes:
                print(note)
            if problems:
                raise LockError("\n".join(["The model files do not match the lock:", *problems]))
    except LockError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
