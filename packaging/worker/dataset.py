"""The training folder as kohya's dataset code (inside FluxTrainer) reads it.

- kohya finds images by globbing fixed extensions, case-sensitively on Linux: `face.Jpg` is
  skipped. The worker saves every image (and caption) with its extension in lower case.
- TrainDatasetAdd's `class_tokens` (the trigger) is prepended to every caption: a caption that
  already starts with the trigger would name it twice, so the worker removes it from the caption
  (and removes a caption that is nothing but the trigger: the trigger alone is then used).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

log = logging.getLogger("actor_trainer_worker")

#: The image extensions kohya's dataset code globs for (lower-case forms; the worker lower-cases).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def normalise_name(name: str, caption_extension: str = ".txt") -> str:
    """`name` with an image or caption extension in lower case (`Face.JPG` → `Face.jpg`); others unchanged."""
    path = PurePosixPath(name)
    suffix = path.suffix
    if suffix.lower() in IMAGE_EXTENSIONS or (caption_extension and suffix.lower() == caption_extension.lower()):
        return path.stem + suffix.lower()
    return name


@dataclass
class DatasetReport:
    images: list[str] = field(default_factory=list)
    captions_fixed: list[str] = field(default_factory=list)
    captions_removed: list[str] = field(default_factory=list)


def prepare(folder: Path, trigger: str, caption_extension: str = ".txt") -> DatasetReport:
    """Strip a leading trigger from the captions in `folder`; list the images the trainer will read."""
    report = DatasetReport()
    ext = caption_extension.lower() if caption_extension else ""
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        if path.suffix in IMAGE_EXTENSIONS:
            report.images.append(path.name)
        elif ext and path.suffix == ext and trigger:
            _fix_caption(path, trigger, report)
    if report.captions_fixed or report.captions_removed:
        log.info(
            "captions starting with the trigger %r: %d trimmed, %d removed (trigger only)",
            trigger,
            len(report.captions_fixed),
            len(report.captions_removed),
        )
    return report


def strip_trigger(caption: str, trigger: str) -> str | None:
    """The caption without a leading `trigger` (and the separator after it); None if it does not start with it.

    The trigger must stand as a whole word (`anna` does not strip `annabel, …`); case is ignored.
    """
    text = caption.lstrip()
    if not trigger or not text.lower().startswith(trigger.lower()):
        return None
    rest = text[len(trigger) :]
    if rest and re.match(r"[\w]", rest[0]):
        return None
    return re.sub(r"^[\s,;:.\-–—|]+", "", rest)


def _fix_caption(path: Path, trigger: str, report: DatasetReport) -> None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return  # not text we can edit safely: left as it is
    stripped = strip_trigger(text, trigger)
    if stripped is None:
        return
    if stripped.strip():
        path.write_text(stripped, encoding="utf-8")
        report.captions_fixed.append(path.name)
    else:
        path.unlink()
        report.captions_removed.append(path.name)
