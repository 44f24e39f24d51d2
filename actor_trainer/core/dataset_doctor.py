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
worker may not, so a mixed-case extension stays a warning), reads captions as UTF-8 and stops on an empty caption file, uses only the
first line of a caption, uses the trigger (class tokens) for a picture without caption, opens
pictures with Pillow and converts them to RGB without applying EXIF rotation, and resizes each
picture to a bucket of about resolution² pixels (so a smaller picture is enlarged).

Per-picture facts are cached by content (core/dataset_doctor_facts.py); the rules here are cheap.
No Qt: the GUI runs `check_actor` in a worker thread with a progress callback.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from actor_trainer.core.auto_adjust import CURATE_RANGE, steps_fit
from actor_trainer.core.dataset_doctor_facts import FactsCache, ImageFacts, inspect_image
from actor_trainer.core.dataset_doctor_hash import colour_distance, hamming, near_duplicates
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.library import CAPTION_SUFFIX, IMAGE_SUFFIXES, Library, TrainingDataScan
from actor_trainer.core.models import Actor, TrainingParameters, utc_now
from actor_trainer.core.preflight import TrainingValidationError
from actor_trainer.core.settings import cache_dir

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
        return {"file": self.file, "code": self.code, "severity": self.severity, "message": self.message,
                "fix": self.fix}


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
    dismissals = _dismissal_keys(actor)
    standing = [f for f in findings if not _is_dismissed(f, dismissals)]
    dismissed = [f for f in findings if _is_dismissed(f, dismissals)]
    standing.sort(key=lambda f: (not f.blocking, f.file is not None, f.file or "", f.code))
    return DoctorReport(
        actor_id=actor.id,
        actor_name=actor.name,
        params=params,
        image_count=scan.image_count,
        usable_count=_usable_count(scan, facts),
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
            return name, None, ImageFacts(sha256=hashlib.sha256(name.encode()).hexdigest(), size=0,
                                          kind="unreadable", detail=exc.strerror or str(exc))
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


def _trainer_finds(name: str) -> bool:
    return Path(name).suffix in TRAINER_IMAGE_SUFFIXES


def _usable_names(scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> list[str]:
    """Image files the trainer will find and can open, one per distinct content, in name order."""
    seen: set[str] = set()
    names: list[str] = []
    for image in scan.images:
        f = facts.get(image.name)
        if f is None or not f.is_image or not _trainer_finds(image.name) or f.sha256 in seen:
            continue
        seen.add(f.sha256)
        names.append(image.name)
    return names


def _usable_count(scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> int:
    return len(_usable_names(scan, facts))


def _rules(
    actor: Actor, params: TrainingParameters, scan: TrainingDataScan, facts: dict[str, ImageFacts]
) -> list[Finding]:
    out: list[Finding] = []
    for image in scan.images:
        f = facts.get(image.name)
        if f is not None:
            out.extend(_image_findings(image.name, f, params))
    out.extend(_duplicate_findings(scan, facts))
    out.extend(_caption_findings(actor, params, scan, facts))
    out.extend(_unused_file_findings(scan))
    out.extend(_count_findings(params, scan, facts))
    return out


def _image_findings(name: str, f: ImageFacts, params: TrainingParameters) -> list[Finding]:
    def finding(code: str, severity: Severity, message: str, fix: str | None = None) -> Finding:
        return Finding(file=name, code=code, severity=severity, message=message, fix=fix, sha256=f.sha256)

    ext = Path(name).suffix
    if f.kind == "empty":
        return [finding("empty_file", BLOCKING,
                        f"{name} is an empty file (0 bytes): there is no picture in it, and the trainer stops "
                        "when it tries to open it. Copy the picture again, or remove the file.", FIX_REMOVE)]
    if f.kind == "not_image":
        return [finding("not_an_image", BLOCKING,
                        f"{name} is not a picture: it is {f.detail}, named {ext}. The trainer cannot open it "
                        "and the run would fail. Remove it, or export the real picture.", FIX_REMOVE)]
    if f.kind == "unreadable":
        return [finding("unreadable", BLOCKING,
                        f"{name} is damaged and cannot be opened ({f.detail}); perhaps a copy that was cut "
                        "short. The run would fail on it. Copy it again from the original.", FIX_REMOVE)]

    out: list[Finding] = []
    if not _trainer_finds(name):
        fixed = Path(name).stem + ext.lower()
        out.append(finding("extension_case", WARNING,
                           f"{name}: the trainer only finds extensions written all in lower case or all in "
                           f"upper case ({ext.lower()} or {ext.upper()}), so it skips this picture unless the "
                           "worker renames it first (the reference worker does; another may not). "
                           f"Rename it to {fixed}.", FIX_RENAME))
    width, height = (f.height, f.width) if f.orientation in (5, 6, 7, 8) else (f.width, f.height)
    res = params.resolution
    if width * height < res * res:
        factor = res / (width * height) ** 0.5
        short = min(width, height)
        how = (f"about {factor:.1f}× too small" if factor >= 1.15
               else f"about {round((factor - 1) * 100)} % too small")
        out.append(finding("too_small", WARNING,
                           f"{name} is {width}×{height} px, smaller than the {res}×{res} px training size "
                           f"({how}; its short side is {res - short} px short). The trainer enlarges it, "
                           "so it trains blurry. Use a larger original if you have one."))
    ratio = max(width, height) / max(1, min(width, height))
    if ratio > EXTREME_ASPECT:
        shape = "wide" if width > height else "tall"
        out.append(finding("extreme_aspect", WARNING,
                           f"{name} is very {shape} ({width}×{height} px, {ratio:.1f} : 1). In a frame this "
                           "shape the face is small and most of the picture is background. Crop it closer "
                           "to the person (square or 3:4)."))
    if f.orientation != 1:
        out.append(finding("exif_rotation", WARNING,
                           f"{name} is stored {_orientation_words(f.orientation)}, with a note asking viewers "
                           "to turn it. Viewers do, the trainer does not: it would learn the picture "
                           "that way. Apply the rotation to the pixels.", FIX_ROTATE))
    if f.transparent:
        out.append(finding("alpha_channel", WARNING,
                           f"{name} has transparent areas. The trainer drops transparency, and whatever "
                           "colour is hidden there (often black) becomes part of the picture. Convert it to "
                           "a picture without transparency.", FIX_RGB))
    if f.mode == "CMYK":
        out.append(finding("cmyk", WARNING,
                           f"{name} stores its colours for print (CMYK). The trainer converts them for the "
                           "screen without a colour profile, so skin tones come out wrong. Convert it to RGB.",
                           FIX_RGB))
    if f.bits > 8:
        if f.mode in ("RGB", "RGBA", "P"):
            effect = "the trainer reads 8 bits, so half of this file is uploaded for nothing"
        else:
            effect = "the trainer's conversion to colour turns a 16-bit grey picture almost white"
        out.append(finding("high_bit_depth", WARNING,
                           f"{name} has 16 bits per colour; {effect}. Save it as an ordinary 8-bit picture.",
                           FIX_RGB))
    if f.size > HUGE_FILE_BYTES:
        out.append(finding("huge_file", WARNING,
                           f"{name} is {f.size / 1_048_576:.0f} MB. Large files slow every sync and the "
                           f"worker's download, and training at {res} px gains nothing from them. Save a "
                           "smaller copy (a few MB is plenty)."))
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


def _duplicate_findings(scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> list[Finding]:
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
            out.append(Finding(
                file=image.name, code="duplicate", severity=WARNING, fix=FIX_REMOVE, sha256=f.sha256,
                message=f"{image.name} is the same file as {earlier}, byte for byte: the picture would be "
                        "trained twice as often as the others. Remove one of them.",
            ))
            continue
        first_by_sha[f.sha256] = image.name
        distinct.append((image.name, f))
    distinct.sort(key=lambda item: (-item[1].width * item[1].height, -item[1].size, item[0]))
    kept: list[tuple[str, ImageFacts]] = []
    for name, f in distinct:
        thumb = f.thumb_bytes
        match = next(((other_name, other) for other_name, other in kept
                      if near_duplicates(f.dhash, thumb, other.dhash, other.thumb_bytes)), None)
        if match is None:
            kept.append((name, f))
            continue
        other_name, other = match
        bits = hamming(f.dhash, other.dhash)
        colour = colour_distance(thumb, other.thumb_bytes)
        out.append(Finding(
            file=name, code="near_duplicate", severity=WARNING, fix=FIX_REMOVE, sha256=f.sha256,
            message=f"{name} is almost the same picture as {other_name} (a resized, re-saved or slightly "
                    f"edited copy: {bits} of 64 hash bits and {colour:.1f} colour levels apart). Near-copies "
                    f"teach the same picture twice; {other_name} is the larger one to keep.",
        ))
    return out


def _caption_findings(
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
                out.append(Finding(
                    file=image.name, code="caption_missing", severity=WARNING, sha256=image_sha,
                    message=f"{image.name} has no caption ({stem}.txt), while {with_caption} other "
                            f"picture(s) have one. It trains with just the trigger word “{trigger}”. "
                            "Write a caption for it, or remove the others' for a consistent set.",
                ))
            continue
        out.extend(_one_caption(caption.name, caption.path, trigger))
    return out


def _one_caption(name: str, path: Path, trigger: str) -> list[Finding]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [Finding(file=name, code="caption_unreadable", severity=BLOCKING,
                        message=f"{name} cannot be read ({exc.strerror or exc}); the trainer would stop on it.")]
    sha = hashlib.sha256(raw).hexdigest()

    def finding(code: str, severity: Severity, message: str) -> Finding:
        return Finding(file=name, code=code, severity=severity, message=message, sha256=sha)

    if not raw:
        return [finding("caption_empty", BLOCKING,
                        f"{name} is an empty caption file (0 bytes): the trainer stops on it with “caption "
                        "file is empty”. Write a caption, or remove the file to train with the trigger word.")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [finding("caption_unreadable", BLOCKING,
                        f"{name} is not saved as UTF-8 text (it has characters in another encoding); the "
                        "trainer stops on it. Save it again as UTF-8.")]
    lines = text.splitlines()
    used = lines[0].strip().lstrip("\ufeff").strip() if lines else ""
    if not used:
        later = any(line.strip() for line in lines[1:])
        detail = ("its first line is blank and the trainer reads only the first line"
                  if later else "it holds no words")
        return [finding("caption_empty", WARNING,
                        f"{name} is blank ({detail}): the picture trains without any words, not even the "
                        f"trigger word “{trigger}”. Write a caption, or remove the file.")]
    if trigger.lower() not in used.lower():
        elsewhere = trigger.lower() in text.lower()
        where = (" (it appears on a later line, but the trainer reads only the first)" if elsewhere else "")
        return [finding("caption_no_trigger", WARNING,
                        f"{name} never says the trigger word “{trigger}”{where}, so this picture does not "
                        "teach the model that the trigger means this person. Add it to the caption.")]
    return []


def _unused_file_findings(scan: TrainingDataScan) -> list[Finding]:
    out: list[Finding] = []
    for path in scan.unsupported:
        name = path.name
        if path.suffix.lower() == CAPTION_SUFFIX:
            message = (f"{name} is a caption without a picture of the same name: it is not uploaded or used. "
                       "Rename it to match its picture, or remove it.")
        else:
            message = (f"{name} is not a PNG, JPEG or WebP picture: it is not uploaded or trained on. Keep notes "
                       "outside the training folder.")
        out.append(Finding(file=name, code="unused_file", severity=WARNING, message=message))
    for caption in scan.captions:
        if Path(caption.name).suffix != CAPTION_SUFFIX:
            out.append(Finding(
                file=caption.name, code="extension_case", severity=WARNING, fix=FIX_RENAME,
                message=f"{caption.name}: the trainer looks for captions ending in exactly {CAPTION_SUFFIX} and "
                        "misses this one unless the worker renames it first (the reference worker does; another "
                        f"may not). Rename it to {Path(caption.name).stem}{CAPTION_SUFFIX}.",
            ))
    return out


def _count_findings(params: TrainingParameters, scan: TrainingDataScan, facts: dict[str, ImageFacts]) -> list[Finding]:
    usable = _usable_count(scan, facts)
    if usable < MIN_TRAINABLE_IMAGES:
        if scan.image_count == 0:
            what = "There are no training pictures"
        elif usable == scan.image_count:
            what = f"Only {usable} picture(s)"
        else:
            what = f"Only {usable} of the {scan.image_count} picture(s) can be trained on"
        return [Finding(file=None, code="too_few_images", severity=BLOCKING,
                        message=f"{what}: a likeness needs at least {MIN_TRAINABLE_IMAGES} (better 15–30 varied "
                                "ones); with fewer the model only copies them. Add pictures to the training "
                                "folder.")]
    out: list[Finding] = []
    fit = steps_fit(usable, params.max_train_steps, params.batch_size)
    per_image = fit.images_seen / usable
    steps = params.max_train_steps
    if fit.verdict == "too_few_images":
        out.append(Finding(file=None, code="too_few_images_for_steps", severity=WARNING,
                           message=f"{usable} pictures are few for {steps} steps: each is seen about "
                                   f"{per_image:.0f} times, and the model starts to copy them. Auto-adjust "
                                   f"proposes {fit.recommended} steps for {fit.tier}; lower the steps or add "
                                   "pictures."))
    elif fit.verdict == "too_many_images":
        out.append(Finding(file=None, code="too_many_images_for_steps", severity=WARNING,
                           message=f"{usable} pictures are many for {steps} steps: each is seen only about "
                                   f"{per_image:.0f} times, too rarely to be learned. Auto-adjust proposes "
                                   f"{fit.recommended} steps for {fit.tier}; raise the steps."))
    if usable > CURATE_RANGE[1]:
        out.append(Finding(file=None, code="too_many_images", severity=WARNING,
                           message=f"{usable} pictures is more than training needs: choose the best "
                                   f"{CURATE_RANGE[0]}–{CURATE_RANGE[1]} (varied angles, light and expressions)."))
    return out


# --- dismissals ---------------------------------------------------------------------------------


class DismissRefusedError(ActorTrainerError):
    pass


def _dismissal_keys(actor: Actor) -> set[tuple[str, str, str | None]]:
    raw = (actor.model_extra or {}).get(DISMISSED_FIELD)
    keys: set[tuple[str, str, str | None]] = set()
    if not isinstance(raw, list):
        return keys
    for entry in raw:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("code"), str):
            sha = entry.get("sha256")
            keys.add((entry["file"], entry["code"], sha if isinstance(sha, str) else None))
    return keys


def _is_dismissed(finding: Finding, keys: set[tuple[str, str, str | None]]) -> bool:
    if not finding.dismissable or finding.file is None:
        return False
    return (finding.file, finding.code, finding.sha256) in keys or (finding.file, finding.code, None) in keys


def dismiss(library: Library, actor_id: int, finding: Finding) -> Actor:
    """Remember that the user accepts this warning about this file (as it is now)."""
    if not finding.dismissable or finding.file is None:
        raise DismissRefusedError(
            f"{finding.code} cannot be dismissed: " + ("it blocks training." if finding.blocking
                                                      else "it is about the whole set, not one file."),
            "Fix it instead; a blocking problem can only be overridden for one run (--force).",
        )
    entry = {"file": finding.file, "code": finding.code, "sha256": finding.sha256, "at": utc_now().isoformat()}

    def change(actor: Actor) -> None:
        current = [e for e in _raw_dismissals(actor)
                   if not (e.get("file") == finding.file and e.get("code") == finding.code)]
        setattr(actor, DISMISSED_FIELD, [*current, entry])

    saved, _ = library.update_actor(actor_id, change)
    return saved


def undismiss(library: Library, actor_id: int, file: str, code: str) -> bool:
    """Forget a dismissal; True when there was one."""

    def change(actor: Actor) -> bool:
        current = _raw_dismissals(actor)
        kept = [e for e in current if not (e.get("file") == file and e.get("code") == code)]
        if len(kept) == len(current):
            return False
        setattr(actor, DISMISSED_FIELD, kept)
        return True

    _, removed = library.update_actor(actor_id, change)
    return removed


def _raw_dismissals(actor: Actor) -> list[dict[str, Any]]:
    raw = (actor.model_extra or {}).get(DISMISSED_FIELD)
    return [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []


# --- before a run -------------------------------------------------------------------------------


class DatasetBlockedError(TrainingValidationError):
    """The doctor found problems that make the run fail or train on garbage; nothing was sent."""

    code = "dataset_blocked"

    def __init__(self, report: DoctorReport) -> None:
        lines = "; ".join(f"{f.file or 'the set'}: {f.code}" for f in report.blocking)
        super().__init__(
            f"{report.actor_name}'s training data has {len(report.blocking)} problem(s) that block training "
            f"({lines}).",
            f"See `actor-trainer doctor {report.actor_id}` for what each one means and how to fix it; "
            "--force starts anyway (recorded in the version).",
        )
        self.report = report


#: The version field that records what a run was started despite (`--force`), one dict per reason.
FORCED_FIELD = "forced"


def forced_reasons(report: DoctorReport) -> list[dict[str, Any]]:
    """What `--force` overrode, as recorded in the version."""
    return [
        {"check": "dataset_doctor", "code": f.code, "file": f.file, "message": f.message}
        for f in report.blocking
    ]


def record_forced(library: Library, actor_id: int, version_ref: str, reasons: list[dict[str, Any]]) -> None:
    """Append `reasons` to the version's `forced` list (other checks may have added theirs)."""
    if not reasons:
        return

    def change(version: Any) -> None:
        existing = (version.model_extra or {}).get(FORCED_FIELD)
        current = list(existing) if isinstance(existing, list) else []
        setattr(version, FORCED_FIELD, [*current, *(r for r in reasons if r not in current)])

    library.update_version(actor_id, version_ref, change)
