"""What one training file *is*: decoded once, remembered by content.

`inspect_image(data)` opens the bytes with Pillow and records what the dataset doctor's rules need
(format, size, colour mode, bit depth, transparency, EXIF orientation, the near-duplicate hash). It
knows nothing of file names, parameters or captions, so its result depends on the content alone and
is cached by the content's SHA-256.

`FactsCache` keeps those results in the per-user cache folder, one small JSON file per training
folder: a file whose size and modification time are unchanged is not read again at all; a file
that changed is read and hashed, and decoded only if that content was never seen. Losing the cache
costs time, never correctness (it is rebuilt; a damaged one is ignored).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.dataset_doctor_hash import colour_thumb, dhash

log = logging.getLogger(__name__)

#: Bump when ImageFacts or inspect_image change meaning: older cache files are then ignored.
FACTS_VERSION = 1
#: JPEGs are decoded at a reduced scale (libjpeg's DCT scaling): the hash needs 9×8 pixels.
DRAFT_SIZE = (64, 64)
EXIF_ORIENTATION = 0x0112
HIGH_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})

# EXIF orientation → the transposition that shows the picture upright (as viewers do).
_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


@dataclass(frozen=True)
class ImageFacts:
    """What is in one file, by content (never by name)."""

    sha256: str
    size: int
    kind: str  # "image" | "empty" | "not_image" | "unreadable"
    detail: str = ""  # for not_image: what it really is; for unreadable: the decoder's complaint
    format: str = ""  # Pillow's name: PNG, JPEG, WEBP, GIF…
    width: int = 0
    height: int = 0
    mode: str = ""  # Pillow mode: RGB, RGBA, CMYK, L, P, I;16…
    bits: int = 8  # bits per channel
    transparent: bool = False  # an alpha channel (or transparent colour) that is actually used
    orientation: int = 1  # EXIF orientation; 1 = stored upright
    dhash: int = 0
    thumb: str = ""  # 8×8 RGB thumbnail, hex

    @property
    def is_image(self) -> bool:
        return self.kind == "image"

    @property
    def thumb_bytes(self) -> bytes:
        return bytes.fromhex(self.thumb)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dhash"] = f"{self.dhash:016x}"
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageFacts:
        values = dict(data)
        values["dhash"] = int(str(values.get("dhash", "0")), 16)
        return cls(**values)


def inspect_image(data: bytes) -> ImageFacts:
    """Everything the rules need from one file's bytes. Never raises for bad content."""
    sha = hashlib.sha256(data).hexdigest()
    size = len(data)
    if size == 0:
        return ImageFacts(sha256=sha, size=0, kind="empty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            return ImageFacts(sha256=sha, size=size, kind="not_image", detail=what_it_is(data))
        except Image.DecompressionBombError as exc:
            return ImageFacts(sha256=sha, size=size, kind="unreadable", detail=f"far too many pixels ({exc})")
        except (OSError, ValueError, SyntaxError) as exc:
            return ImageFacts(sha256=sha, size=size, kind="unreadable", detail=str(exc) or type(exc).__name__)
        try:
            return _decode(image, data, sha)
        except Image.DecompressionBombError as exc:
            return ImageFacts(sha256=sha, size=size, kind="unreadable", detail=f"far too many pixels ({exc})")
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
            return ImageFacts(
                sha256=sha,
                size=size,
                kind="unreadable",
                format=image.format or "",
                width=image.width,
                height=image.height,
                mode=image.mode,
                detail=str(exc) or type(exc).__name__,
            )
        finally:
            image.close()


def _decode(image: Image.Image, data: bytes, sha: str) -> ImageFacts:
    fmt = image.format or ""
    width, height = image.size
    mode = image.mode
    orientation = _orientation(image)
    bits = 16 if mode in HIGH_BIT_MODES or _png_bit_depth(data) == 16 else 8
    has_tns = "transparency" in image.info
    if fmt == "JPEG":
        image.draft(mode if mode in ("L", "CMYK") else "RGB", DRAFT_SIZE)
    image.load()  # a truncated or corrupt file fails here
    transparent = False
    if "A" in image.getbands():
        alpha = image.getchannel("A").getextrema()
        transparent = isinstance(alpha, tuple) and alpha[0] < 255  # type: ignore[operator]
    elif has_tns:
        transparent = True
    work = image
    if work.mode in HIGH_BIT_MODES:
        work = work.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    factor = min(work.width, work.height) // 64  # shrink first: cheaper than converting every pixel
    if factor > 1:
        try:
            work = work.reduce(factor)
        except ValueError:  # a mode reduce() does not take (palette…): convert, then shrink
            work = work.convert("RGB").reduce(factor)
    rgb = work if work.mode == "RGB" else work.convert("RGB")
    for step in _TRANSPOSE.get(orientation, ()):
        rgb = rgb.transpose(step)
    return ImageFacts(
        sha256=sha,
        size=len(data),
        kind="image",
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        bits=bits,
        transparent=transparent,
        orientation=orientation,
        dhash=dhash(rgb),
        thumb=colour_thumb(rgb).hex(),
    )


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block must not make the picture unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _png_bit_depth(data: bytes) -> int | None:
    """The bit depth in a PNG's header (Pillow opens 16-bit colour PNGs as 8-bit RGB)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) > 24:
        return data[24]
    return None


_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive (perhaps a Word or other Office document)"),
    (0, b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
    (0, b"8BPS", "a Photoshop document"),
    (4, b"ftypheic", "an iPhone HEIC photo, which the trainer cannot read"),
    (4, b"ftypheix", "an iPhone HEIC photo, which the trainer cannot read"),
    (4, b"ftypmif1", "a HEIF photo, which the trainer cannot read"),
    (4, b"ftypavif", "an AVIF picture, which the trainer cannot read"),
    (4, b"ftyp", "a video or other MP4-family file"),
    (0, b"II*\x00", "a TIFF picture"),
    (0, b"MM\x00*", "a TIFF picture"),
    (0, b"\x1f\x8b", "a compressed (gzip) file"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"7z\xbc\xaf", "a 7-Zip archive"),
)


def what_it_is(data: bytes) -> str:
    """A plain-words guess at what a file that is not a picture really is."""
    for offset, magic, words in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return words
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML), perhaps saved from a browser instead of the picture"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048]):
        return "an SVG drawing, which the trainer cannot read"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "not a picture format the trainer can read"
    return "a text file"


# --- the cache ----------------------------------------------------------------------------------


class FactsCache:
    """Per-folder JSON files of {name: [size, mtime_ns, sha256]} and {sha256: facts}."""

    def __init__(self, root: Path | None) -> None:
        """`root` None: no cache at all (every file is read and decoded)."""
        self.root = root

    def _file_for(self, folder: Path) -> Path | None:
        if self.root is None:
            return None
        key = hashlib.sha256(str(folder.resolve()).encode("utf-8")).hexdigest()[:24]
        return self.root / f"{key}.json"

    def load(self, folder: Path) -> FolderFacts:
        path = self._file_for(folder)
        stats: dict[str, tuple[int, int, str]] = {}
        facts: dict[str, ImageFacts] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and data.get("version") == FACTS_VERSION:
                    for name, entry in data.get("files", {}).items():
                        size, mtime, sha = entry
                        stats[str(name)] = (int(size), int(mtime), str(sha))
                    for sha, entry in data.get("facts", {}).items():
                        facts[str(sha)] = ImageFacts.from_json(entry)
            except FileNotFoundError:
                pass
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.info("dataset doctor cache %s ignored (%s); it is rebuilt", path, exc)
                stats, facts = {}, {}
        return FolderFacts(folder=folder, path=path, stats=stats, facts=facts)


@dataclass
class FolderFacts:
    folder: Path
    path: Path | None
    stats: dict[str, tuple[int, int, str]]
    facts: dict[str, ImageFacts]
    changed: bool = False

    def lookup(self, name: str, st: os.stat_result) -> ImageFacts | None:
        """The facts of an unchanged file (same size and modification time), without reading it."""
        known = self.stats.get(name)
        if known is None or known[0] != st.st_size or known[1] != st.st_mtime_ns:
            return None
        return self.facts.get(known[2])

    def by_content(self, sha: str) -> ImageFacts | None:
        return self.facts.get(sha)

    def remember(self, name: str, st: os.stat_result, facts: ImageFacts) -> None:
        self.stats[name] = (st.st_size, st.st_mtime_ns, facts.sha256)
        self.facts[facts.sha256] = facts
        self.changed = True

    def save(self, present: set[str]) -> None:
        """Write what is known about the files still `present` (others are forgotten)."""
        if self.path is None:
            return
        stale = set(self.stats) - present
        if not self.changed and not stale:
            return
        for name in stale:
            del self.stats[name]
        used = {sha for _, _, sha in self.stats.values()}
        document = {
            "version": FACTS_VERSION,
            "folder": str(self.folder),
            "files": {name: list(entry) for name, entry in sorted(self.stats.items())},
            "facts": {sha: f.to_json() for sha, f in self.facts.items() if sha in used},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, document)
        except OSError as exc:  # a cache that cannot be written only costs time next run
            log.warning("could not write the dataset doctor cache %s: %s", self.path, exc)
