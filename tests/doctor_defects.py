"""A library with planted dataset defects (for the dataset doctor's tests).

Actor 0 gets the demo library's pictures of actor 0000 (real, varied portraits with captions), then
one of each defect below; `PLANTED` lists every (file, code) the doctor must report, and nothing
else may be reported. Actor 1 gets the demo's actor 0004 (no captions).
"""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

from PIL import Image

from tests.library_factory import make_library

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "data"
TRIGGER = "0000_european_16_male"  # actor 0's name in make_library: the default trigger

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)

PLANTED: set[tuple[str | None, str]] = {
    ("copy of 0000_01.png", "duplicate"),
    ("0000_04 resaved.jpg", "near_duplicate"),
    ("empty.png", "empty_file"),
    ("notes.png", "not_an_image"),
    ("tiny.png", "too_small"),
    ("print.jpg", "cmyk"),
    ("sideways.jpg", "exif_rotation"),
    ("0000_02.jpg", "caption_missing"),
    ("0000_03.txt", "caption_empty"),  # 0 bytes: the trainer stops on it (blocking)
    ("0000_05.txt", "caption_empty"),  # blank line only (warning)
    ("0000_06.txt", "caption_no_trigger"),
    ("0000_07.Jpg", "extension_case"),
}
BLOCKING = {("empty.png", "empty_file"), ("notes.png", "not_an_image"), ("0000_03.txt", "caption_empty")}


def _caption(folder: Path, stem: str) -> None:
    (folder / f"{stem}.txt").write_text(f"{TRIGGER}, a test picture", encoding="utf-8")


def _pattern(size: tuple[int, int], seed: int) -> Image.Image:
    """A picture unlike any other in the set (random blocks of colour, scaled up smoothly)."""
    rng = random.Random(seed)
    small = Image.new("RGB", (6, 6))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(36)])
    return small.resize(size, Image.Resampling.BICUBIC)


def plant_defects(root: Path) -> Path:
    lib = make_library(root, images={0: 0, 1: 0})
    folder = lib / "actors" / "0000" / "training_data"
    for source in sorted((DEMO / "actors" / "0000" / "training_data").iterdir()):
        shutil.copy2(source, folder / source.name)
    other = lib / "actors" / "0001" / "training_data"
    for source in sorted((DEMO / "actors" / "0004" / "training_data").iterdir()):
        shutil.copy2(source, other / source.name)

    # Exact duplicate (same bytes, another name) and a near-duplicate (resized, re-saved as JPEG).
    shutil.copyfile(folder / "0000_01.png", folder / "copy of 0000_01.png")
    _caption(folder, "copy of 0000_01")
    with Image.open(folder / "0000_04.png") as im:
        # cropped by 4 px, scaled back to 512 and saved as a JPEG: the same picture, a smaller file
        im.convert("RGB").crop((4, 4, 508, 508)).resize((512, 512), Image.Resampling.LANCZOS).save(
            folder / "0000_04 resaved.jpg", quality=82
        )
    _caption(folder, "0000_04 resaved")
    # Not pictures at all: an empty file and a PDF renamed to .png.
    (folder / "empty.png").write_bytes(b"")
    _caption(folder, "empty")
    (folder / "notes.png").write_bytes(PDF_BYTES)
    _caption(folder, "notes")
    # A 200-px picture, a CMYK JPEG, a JPEG stored sideways with EXIF orientation 6.
    _pattern((200, 200), 1).save(folder / "tiny.png")
    _caption(folder, "tiny")
    _pattern((512, 512), 2).convert("CMYK").save(folder / "print.jpg", quality=90)
    _caption(folder, "print")
    exif = Image.Exif()
    exif[0x0112] = 6
    _pattern((640, 480), 3).save(folder / "sideways.jpg", quality=90, exif=exif)
    _caption(folder, "sideways")
    # Captions: one missing, one empty (0 bytes), one blank, one without the trigger word.
    (folder / "0000_02.txt").unlink()
    (folder / "0000_03.txt").write_bytes(b"")
    (folder / "0000_05.txt").write_text("\n", encoding="utf-8")
    (folder / "0000_06.txt").write_text("a portrait of a teenage boy in a green hoodie", encoding="utf-8")
    # A mixed-case extension the trainer skips (its caption stays).
    (folder / "0000_07.jpg").rename(folder / "0000_07.Jpg")
    return lib


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
