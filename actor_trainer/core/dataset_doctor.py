"""The dataset doctor: what is wrong with an actor's training pictures and captions, in plain words.

Run before a run is paid for (and on demand). Each finding is `{file, code, severity, message}`:

- **blocking** only where the run would fail or train on garbage: a file that is empty, not a
  picture at all, or damaged; a caption the trainer stops on (0 bytes, not UTF-8); fewer than
  `MIN_TRAINABLE_IMAGES` pictures the trainer can use. `train` refuses while one stands (`--force`
  overrides and is recorded in the version).
- **warning** for everything else: too small for the resolution, extreme aspect ratio, exact and
  near duplicates, missing / blank captions or captions without the trigger word, EXIF rotation the
  trainer ignores, transparency, CMYK, 16-bit, a file-name extension whose letter case the trainer
  does not recognise, huge files, an image count that does not fit the steps, files that are not
  used at all. A warning about a file can be dismissed; the dismissal is stored on the actor's
  record in actors.json (`doctor_dismissed`, a field other tools ignore) and tied to the file's
  content, so a replaced file is checked afresh.

What the trainer does is kohya's dataset code as vendored by ComfyUI-FluxTrainer (the worker's
trainer, see docs/worker-contract.md): it matches image extensions case-sensitively (`.png` and
`.PNG`, never `.Png`; the reference worker in packaging/worker lower-cases them, a studio's own
worker may not, so a mixed-case extension stays a warning), reads captions as UTF-8 and stops on
an empty caption file, uses only the first line of a caption, uses the trigger (class tokens) for
a picture without caption, opens pictures with Pillow and converts them to RGB without applying
EXIF rotation, and resizes each picture to a bucket of about resolution² pixels (so a smaller picture is enlarged).

Per-picture facts are cached by content (core/dataset_doctor_facts.py); the rules are cheap. Split
along seams: the finding and report types in core/dataset_doctor_report.py, the rules about the
whole set in core/dataset_doctor_rules.py, dismissals and `--force` in core/dataset_doctor_dismissals.py;
this module runs the check, holds the per-picture rules and re-exports the rest.
No Qt: the GUI runs `check_actor` in a worker thread with a progress callback.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from actor_trainer.core.dataset_doctor_dismissals import (
    FORCED_FIELD,
    DatasetBlockedError,
    DismissRefusedError,
    dismiss,
    dismissal_keys,
    forced_reasons,
    is_dismissed,
    record_forced,
    undismiss,
)
from actor_trainer.core.dataset_doctor_facts import FactsCache, ImageFacts, inspect_image
from actor_trainer.core.dataset_doctor_report import (
    BLOCKING,
    DISMISSED_FIELD,
    EXTREME_ASPECT,
    FIX_REMOVE,
    FIX_RENAME,
    FIX_RGB,
    FIX_ROTATE,
    HUGE_FILE_BYTES,
    MIN_TRAINABLE_IMAGES,
    TRAINER_IMAGE_SUFFIXES,
    WARNING,
    DoctorReport,
    Finding,
    ProgressCallback,
    Severity,
    trainer_finds,
    usable_count,
)
from actor_trainer.core.dataset_doctor_rules import (
    caption_findings,
    count_findings,
    duplicate_findings,
    unused_file_findings,
)
from actor_trainer.core.library import Library, TrainingDataScan
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.settings import cache_dir

__all__ = [
    "BLOCKING",
    "DISMISSED_FIELD",
    "EXTREME_ASPECT",
    "FIX_REMOVE",
    "FIX_RENAME",
    "FIX_RGB",
    "FIX_ROTATE",
    "FORCED_FIELD",
    "HUGE_FILE_BYTES",
    "MIN_TRAINABLE_IMAGES",
    "TRAINER_IMAGE_SUFFIXES",
    "WARNING",
    "DatasetBlockedError",
    "DismissRefusedError",
    "DoctorReport",
    "Finding",
    "ProgressCallback",
    "Severity",
    "assumed_parameters",
    "check_actor",
    "default_cache",
    "dismiss",
    "forced_reasons",
    "record_forced",
    "undismiss",
]


# --- parameters ---------------------------------------------------------------------------------


def assumed_parameters(
    remembered: TrainingParameters | None, *, steps: int | None = None, resolution: int | None = None
) -> tuple[TrainingParameters, str]:
    """The parameters a check assumes and where they came from: "given" (either value given),
    else "remembered" (the actor's last parameters), else "default"."""
    base = remembered if remembered is not None else TrainingParameters()
    source = "remembered" if remembered is not None else "default"
    updates: dict[str, Any] = {}
    if steps is not None:
        updates["max_train_steps"] = steps
        updates["lr_warmup_steps"] = min(base.lr_warmup_steps, steps)
    if resolution is not None:
        updates["resolution"] = resolution
    if updates:
        source = "given"
        base = TrainingParameters.model_validate({**base.model_dump(), **updates})
    return base, source


# --- the check ----------------------------------------------------------------------------------


def default_cache() -> FactsCache:
    return FactsCache(cache_dir() / "dataset-doctor")


def check_actor(
    library: Library,
    actor: Actor,
    params: TrainingParameters,
    *,
    cache: FactsCache | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> DoctorReport:
    """Inspect every training file of `actor` and apply the rules. Blocking (file I/O, decoding):
    call it in a worker thread. `progress(done, total, name)` is called in this thread."""
    started = time.perf_counter()
    scan = library.scan_training_data(actor.id)
    cache = cache if cache is not None else default_cache()
    facts = _gather_facts(scan, cache, progress, workers)
    findings = _rules(actor, params, scan, facts)
    dismissals = dismissal_keys(actor)
    standing = [f for f in findings if not is_dismissed(f, dismissals)]
    dismissed = [f for f in findings if is_dismissed(f, dismissals)]
    standing.sort(key=lambda f: (not f.blocking, f.file is not None, f.file or "", f.code))
    return DoctorReport(
        actor_id=actor.id,
        actor_name=actor.name,
        params=params,
        image_count=scan.image_count,
        usable_count=usable_count(scan, facts),
        caption_count=len(scan.captions),
        findings=tuple(standing),
        dismissed=tuple(dismissed),
        facts=facts,
        seconds=time.perf_counter() - started,
    )


def _gather_facts(
    scan: TrainingDataScan, cache: FactsCache, progress: ProgressCallback | None, workers: int | None
) -> dict[str, ImageFacts]:
    folder_facts = cache.load(scan.folder)
    total = len(scan.images)
    result: dict[str, ImageFacts] = {}
    todo: list[tuple[str, Path, os.stat_result | None]] = []
    done = 0
    for image in scan.images:
        try:
            st = os.stat(image.path)
        except OSError:
            st = None
        known = folder_facts.lookup(image.name, st) if st is not None else None
        if known is not None:
            result[image.name] = known
            done += 1
            if progress is not None:
                progress(done, total, image.name)
        else:
            todo.append((image.name, image.path, st))

    def work(item: tuple[str, Path, os.stat_result | None]) -> tuple[str, os.stat_result | None, ImageFacts]:
        name, path, st = item
        try:
            data = path.read_bytes()
        except OSError as exc:
            return (
                name,
                None,
                ImageFacts(
                    sha256=hashlib.sha256(name.encode()).hexdigest(),
                    size=0,
                    kind="unreadable",
                    detail=exc.strerror or str(exc),
                ),
            )
        sha = hashlib.sha256(data).hexdigest()
        seen = folder_facts.by_content(sha)
        return name, st, seen if seen is not None else inspect_image(data)

    if todo:
        count = workers if workers is not None else min(4, os.cpu_count() or 1, len(todo))
        if count <= 1:
            outcomes: Iterable[tuple[str, os.stat_result | None, ImageFacts]] = map(work, todo)
            pool = None
        else:
            pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="dataset-doctor")
            outcomes = pool.map(work, todo)
        try:
            for name, st, facts in outcomes:
                result[name] = facts
                if st is not None:
                    folder_facts.remember(name, st, facts)
                done += 1
                if progress is not None:
                    progress(done, total, name)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    folder_facts.save({i.name for i in scan.images})
    return result


def _rules(
    actor: Actor, params: TrainingParameters, scan: TrainingDataScan, facts: dict[str, ImageFacts]
) -> list[Finding]:
    out: list[Finding] = []
    for image in scan.images:
        f = facts.get(image.name)
        if f is not None:
            out.extend(_image_findings(image.name, f, params))
    out.extend(duplicate_findings(scan, facts))
    out.extend(caption_findings(actor, params, scan, facts))
    out.extend(unused_file_findings(scan))
    out.extend(count_findings(params, scan, facts))
    return out


def _image_findings(name: str, f: ImageFacts, params: TrainingParameters) -> list[Finding]:
    def finding(code: str, severity: Severity, message: str, fix: str | None = None) -> Finding:
        return Finding(file=name, code=code, severity=severity, message=message, fix=fix, sha256=f.sha256)

    ext = Path(name).suffix
    if f.kind == "empty":
        return [
            finding(
                "empty_file",
                BLOCKING,
                f"{name} is an empty file (0 bytes): there is no picture in it, and the trainer stops "
                "when it tries to open it. Copy the picture again, or remove the file.",
                FIX_REMOVE,
            )
        ]
    if f.kind == "not_image":
        return [
            finding(
                "not_an_image",
                BLOCKING,
                f"{name} is not a picture: it is {f.detail}, named {ext}. The trainer cannot open it "
                "and the run would fail. Remove it, or export the real picture.",
                FIX_REMOVE,
            )
        ]
    if f.kind == "unreadable":
        return [
            finding(
                "unreadable",
                BLOCKING,
                f"{name} is damaged and cannot be opened ({f.detail}); perhaps a copy that was cut "
                "short. The run would fail on it. Copy it again from the original.",
                FIX_REMOVE,
            )
        ]

    out: list[Finding] = []
    if not trainer_finds(name):
        fixed = Path(name).stem + ext.lower()
        out.append(
            finding(
                "extension_case",
                WARNING,
                f"{name}: the trainer only finds extensions written all in lower case or all in "
                f"upper case ({ext.lower()} or {ext.upper()}), so it skips this picture unless the "
                "worker renames it first (the reference worker does; another may not). "
                f"Rename it to {fixed}.",
                FIX_RENAME,
            )
        )
    width, height = (f.height, f.width) if f.orientation in (5, 6, 7, 8) else (f.width, f.height)
    res = params.resolution
    if width * height < res * res:
        factor = res / (width * height) ** 0.5
        short = min(width, height)
        how = f"about {factor:.1f}× too small" if factor >= 1.15 else f"about {round((factor - 1) * 100)} % too small"
        out.append(
            finding(
                "too_small",
                WARNING,
                f"{name} is {width}×{height} px, smaller than the {res}×{res} px training size "
                f"({how}; its short side is {res - short} px short). The trainer enlarges it, "
                "so it trains blurry. Use a larger original if you have one.",
            )
        )
    ratio = max(width, height) / max(1, min(width, height))
    if ratio > EXTREME_ASPECT:
        shape = "wide" if width > height else "tall"
        out.append(
            finding(
                "extreme_aspect",
                WARNING,
                f"{name} is very {shape} ({width}×{height} px, {ratio:.1f} : 1). In a frame this "
                "shape the face is small and most of the picture is background. Crop it closer "
                "to the person (square or 3:4).",
            )
        )
    if f.orientation != 1:
        out.append(
            finding(
                "exif_rotation",
                WARNING,
                f"{name} is stored {_orientation_words(f.orientation)}, with a note asking viewers "
                "to turn it. Viewers do, the trainer does not: it would learn the picture "
                "that way. Apply the rotation to the pixels.",
                FIX_ROTATE,
            )
        )
    if f.transparent:
        out.append(
            finding(
                "alpha_channel",
                WARNING,
                f"{name} has transparent areas. The trainer drops transparency, and whatever "
                "colour is hidden there (often black) becomes part of the picture. Convert it to "
                "a picture without transparency.",
                FIX_RGB,
            )
        )
    if f.mode == "CMYK":
        out.append(
            finding(
                "cmyk",
                WARNING,
                f"{name} stores its colours for print (CMYK). The trainer converts them for the "
                "screen without a colour profile, so skin tones come out wrong. Convert it to RGB.",
                FIX_RGB,
            )
        )
    if f.bits > 8:
        if f.mode in ("RGB", "RGBA", "P"):
            effect = "the trainer reads 8 bits, so half of this file is uploaded for nothing"
        else:
            effect = "the trainer's conversion to colour turns a 16-bit grey picture almost white"
        out.append(
            finding(
                "high_bit_depth",
                WARNING,
                f"{name} has 16 bits per colour; {effect}. Save it as an ordinary 8-bit picture.",
                FIX_RGB,
            )
        )
    if f.size > HUGE_FILE_BYTES:
        out.append(
            finding(
                "huge_file",
                WARNING,
                f"{name} is {f.size / 1_048_576:.0f} MB. Large files slow every sync and the "
                f"worker's download, and training at {res} px gains nothing from them. Save a "
                "smaller copy (a few MB is plenty).",
            )
        )
    return out


def _orientation_words(orientation: int) -> str:
    return {
        2: "mirrored",
        3: "upside down",
        4: "upside down and mirrored",
        5: "turned on its side and mirrored",
        6: "turned on its side (it needs a quarter turn clockwise)",
        7: "turned on its side and mirrored",
        8: "turned on its side (it needs a quarter turn anticlockwise)",
    }.get(orientation, "turned")
