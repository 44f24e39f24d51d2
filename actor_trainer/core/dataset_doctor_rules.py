"""The dataset doctor's rules about the whole set: duplicates, captions, unused files, image count.

The per-picture rules and the check itself are in core/dataset_doctor.py (see its docstring for
what the trainer does and why each rule exists).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from actor_trainer.core.auto_adjust import CURATE_RANGE, steps_fit
from actor_trainer.core.dataset_doctor_facts import ImageFacts
from actor_trainer.core.dataset_doctor_hash import colour_distance, hamming, near_duplicates
from actor_trainer.core.dataset_doctor_report import (
    BLOCKING,
    FIX_REMOVE,
    FIX_RENAME,
    MIN_TRAINABLE_IMAGES,
    WARNING,
    Finding,
    Severity,
    usable_count,
)
from actor_trainer.core.library import CAPTION_SUFFIX, TrainingDataScan
from actor_trainer.core.models import Actor, TrainingParameters


def duplicate_findings(scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> list[Finding]:
    """Exact copies (same bytes: the later name is flagged) and near-copies (the lesser one is
    flagged: fewer pixels, then the smaller file, then the later name; the better one is kept)."""
    out: list[Finding] = []
    first_by_sha: dict[str, str] = {}
    distinct: list[tuple[str, ImageFacts]] = []
    for image in scan.images:
        f = facts.get(image.name)
        if f is None or not f.is_image:
            continue
        earlier = first_by_sha.get(f.sha256)
        if earlier is not None:
            out.append(
                Finding(
                    file=image.name,
                    code="duplicate",
                    severity=WARNING,
                    fix=FIX_REMOVE,
                    sha256=f.sha256,
                    message=f"{image.name} is the same file as {earlier}, byte for byte: the picture would be "
                    "trained twice as often as the others. Remove one of them.",
                )
            )
            continue
        first_by_sha[f.sha256] = image.name
        distinct.append((image.name, f))
    distinct.sort(key=lambda item: (-item[1].width * item[1].height, -item[1].size, item[0]))
    kept: list[tuple[str, ImageFacts]] = []
    for name, f in distinct:
        thumb = f.thumb_bytes
        match = next(
            (
                (other_name, other)
                for other_name, other in kept
                if near_duplicates(f.dhash, thumb, other.dhash, other.thumb_bytes)
            ),
            None,
        )
        if match is None:
            kept.append((name, f))
            continue
        other_name, other = match
        bits = hamming(f.dhash, other.dhash)
        colour = colour_distance(thumb, other.thumb_bytes)
        out.append(
            Finding(
                file=name,
                code="near_duplicate",
                severity=WARNING,
                fix=FIX_REMOVE,
                sha256=f.sha256,
                message=f"{name} is almost the same picture as {other_name} (a resized, re-saved or slightly "
                f"edited copy: {bits} of 64 hash bits and {colour:.1f} colour levels apart). Near-copies "
                f"teach the same picture twice; {other_name} is the larger one to keep.",
            )
        )
    return out


def caption_findings(
    actor: Actor, params: TrainingParameters, scan: TrainingDataScan, facts: dict[str, ImageFacts]
) -> list[Finding]:
    out: list[Finding] = []
    trigger = params.trigger_for(actor)
    captions = {Path(c.name).stem: c for c in scan.captions}
    with_caption = sum(1 for i in scan.images if Path(i.name).stem in captions)
    for image in scan.images:
        stem = Path(image.name).stem
        caption = captions.get(stem)
        image_sha = facts[image.name].sha256 if image.name in facts else None
        if caption is None:
            if with_caption:
                out.append(
                    Finding(
                        file=image.name,
                        code="caption_missing",
                        severity=WARNING,
                        sha256=image_sha,
                        message=f"{image.name} has no caption ({stem}.txt), while {with_caption} other "
                        f"picture(s) have one. It trains with just the trigger word “{trigger}”. "
                        "Write a caption for it, or remove the others' for a consistent set.",
                    )
                )
            continue
        out.extend(_one_caption(caption.name, caption.path, trigger))
    return out


def _one_caption(name: str, path: Path, trigger: str) -> list[Finding]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [
            Finding(
                file=name,
                code="caption_unreadable",
                severity=BLOCKING,
                message=f"{name} cannot be read ({exc.strerror or exc}); the trainer would stop on it.",
            )
        ]
    sha = hashlib.sha256(raw).hexdigest()

    def finding(code: str, severity: Severity, message: str) -> Finding:
        return Finding(file=name, code=code, severity=severity, message=message, sha256=sha)

    if not raw:
        return [
            finding(
                "caption_empty",
                BLOCKING,
                f"{name} is an empty caption file (0 bytes): the trainer stops on it with “caption "
                "file is empty”. Write a caption, or remove the file to train with the trigger word.",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [
            finding(
                "caption_unreadable",
                BLOCKING,
                f"{name} is not saved as UTF-8 text (it has characters in another encoding); the "
                "trainer stops on it. Save it again as UTF-8.",
            )
        ]
    lines = text.splitlines()
    used = lines[0].strip().lstrip("\ufeff").strip() if lines else ""
    if not used:
        later = any(line.strip() for line in lines[1:])
        detail = "its first line is blank and the trainer reads only the first line" if later else "it holds no words"
        return [
            finding(
                "caption_empty",
                WARNING,
                f"{name} is blank ({detail}): the picture trains without any words, not even the "
                f"trigger word “{trigger}”. Write a caption, or remove the file.",
            )
        ]
    if trigger.lower() not in used.lower():
        elsewhere = trigger.lower() in text.lower()
        where = " (it appears on a later line, but the trainer reads only the first)" if elsewhere else ""
        return [
            finding(
                "caption_no_trigger",
                WARNING,
                f"{name} never says the trigger word “{trigger}”{where}, so this picture does not "
                "teach the model that the trigger means this person. Add it to the caption.",
            )
        ]
    return []


def unused_file_findings(scan: TrainingDataScan) -> list[Finding]:
    out: list[Finding] = []
    for path in scan.unsupported:
        name = path.name
        if path.suffix.lower() == CAPTION_SUFFIX:
            message = (
                f"{name} is a caption without a picture of the same name: it is not uploaded or used. "
                "Rename it to match its picture, or remove it."
            )
        else:
            message = (
                f"{name} is not a PNG, JPEG or WebP picture: it is not uploaded or trained on. Keep notes "
                "outside the training folder."
            )
        out.append(Finding(file=name, code="unused_file", severity=WARNING, message=message))
    for caption in scan.captions:
        if Path(caption.name).suffix != CAPTION_SUFFIX:
            out.append(
                Finding(
                    file=caption.name,
                    code="extension_case",
                    severity=WARNING,
                    fix=FIX_RENAME,
                    message=f"{caption.name}: the trainer looks for captions ending in exactly {CAPTION_SUFFIX} and "
                    "misses this one unless the worker renames it first (the reference worker does; another "
                    f"may not). Rename it to {Path(caption.name).stem}{CAPTION_SUFFIX}.",
                )
            )
    return out


def count_findings(params: TrainingParameters, scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> list[Finding]:
    usable = usable_count(scan, facts)
    if usable < MIN_TRAINABLE_IMAGES:
        if scan.image_count == 0:
            what = "There are no training pictures"
        elif usable == scan.image_count:
            what = f"Only {usable} picture(s)"
        else:
            what = f"Only {usable} of the {scan.image_count} picture(s) can be trained on"
        return [
            Finding(
                file=None,
                code="too_few_images",
                severity=BLOCKING,
                message=f"{what}: a likeness needs at least {MIN_TRAINABLE_IMAGES} (better 15–30 varied "
                "ones); with fewer the model only copies them. Add pictures to the training "
                "folder.",
            )
        ]
    out: list[Finding] = []
    fit = steps_fit(usable, params.max_train_steps, params.batch_size)
    per_image = fit.images_seen / usable
    steps = params.max_train_steps
    if fit.verdict == "too_few_images":
        out.append(
            Finding(
                file=None,
                code="too_few_images_for_steps",
                severity=WARNING,
                message=f"{usable} pictures are few for {steps} steps: each is seen about "
                f"{per_image:.0f} times, and the model starts to copy them. Auto-adjust "
                f"proposes {fit.recommended} steps for {fit.tier}; lower the steps or add "
                "pictures.",
            )
        )
    elif fit.verdict == "too_many_images":
        out.append(
            Finding(
                file=None,
                code="too_many_images_for_steps",
                severity=WARNING,
                message=f"{usable} pictures are many for {steps} steps: each is seen only about "
                f"{per_image:.0f} times, too rarely to be learned. Auto-adjust proposes "
                f"{fit.recommended} steps for {fit.tier}; raise the steps.",
            )
        )
    if usable > CURATE_RANGE[1]:
        out.append(
            Finding(
                file=None,
                code="too_many_images",
                severity=WARNING,
                message=f"{usable} pictures is more than training needs: choose the best "
                f"{CURATE_RANGE[0]}–{CURATE_RANGE[1]} (varied angles, light and expressions).",
            )
        )
    return out
