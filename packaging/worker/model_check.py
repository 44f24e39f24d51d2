"""Is a model file a readable safetensors file? Which one is broken, where, and probably why.

FluxTrainer loads the four Flux files in InitFluxLoRATraining; a broken one fails there with
safetensors' `SafetensorError: Error while deserializing header: header too large`, which names no
file. This module reads each file's header the way safetensors does and says which file is broken,
in which folder, and the likely cause (an incomplete download, a Git LFS pointer, an error page
saved in place of a gated model's weights).

Standard library only: the image build runs it on the downloaded models
(`python model_check.py FILE...` exits 1 and prints the problems), and the handler imports it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

#: safetensors refuses headers above this size ("header too large").
MAX_HEADER = 100_000_000

#: FluxTrainModelSelect's inputs and the ComfyUI model folders each one is listed from.
MODEL_FOLDERS: dict[str, tuple[str, ...]] = {
    "transformer": ("unet", "diffusion_models"),
    "vae": ("vae",),
    "clip_l": ("clip", "text_encoders"),
    "t5": ("clip", "text_encoders"),
}

GATED_HINT = "FLUX.1-dev's files are gated: accept the licence on Hugging Face and download with a read token"


def inspect(path: Path) -> str | None:
    """None if `path` reads as a complete safetensors file, else what is wrong with it (a clause)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if size == 0:
                return "is empty (0 bytes): the download did not finish"
            if len(head) < 8:
                return f"is only {size} bytes long: an incomplete download"
            length = int.from_bytes(head, "little")
            if length > MAX_HEADER or length > size - 8:
                f.seek(0)
                return _not_weights(f.read(512), size, length)
            raw = f.read(length)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    try:
        header = json.loads(raw)
    except ValueError:
        return "has a header that is not valid JSON: the file is damaged; download it again"
    if not isinstance(header, dict):
        return "has a header that is not a JSON object: the file is damaged; download it again"
    end = 0
    for entry in header.values():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets):
            end = max(end, offsets[1])
    if 8 + length + end > size:
        return (
            f"is truncated: its header describes {8 + length + end:,} bytes but the file has {size:,}: "
            "an incomplete download; download it again"
        )
    return None


def _not_weights(start: bytes, size: int, length: int) -> str:
    text = start.lstrip()
    if text.startswith(b"version https://git-lfs"):
        return (
            f"is a Git LFS pointer ({size} bytes), not the weights: it was fetched without Git LFS; "
            "download it with `hf download`"
        )
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        decoded = ""
    if decoded[:1] in ("<", "{", "[") or decoded.lower().startswith(("access", "error", "entry not found")):
        snippet = " ".join(decoded.split())[:80]
        return (
            f"holds a text page ({size:,} bytes) instead of weights, starting {snippet!r}: a download that "
            f"failed, most likely a gated model fetched without a token ({GATED_HINT})"
        )
    if length > MAX_HEADER:
        return (
            f"does not start like a safetensors file (header length {length:,} bytes, file {size:,} bytes): "
            "an incomplete or failed download, or not a safetensors file"
        )
    return (
        f"is incomplete: its header alone should be {length:,} bytes but the file has {size:,}: "
        "an incomplete download; download it again"
    )


def locate(name: str, folders: Sequence[str], roots: Iterable[Path]) -> list[Path]:
    """The existing files called `name` in `root/folder` for each model root and folder."""
    found: list[Path] = []
    for root in roots:
        for folder in folders:
            candidate = root / folder / name
            if candidate.is_file():
                found.append(candidate)
    return found


def diagnose(models: Mapping[str, str], roots: Sequence[Path]) -> list[str]:
    """One sentence per model file that is missing or unreadable (`models`: input name → file name)."""
    problems: list[str] = []
    for key, name in models.items():
        folders = MODEL_FOLDERS.get(key, ())
        paths = locate(name, folders, roots)
        if not paths:
            searched = ", ".join(str(r / f) for r in roots for f in folders) or "no model folder"
            problems.append(f"The {key} model {name} is not in {searched}.")
            continue
        for path in paths:
            problem = inspect(path)
            if problem:
                problems.append(f"The {key} model {path.name} in {path.parent} {problem}.")
    return problems


def main(argv: Sequence[str]) -> int:
    bad = [(p, inspect(Path(p))) for p in argv]
    for path, problem in bad:
        if problem:
            print(f"{path} {problem}", file=sys.stderr)
    return 1 if any(problem for _, problem in bad) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
