"""The dataset doctor's vocabulary: severities, thresholds, fix names, a finding and a report.

Split from core/dataset_doctor.py (which runs the check and re-exports all of this); the rules
about the set are in core/dataset_doctor_rules.py, dismissals and `--force` in
core/dataset_doctor_dismissals.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from actor_trainer.core.dataset_doctor_facts import ImageFacts
from actor_trainer.core.library import CAPTION_SUFFIX, IMAGE_SUFFIXES, TrainingDataScan
from actor_trainer.core.models import TrainingParameters

Severity = Literal["blocking", "warning"]
BLOCKING: Severity = "blocking"
WARNING: Severity = "warning"

#: Fewer usable pictures than this cannot teach a likeness: the LoRA only copies them.
MIN_TRAINABLE_IMAGES = 3
#: A side ratio beyond this (2:1, or 1:2) leaves the face small in a wide frame.
EXTREME_ASPECT = 2.0
#: Files above this slow every sync and the worker's download, and add nothing at training size.
HUGE_FILE_BYTES = 20 * 1024 * 1024
#: The field on an actor's record in actors.json that keeps the dismissed warnings.
DISMISSED_FIELD = "doctor_dismissed"
#: Extensions the trainer (kohya's IMAGE_EXTENSIONS) finds: all lower case or all upper case.
TRAINER_IMAGE_SUFFIXES = frozenset(IMAGE_SUFFIXES | {s.upper() for s in IMAGE_SUFFIXES})

# Fixes the app can make (the GUI offers them; each keeps the original beside the library's data).
FIX_ROTATE = "apply_exif_rotation"
FIX_RGB = "convert_to_rgb"
FIX_REMOVE = "remove_from_training"
FIX_RENAME = "rename_extension"

ProgressCallback = Callable[[int, int, str], None]  # (done, total, file name)


@dataclass(frozen=True)
class Finding:
    file: str | None  # a file in training_data, or None for the whole set
    code: str
    severity: Severity
    message: str
    fix: str | None = None
    sha256: str | None = None  # the content of `file` when checked (dismissals are tied to it)

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING

    @property
    def dismissable(self) -> bool:
        return self.severity == WARNING and self.file is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class DoctorReport:
    actor_id: int
    actor_name: str
    params: TrainingParameters  # what the check assumed (steps, resolution, trigger, batch)
    image_count: int  # image files in the folder (what sync uploads)
    usable_count: int  # distinct pictures the trainer can open and will find
    caption_count: int
    findings: tuple[Finding, ...]  # standing findings, blocking first
    dismissed: tuple[Finding, ...]
    facts: dict[str, ImageFacts] = field(default_factory=dict)  # image file name → facts
    seconds: float = 0.0

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.blocking)

    @property
    def has_blocking(self) -> bool:
        return any(f.blocking for f in self.findings)

    def for_image(self, image_name: str) -> tuple[Finding, ...]:
        """Findings about a picture and about its caption (what a thumbnail's badge shows)."""
        stem = Path(image_name).stem
        caption = stem + CAPTION_SUFFIX
        return tuple(f for f in self.findings if f.file == image_name or (f.file or "").lower() == caption.lower())

    @property
    def verdict(self) -> str:
        if self.has_blocking:
            return "blocked"
        return "warnings" if self.findings else "clean"

    def summary_text(self) -> str:
        b, w, d = len(self.blocking), len(self.warnings), len(self.dismissed)
        if not b and not w:
            text = f"{self.image_count} picture(s) checked: nothing to fix"
        else:
            parts = []
            if b:
                parts.append(f"{b} problem(s) block training")
            if w:
                parts.append(f"{w} warning(s)")
            text = f"{self.image_count} picture(s) checked: " + ", ".join(parts)
        return text + (f" ({d} dismissed)" if d else "")

    def summary(self) -> dict[str, Any]:
        return {
            "images": self.image_count,
            "usable_images": self.usable_count,
            "captions": self.caption_count,
            "blocking": len(self.blocking),
            "warnings": len(self.warnings),
            "dismissed": len(self.dismissed),
            "verdict": self.verdict,
            "text": self.summary_text(),
        }


def trainer_finds(name: str) -> bool:
    """True when the trainer finds a picture by its extension's letter case."""
    return Path(name).suffix in TRAINER_IMAGE_SUFFIXES


def usable_names(scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> list[str]:
    """Image files the trainer will find and can open, one per distinct content, in name order."""
    seen: set[str] = set()
    names: list[str] = []
    for image in scan.images:
        f = facts.get(image.name)
        if f is None or not f.is_image or not trainer_finds(image.name) or f.sha256 in seen:
            continue
        seen.add(f.sha256)
        names.append(image.name)
    return names


def usable_count(scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> int:
    return len(usable_names(scan, facts))
