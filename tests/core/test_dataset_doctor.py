"""The dataset doctor: every planted defect found and nothing else, the demo never blocked, the
near-duplicate threshold, the content cache, dismissals kept in the library, `forced` in versions."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from actor_trainer.core import dataset_doctor
from actor_trainer.core.auto_adjust import auto_adjust, steps_fit
from actor_trainer.core.dataset_doctor import (
    BLOCKING,
    DISMISSED_FIELD,
    MIN_TRAINABLE_IMAGES,
    WARNING,
    DismissRefusedError,
    assumed_parameters,
    check_actor,
    default_cache,
    dismiss,
    record_forced,
    undismiss,
)
from actor_trainer.core.dataset_doctor_facts import FactsCache, inspect_image
from actor_trainer.core.dataset_doctor_hash import NEAR_DUPLICATE_BITS, hamming, near_duplicates
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingParameters
from tests.doctor_defects import BLOCKING as PLANTED_BLOCKING
from tests.doctor_defects import DEMO, PLANTED, TRIGGER, _pattern, plant_defects
from tests.library_factory import completed_version, make_library

DEFAULTS = TrainingParameters()


def _check(lib: Path, actor_id: int = 0, params: TrainingParameters = DEFAULTS) -> dataset_doctor.DoctorReport:
    library = Library(lib)
    return check_actor(library, library.get_actor(actor_id), params)


def _codes(report: dataset_doctor.DoctorReport) -> set[tuple[str | None, str]]:
    return {(f.file, f.code) for f in report.findings}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return plant_defects(tmp_path / "lib")


@pytest.fixture
def folder_lib(tmp_path: Path) -> tuple[Path, Path]:
    """A library whose actor 0 has three distinct, clean, captioned 512-px pictures."""
    lib = make_library(tmp_path / "lib", images={0: 0, 1: 0})
    folder = lib / "actors" / "0000" / "training_data"
    for seed in range(3):
        _pattern((512, 512), 100 + seed).save(folder / f"clean_{seed}.png")
        (folder / f"clean_{seed}.txt").write_text(f"{TRIGGER}, clean", encoding="utf-8")
    return lib, folder


# --- the planted library ------------------------------------------------------------------------


def test_every_planted_defect_is_found_and_nothing_else(planted: Path) -> None:
    report = _check(planted)
    assert _codes(report) == PLANTED
    assert {(f.file, f.code) for f in report.blocking} == PLANTED_BLOCKING
    assert report.has_blocking and report.verdict == "blocked"
    assert report.summary()["blocking"] == 3 and report.summary()["warnings"] == len(PLANTED) - 3
    by_code = {f.code: f for f in report.findings}
    # Words an artist understands, with the numbers that matter.
    assert "a PDF document" in by_code["not_an_image"].message
    assert "200×200 px" in by_code["too_small"].message and "2.6× too small" in by_code["too_small"].message
    assert "0000_04.png" in by_code["near_duplicate"].message  # the one to keep is named
    assert "0000_01.png" in by_code["duplicate"].message
    assert "quarter turn clockwise" in by_code["exif_rotation"].message
    assert ".jpg or .JPG" in by_code["extension_case"].message
    assert by_code["exif_rotation"].fix == "apply_exif_rotation" and by_code["cmyk"].fix == "convert_to_rgb"
    assert by_code["duplicate"].fix == "remove_from_training"
    # Usable: 25 image files less the empty one, the PDF, the byte-for-byte copy and the skipped .Jpg.
    assert report.image_count == 25 and report.usable_count == 21
    # The other actor (the demo's 0004: six pictures, no captions) is clean.
    assert _check(planted, 1).findings == ()


def test_findings_follow_the_assumed_resolution_and_steps(planted: Path) -> None:
    report = _check(planted, 1, TrainingParameters(resolution=1024, max_train_steps=6000))
    codes = _codes(report)
    assert {code for _, code in codes} == {"too_small", "too_few_images_for_steps"}
    assert len([c for c in codes if c[1] == "too_small"]) == 6
    steps = next(f for f in report.findings if f.code == "too_few_images_for_steps")
    assert steps.file is None and "1500 steps" in steps.message and "1000 times" in steps.message
    few = _check(planted, 1, TrainingParameters(max_train_steps=500))
    assert {f.code for f in few.findings} == {"too_many_images_for_steps"}


# --- the demo library ---------------------------------------------------------------------------


def test_the_demo_library_is_never_blocked(tmp_path: Path) -> None:
    lib = tmp_path / "demo"
    shutil.copytree(DEMO, lib)
    library = Library(lib)
    seen: dict[int, set[str]] = {}
    for actor in library.load_actors():
        report = check_actor(library, actor, DEFAULTS)
        seen[actor.id] = {f.code for f in report.findings}
        if report.image_count == 0:
            # Actor 0008 has no pictures yet: a run could not start, so that (only) blocks.
            assert [(f.code, f.severity) for f in report.findings] == [("too_few_images", BLOCKING)]
            continue
        assert not report.has_blocking, (actor.id, report.blocking)
        assert all(f.severity == WARNING for f in report.findings)
    # What is flagged is what the demo really has: actor 6 is captioned only in part, actor 9 has a
    # PDF among its pictures. No near-duplicate, size, colour or caption-wording false alarm.
    assert seen[6] == {"caption_missing"} and seen[9] == {"unused_file"}
    assert all(codes == set() for actor_id, codes in seen.items() if actor_id not in (6, 8, 9)), seen


# --- single rules -------------------------------------------------------------------------------


def _png_16bit_rgb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x80\x00\x40\x00\x20\x00" * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def test_more_rules(folder_lib: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    lib, folder = folder_lib
    transparent = _pattern((512, 512), 7).convert("RGBA")
    transparent.paste((0, 0, 0, 0), (0, 0, 100, 100))  # a transparent corner
    transparent.save(folder / "cutout.png")
    _pattern((512, 512), 8).convert("RGBA").save(folder / "opaque_rgba.png")  # alpha, but all opaque
    Image.new("I;16", (512, 512), 30000).save(folder / "grey16.png")
    (folder / "colour16.png").write_bytes(_png_16bit_rgb(512, 512))
    _pattern((1600, 500), 9).save(folder / "panorama.png")
    _pattern((512, 512), 10).save(folder / "UPPER.PNG")  # the trainer finds all-caps extensions
    whole = io.BytesIO()
    _pattern((512, 512), 11).save(whole, "JPEG", quality=95)
    (folder / "cut_short.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    (folder / "page.jpg").write_bytes(b"<!DOCTYPE html><html><body>Forbidden</body></html>")
    (folder / "clean_0.txt").write_bytes("Zoë, café".encode("latin-1"))  # not UTF-8
    (folder / "clean_1.txt").write_text(f"a portrait\n{TRIGGER}", encoding="utf-8")  # trigger on line 2
    (folder / "orphan.txt").write_text("no picture of that name", encoding="utf-8")
    big = folder / "big.png"
    _pattern((600, 600), 12).save(big)
    monkeypatch.setattr(dataset_doctor, "HUGE_FILE_BYTES", big.stat().st_size - 1)

    report = _check(lib)
    codes = _codes(report)
    severity = {(f.file, f.code): f.severity for f in report.findings}
    assert ("cutout.png", "alpha_channel") in codes and ("opaque_rgba.png", "alpha_channel") not in codes
    assert ("grey16.png", "high_bit_depth") in codes and ("colour16.png", "high_bit_depth") in codes
    message = {(f.file, f.code): f.message for f in report.findings}
    assert "almost white" in message[("grey16.png", "high_bit_depth")]
    assert "uploaded for nothing" in message[("colour16.png", "high_bit_depth")]
    assert ("panorama.png", "extreme_aspect") in codes
    assert ("UPPER.PNG", "extension_case") not in codes
    assert severity[("cut_short.jpg", "unreadable")] == BLOCKING
    assert severity[("page.jpg", "not_an_image")] == BLOCKING
    assert "web page" in message[("page.jpg", "not_an_image")]
    assert severity[("clean_0.txt", "caption_unreadable")] == BLOCKING
    assert "later line" in message[("clean_1.txt", "caption_no_trigger")]
    assert ("orphan.txt", "unused_file") in codes
    assert ("big.png", "huge_file") in codes
    # The new pictures have no captions while the first three have: each one is named.
    assert ("panorama.png", "caption_missing") in codes


def test_too_few_pictures_block_and_enough_do_not(folder_lib: tuple[Path, Path]) -> None:
    lib, folder = folder_lib
    assert MIN_TRAINABLE_IMAGES == 3
    assert not _check(lib).has_blocking
    (folder / "clean_2.png").unlink()
    (folder / "clean_2.txt").unlink()
    report = _check(lib)
    assert [(f.code, f.severity) for f in report.blocking] == [("too_few_images", BLOCKING)]
    assert "Only 2 picture(s)" in report.blocking[0].message
    # A byte-for-byte copy does not count as another picture.
    shutil.copyfile(folder / "clean_0.png", folder / "clean_copy.png")
    assert "Only 2 of the 3" in _check(lib).blocking[0].message


def test_steps_rule_is_the_auto_adjust_rule() -> None:
    for images in range(1, 200):
        proposal = auto_adjust(images, TrainingParameters())
        fit = steps_fit(images, proposal.params.max_train_steps, proposal.params.batch_size)
        assert fit.verdict == "ok" and fit.recommended == proposal.params.max_train_steps
    assert steps_fit(6, 3000).verdict == "too_few_images"
    assert steps_fit(6, 2000).verdict == "ok"  # the default steps on the demo's smallest set
    assert steps_fit(100, 1500).verdict == "too_many_images"
    assert steps_fit(10, 1000, batch_size=4).verdict == "too_few_images"  # 4000 pictures seen


def test_near_duplicate_threshold() -> None:
    demo = DEMO / "actors" / "0002" / "training_data"
    a = inspect_image((demo / "still_15.jpg").read_bytes())
    b = inspect_image((demo / "studio shot 14.png").read_bytes())
    # Two different portraits (orange and blue background) whose brightness hashes nearly agree:
    # the colour check keeps them apart.
    assert hamming(a.dhash, b.dhash) <= NEAR_DUPLICATE_BITS
    assert not near_duplicates(a.dhash, a.thumb_bytes, b.dhash, b.thumb_bytes)
    source = Image.open(DEMO / "actors" / "0000" / "training_data" / "0000_01.png").convert("RGB")
    original = inspect_image((DEMO / "actors" / "0000" / "training_data" / "0000_01.png").read_bytes())
    for variant in (source.resize((300, 300)), source.resize((1024, 1024)), source.crop((6, 6, 506, 506))):
        for quality in (40, 90):
            buffer = io.BytesIO()
            variant.save(buffer, "JPEG", quality=quality)
            copy = inspect_image(buffer.getvalue())
            assert near_duplicates(copy.dhash, copy.thumb_bytes, original.dhash, original.thumb_bytes)


def test_rotation_is_undone_before_hashing() -> None:
    picture = _pattern((640, 480), 21)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = io.BytesIO()
    picture.save(stored, "JPEG", quality=92, exif=exif)
    upright = io.BytesIO()
    picture.transpose(Image.Transpose.ROTATE_270).save(upright, "JPEG", quality=92)
    a, b = inspect_image(stored.getvalue()), inspect_image(upright.getvalue())
    assert a.orientation == 6 and (a.width, a.height) == (640, 480)
    assert near_duplicates(a.dhash, a.thumb_bytes, b.dhash, b.thumb_bytes)


# --- cache and progress -------------------------------------------------------------------------


def test_warm_checks_decode_nothing_and_changed_content_is_decoded_again(
    folder_lib: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lib, folder = folder_lib
    decoded: list[int] = []
    real = dataset_doctor.inspect_image

    def counting(data: bytes) -> object:
        decoded.append(len(data))
        return real(data)

    monkeypatch.setattr(dataset_doctor, "inspect_image", counting)
    progress: list[tuple[int, int, str]] = []
    library = Library(lib)
    actor = library.get_actor(0)
    first = check_actor(library, actor, DEFAULTS, progress=lambda *a: progress.append(a))
    assert len(decoded) == 3 and progress[-1][:2] == (3, 3) and len(progress) == 3
    cache_files = list((Path(os.environ["XDG_CACHE_HOME"])).rglob("*.json"))
    assert len(cache_files) == 1

    second = check_actor(library, actor, DEFAULTS)
    assert len(decoded) == 3 and second.facts == first.facts  # warm: nothing read or decoded

    os.utime(folder / "clean_1.png", ns=(1, 1))  # touched, same content: read and hashed only
    check_actor(library, actor, DEFAULTS)
    assert len(decoded) == 3

    _pattern((512, 512), 555).save(folder / "clean_1.png")  # new content: decoded
    check_actor(library, actor, DEFAULTS)
    assert len(decoded) == 4

    cache_files[0].write_text("{not json", encoding="utf-8")  # a damaged cache costs time only
    again = check_actor(library, actor, DEFAULTS)
    assert len(decoded) == 7 and not again.findings
    assert json.loads(cache_files[0].read_text(encoding="utf-8"))["version"] == 1


def test_without_a_cache_folder_nothing_is_written(folder_lib: tuple[Path, Path]) -> None:
    lib, _ = folder_lib
    library = Library(lib)
    report = check_actor(library, library.get_actor(0), DEFAULTS, cache=FactsCache(None), workers=1)
    assert report.findings == () and not default_cache().root.exists()  # type: ignore[union-attr]


# --- dismissals ---------------------------------------------------------------------------------


def test_dismissed_warnings_are_kept_in_the_library_per_file_and_content(planted: Path) -> None:
    library = Library(planted)
    raw = json.loads((planted / "actors.json").read_text(encoding="utf-8"))
    raw[0]["studio_tool_field"] = {"kept": True}
    (planted / "actors.json").write_text(json.dumps(raw), encoding="utf-8")

    report = check_actor(library, library.get_actor(0), DEFAULTS)
    tiny = next(f for f in report.findings if f.file == "tiny.png")
    dismiss(library, 0, tiny)
    record = json.loads((planted / "actors.json").read_text(encoding="utf-8"))[0]
    assert record["studio_tool_field"] == {"kept": True}
    assert [(e["file"], e["code"]) for e in record[DISMISSED_FIELD]] == [("tiny.png", "too_small")]

    after = check_actor(library, library.get_actor(0), DEFAULTS)
    assert ("tiny.png", "too_small") not in _codes(after)
    assert [(f.file, f.code) for f in after.dismissed] == [("tiny.png", "too_small")]
    assert "1 dismissed" in after.summary_text()

    # Blocking findings and findings about the whole set cannot be dismissed.
    with pytest.raises(DismissRefusedError):
        dismiss(library, 0, next(f for f in after.findings if f.blocking))

    # A different picture under the same name is checked afresh.
    _pattern((180, 180), 77).save(planted / "actors" / "0000" / "training_data" / "tiny.png")
    assert ("tiny.png", "too_small") in _codes(check_actor(library, library.get_actor(0), DEFAULTS))

    assert undismiss(library, 0, "tiny.png", "too_small") is True
    assert undismiss(library, 0, "tiny.png", "too_small") is False
    assert json.loads((planted / "actors.json").read_text(encoding="utf-8"))[0][DISMISSED_FIELD] == []


# --- parameters and forced runs -----------------------------------------------------------------


def test_assumed_parameters() -> None:
    assert assumed_parameters(None) == (TrainingParameters(), "default")
    remembered = TrainingParameters(max_train_steps=1200, resolution=768, lr_warmup_steps=300)
    assert assumed_parameters(remembered) == (remembered, "remembered")
    given, source = assumed_parameters(remembered, steps=200)
    assert source == "given" and given.max_train_steps == 200 and given.resolution == 768
    assert given.lr_warmup_steps == 200  # kept inside the steps
    assert assumed_parameters(None, resolution=1024)[0].resolution == 1024


def test_forced_reasons_are_appended_to_the_version(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", versions={0: [completed_version("job-1", "V1", forced=[{"check": "x"}])]})
    library = Library(lib)
    reasons = [{"check": "dataset_doctor", "code": "too_few_images", "file": None, "message": "m"}]
    record_forced(library, 0, "job-1", reasons)
    record_forced(library, 0, "job-1", reasons)  # idempotent
    saved = json.loads((lib / "actor_training_versions" / "0000.json").read_text(encoding="utf-8"))
    assert saved["versions"][0]["forced"] == [{"check": "x"}, *reasons]


# --- fixes --------------------------------------------------------------------------------------


def test_fixes_keep_the_originals_and_clear_their_findings(planted: Path) -> None:
    from actor_trainer.core.dataset_doctor_fixes import ORIGINALS_FOLDER, FixError, apply_fix

    library = Library(planted)
    folder = planted / "actors" / "0000" / "training_data"
    originals = planted / "actors" / "0000" / ORIGINALS_FOLDER
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report = _check(planted)
    by_key = {(f.file, f.code): f for f in report.findings}

    for key in (
        ("sideways.jpg", "exif_rotation"),
        ("print.jpg", "cmyk"),
        ("copy of 0000_01.png", "duplicate"),
        ("0000_07.Jpg", "extension_case"),
        ("notes.png", "not_an_image"),
    ):
        result = apply_fix(library, 0, by_key[key])
        assert result.message
    with pytest.raises(FixError):
        apply_fix(library, 0, by_key[("tiny.png", "too_small")])  # no automatic fix for that

    # Originals kept, byte for byte, beside the training data (removed files with their captions).
    assert (originals / "sideways.jpg").read_bytes() == before["sideways.jpg"]
    assert (originals / "print.jpg").read_bytes() == before["print.jpg"]
    assert (originals / "copy of 0000_01.png").read_bytes() == before["copy of 0000_01.png"]
    assert (originals / "copy of 0000_01.txt").is_file() and (originals / "notes.png").is_file()
    assert not (folder / "copy of 0000_01.png").exists() and not (folder / "notes.png").exists()
    assert (folder / "0000_07.jpg").read_bytes() == before["0000_07.Jpg"]  # renamed, nothing lost

    with Image.open(folder / "sideways.jpg") as im:
        assert im.size == (480, 640) and im.getexif().get(0x0112, 1) == 1
    with Image.open(folder / "print.jpg") as im:
        assert im.mode == "RGB"

    after = _codes(_check(planted))
    fixed = {
        ("sideways.jpg", "exif_rotation"),
        ("print.jpg", "cmyk"),
        ("copy of 0000_01.png", "duplicate"),
        ("0000_07.Jpg", "extension_case"),
        ("notes.png", "not_an_image"),
    }
    assert after == PLANTED - fixed

    # The same name fixed twice: both originals are kept.
    (folder / "sideways.jpg").write_bytes(before["sideways.jpg"])
    apply_fix(library, 0, by_key[("sideways.jpg", "exif_rotation")])
    assert (originals / "sideways (2).jpg").read_bytes() == before["sideways.jpg"]

    # Transparency is flattened onto white.
    rgba = _pattern((512, 512), 31).convert("RGBA")
    rgba.paste((0, 0, 0, 0), (0, 0, 64, 64))
    rgba.save(folder / "print.png")
    finding = next(f for f in _check(planted).findings if f.code == "alpha_channel")
    apply_fix(library, 0, finding)
    with Image.open(folder / "print.png") as im:
        assert im.mode == "RGB" and im.getpixel((0, 0)) == (255, 255, 255)  # flattened onto white
    assert ("print.png", "alpha_channel") not in _codes(_check(planted))
