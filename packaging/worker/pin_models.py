"""Pin the Flux files of models.lock.toml: each one's commit id, sha256 and size, from the Hugging Face Hub.

    pip install "huggingface_hub>=0.34,<1"        # or run it where the image's environment is
    export HF_TOKEN=hf_...                        # FLUX.1-dev is gated: a read token that accepted its licence
    python packaging/worker/pin_models.py         # fills the entries not pinned yet, from `main`
    python packaging/worker/pin_models.py --update            # moves every entry to today's `main`
    python packaging/worker/pin_models.py --revision <commit|tag|branch> --update

For each repository and revision, `HfApi().model_info(repo, revision=..., files_metadata=True)`
gives the commit the revision points at (`.sha`) and, for every file (`.siblings`), its size and,
for a file kept in Git LFS (every weights file), the sha256 of its content (`.lfs.sha256`). An
entry already pinned keeps its commit unless `--update` is given (it is looked up again at that
commit, so its sha256 and size are checked against the Hub). The lock is written whole, then read
back; review the diff and commit it. The image build downloads each file at its commit and fails
when its sha256 differs (models_lock.py verify).

Not run by the image nor by the tests (they cannot reach the Hub); its pure part, `pin`, is tested.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from models_lock import COMMIT, LOCK_NAME, SHA256, LockError, ModelPin, read_lock, write_lock

#: (repo, revision) → the Hub's model info (an object with `.sha` and `.siblings`)
ModelInfo = Callable[[str, str], Any]


def _field(obj: Any, name: str) -> Any:
    """`obj.name`, or `obj[name]` (huggingface_hub has used both shapes for LFS metadata)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def pin(entry: ModelPin, info: Any, revision: str) -> ModelPin:
    """`entry` pinned to the commit and file metadata of `info` (model_info at `revision`).

    Raises LockError when the Hub's answer cannot pin it: no commit id, the file is not in the
    repository at that revision, or it is not an LFS file (no sha256 of its content)."""
    where = f"{entry.repo} at {revision}"
    commit = _field(info, "sha")
    if not isinstance(commit, str) or not COMMIT.match(commit):
        raise LockError(f"The Hub gave no commit id for {where} (got {commit!r}).")
    siblings = _field(info, "siblings") or []
    sibling = next((s for s in siblings if _field(s, "rfilename") == entry.file), None)
    if sibling is None:
        names = sorted(str(_field(s, "rfilename")) for s in siblings)
        raise LockError(
            f"{entry.file} is not in {where} (commit {commit}); it has {', '.join(names[:12]) or 'no file'}"
            f"{', …' if len(names) > 12 else ''}. Was it renamed? Fix the lock's `file`."
        )
    lfs = _field(sibling, "lfs")
    sha256 = _field(lfs, "sha256") if lfs is not None else None
    if not isinstance(sha256, str) or not SHA256.match(sha256.lower()):
        raise LockError(
            f"The Hub gives no LFS sha256 for {entry.file} in {where}: it is not stored in Git LFS, or the "
            "answer lacks file metadata (files_metadata=True)."
        )
    size = _field(lfs, "size") or _field(sibling, "size") or 0
    return replace(entry, revision=commit, sha256=sha256.lower(), size=int(size))


def pin_all(pins: Sequence[ModelPin], model_info: ModelInfo, *, revision: str, update: bool) -> list[ModelPin]:
    """Every entry pinned (those already pinned: at their own commit unless `update`); the Hub is
    asked once per repository and revision."""
    answers: dict[tuple[str, str], Any] = {}
    pinned: list[ModelPin] = []
    for entry in pins:
        wanted = entry.revision if entry.pinned and not update else revision
        key = (entry.repo, wanted)
        if key not in answers:
            answers[key] = model_info(entry.repo, wanted)
        new = pin(entry, answers[key], wanted)
        if entry.pinned and not update and (new.sha256, new.size) != (entry.sha256, entry.size or new.size):
            raise LockError(
                f"{entry.name} at commit {entry.revision}: the Hub says sha256 {new.sha256} ({new.size:,} bytes), "
                f"the lock says {entry.sha256} ({entry.size:,} bytes). The lock was edited by hand?"
            )
        pinned.append(new)
    return pinned


def hub_model_info(token: str | None = None) -> ModelInfo:
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise LockError('pin_models.py needs huggingface_hub: pip install "huggingface_hub>=0.34,<1"') from None
    api = HfApi(token=token)
    return lambda repo, revision: api.model_info(repo, revision=revision, files_metadata=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pin the worker image's model files (models.lock.toml).")
    parser.add_argument("--lock", type=Path, default=Path(__file__).with_name(LOCK_NAME))
    parser.add_argument("--revision", default="main", help="branch, tag or commit to pin from (default: main)")
    parser.add_argument("--update", action="store_true", help="re-pin entries already pinned, at --revision")
    args = parser.parse_args(argv)
    try:
        pins = read_lock(args.lock)
        new = pin_all(pins, hub_model_info(), revision=args.revision, update=args.update)
        write_lock(args.lock, new)
    except LockError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the Hub's own errors: unreachable, gated without a token, not found
        print(f"ERROR: could not ask the Hugging Face Hub: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for before, after in zip(pins, new, strict=True):
        moved = "unchanged" if before == after else f"{before.revision or 'unpinned'} -> {after.revision}"
        print(f"{after.name}: {after.revision} sha256 {after.sha256} ({after.size:,} bytes) [{moved}]")
    print(f"wrote {args.lock}: review the diff and commit it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
