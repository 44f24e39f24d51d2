"""Fixes the app can make for the dataset doctor's findings. A fix never destroys the original.

Before a file is changed, removed or renamed for good, the original goes to
`actors/NNNN/training_data_originals/` (beside the training data, outside what is synced and
trained on). Fixed pictures keep their name and format, so their captions still pair with them;
they are written atomically.

- apply_exif_rotation: turn the pixels as the EXIF note says, and drop the note.
- convert_to_rgb: transparency flattened onto white, CMYK and 16-bit converted to 8-bit RGB (CMYK
  through its embedded colour profile when it has one).
- remove_from_training: the file (and, for a picture, its caption) moves to the originals folder.
- rename_extension: the extension in lower case (nothing is lost, so nothing is kept).
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from actor_trainer.core.atomic import atomic_write_bytes
from actor_trainer.core.dataset_doctor import FIX_REMOVE, FIX_RENAME, FIX_RGB, FIX_ROTATE, Finding
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.library import CAPTION_SUFFIX, Library

ORIGINALS_FOLDER = "training_data_originals"


class FixError(ActorTrainerError):
    """A fix could not be made; the training folder was left as it was."""


@dataclass(frozen=True)
class FixResult:
    file: str
    action: str
    message: str  # what was done, in plain words
    kept: tuple[Path, ...]  # where the originals went


def originals_folder(library: Library, actor_id: int) -> Path:
    return library.actor_folder(actor_id) / ORIGINALS_FOLDER


def apply_fix(library: Library, actor_id: int, finding: Finding) -> FixResult:
    """Make the fix `finding.fix` to `finding.file`. Raises FixError when it cannot."""
    if finding.fix is None or finding.file is None:
        raise FixError(f"There is no automatic fix for {finding.code}.", "Fix it by hand in the training folder.")
    folder = library.training_data_folder(actor_id)
    path = folder / finding.file
    if not path.is_file():
        raise FixError(f"{finding.file} is no longer in the training folder.", "Check the folder again.")
    with library.locked():
        if finding.fix == FIX_REMOVE:
            return _remove(library, actor_id, path)
        if finding.fix == FIX_RENAME:
            return _rename(path)
        if finding.fix in (FIX_ROTATE, FIX_RGB):
            return _rewrite(library, actor_id, path, finding.fix)
    raise FixError(f"Unknown fix {finding.fix!r}.")


def _keep(library: Library, actor_id: int, path: Path, *, move: bool) -> Path:
    target_dir = originals_folder(library, actor_id)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    n = 2
    while target.exists():
        target = target_dir / f"{path.stem} ({n}){path.suffix}"
        n += 1
    if move:
        shutil.move(path, target)
    else:
        shutil.copy2(path, target)
    return target


def _remove(library: Library, actor_id: int, path: Path) -> FixResult:
    kept = [_keep(library, actor_id, path, move=True)]
    caption = path.with_suffix(CAPTION_SUFFIX)
    if path.suffix.lower() != CAPTION_SUFFIX and caption.is_file():
        kept.append(_keep(library, actor_id, caption, move=True))
    return FixResult(
        path.name, FIX_REMOVE, f"{path.name} was taken out of training; it is kept in {ORIGINALS_FOLDER}/.", tuple(kept)
    )


def _rename(path: Path) -> FixResult:
    target = path.with_name(path.stem + path.suffix.lower())
    if target == path:
        return FixResult(path.name, FIX_RENAME, f"{path.name} already has a lower-case extension.", ())
    if any(p.name == target.name for p in path.parent.iterdir()):
        raise FixError(
            f"{target.name} already exists, so {path.name} cannot be renamed to it.",
            "Rename or remove one of the two by hand.",
        )
    path.rename(target)
    return FixResult(path.name, FIX_RENAME, f"{path.name} was renamed to {target.name}.", ())


def _rewrite(library: Library, actor_id: int, path: Path, fix: str) -> FixResult:
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as source:
            fmt = source.format or "PNG"
            icc = source.info.get("icc_profile")
            source.load()
            image: Image.Image = source.copy()
            if fix == FIX_ROTATE:
                image = ImageOps.exif_transpose(source) or image
                done = "turned upright"
            else:
                image, icc = _to_rgb(image, icc)
                done = "converted to 8-bit RGB"
    except (OSError, ValueError) as exc:
        raise FixError(f"{path.name} could not be opened to fix it: {exc}.") from exc
    out = io.BytesIO()
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if fix == FIX_ROTATE:
        exif = image.getexif()
        exif.pop(0x0112, None)
        options["exif"] = exif.tobytes()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=95, **options)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=95, **options)
    else:
        image.save(out, "PNG", **options)
    kept = _keep(library, actor_id, path, move=False)
    atomic_write_bytes(path, out.getvalue())
    return FixResult(path.name, fix, f"{path.name} was {done}; the original is kept in {ORIGINALS_FOLDER}/.", (kept,))


def _to_rgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image.mode == "CMYK":
        converted = _cmyk_with_profile(image, icc)
        if converted is not None:
            return converted, None  # now sRGB: the print profile no longer applies
        return image.convert("RGB"), None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), icc
    return image.convert("RGB"), icc


def _cmyk_with_profile(image: Image.Image, icc: bytes | None) -> Image.Image | None:
    if not icc:
        return None
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
    except Exception:  # no littlecms, or a broken profile: the plain conversion follows
        return None
