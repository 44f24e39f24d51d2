"""The thumbnail cache: made once, reused, remade when the source changes, loud on broken files."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.thumbnails import ThumbnailCache, ThumbnailError

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (30, 40, 220)


def _close(pixel: object, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def _stripes(path: Path, size: tuple[int, int], colours: list[tuple[int, int, int]], fmt: str, **save: object) -> Path:
    """An image of equal vertical stripes, left to right."""
    image = Image.new("RGB", size)
    width = size[0] // len(colours)
    for i, colour in enumerate(colours):
        image.paste(colour, (i * width, 0, (i + 1) * width if i < len(colours) - 1 else size[0], size[1]))
    image.save(path, fmt, **save)
    return path


def _cache_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*") if p.is_file())


def test_thumbnail_is_square_centre_crop_of_the_requested_size(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "wide.png", (900, 300), [RED, GREEN, BLUE], "PNG")
    cache = ThumbnailCache(tmp_path / "cache", size=96)

    thumb = cache.get_or_create(source)

    assert thumb.is_relative_to(tmp_path / "cache")
    with Image.open(thumb) as image:
        assert image.size == (96, 96)
        rgb = image.convert("RGB")
        # the middle third survives the crop; the red and blue sides are cut away
        for xy in [(2, 48), (48, 48), (93, 48), (48, 2), (48, 93)]:
            assert _close(rgb.getpixel(xy), GREEN), xy


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_both_formats_and_tall_images(tmp_path: Path, fmt: str) -> None:
    source = tmp_path / "tall.jpg"
    Image.new("RGB", (120, 400), BLUE).save(source, "JPEG", quality=90)
    cache = ThumbnailCache(tmp_path / "cache", size=64, fmt="webp" if fmt == "webp" else "png")

    thumb = cache.get_or_create(source)

    assert thumb.suffix == f".{fmt}"
    with Image.open(thumb) as image:
        assert image.format == fmt.upper()
        assert image.size == (64, 64)
        assert _close(image.convert("RGB").getpixel((32, 32)), BLUE)


def test_small_images_are_scaled_up_to_the_thumbnail_size(tmp_path: Path) -> None:
    source = tmp_path / "tiny.png"
    Image.new("RGB", (20, 30), RED).save(source)
    with Image.open(ThumbnailCache(tmp_path / "cache", size=128).get_or_create(source)) as image:
        assert image.size == (128, 128)


def test_thumbnail_is_reused_while_the_source_is_unchanged(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "poster.jpg", (640, 480), [GREEN], "JPEG")
    cache = ThumbnailCache(tmp_path / "cache")

    first = cache.get_or_create(source)
    old_ns = 1_000_000_000_000_000_000  # a stamp no rewrite could carry: a rewrite would show at once
    os.utime(first, ns=(old_ns, old_ns))
    before = first.stat()
    second = cache.get_or_create(source)

    assert second == first
    after = second.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    # a second cache object over the same folder (the next app start) finds it too
    assert ThumbnailCache(tmp_path / "cache").get_or_create(source) == first
    assert _cache_files(tmp_path / "cache") == [first]  # no temp files left behind


def test_thumbnail_is_remade_when_the_source_changes(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "poster.png", (300, 300), [RED], "PNG")
    cache = ThumbnailCache(tmp_path / "cache", size=32)
    old = cache.get_or_create(source)

    _stripes(source, (300, 300), [BLUE], "PNG")  # replaced in place, same name
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    new = cache.get_or_create(source)

    assert new != old
    with Image.open(new) as image:
        assert _close(image.convert("RGB").getpixel((16, 16)), BLUE)


def test_thumbnail_size_is_part_of_the_key(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "a.png", (200, 200), [GREEN], "PNG")
    small = ThumbnailCache(tmp_path / "cache", size=32).get_or_create(source)
    large = ThumbnailCache(tmp_path / "cache", size=128).get_or_create(source)
    assert small != large
    with Image.open(small) as a, Image.open(large) as b:
        assert (a.size, b.size) == ((32, 32), (128, 128))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored landscape, red left / blue right; orientation 6 says "turn 90° clockwise to view",
    # which puts red on top.
    source = tmp_path / "phone.jpg"
    image = Image.new("RGB", (400, 200), BLUE)
    image.paste(RED, (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(source, "JPEG", quality=95, exif=exif)

    with Image.open(ThumbnailCache(tmp_path / "cache", size=64).get_or_create(source)) as thumb:
        rgb = thumb.convert("RGB")
        assert _close(rgb.getpixel((32, 4)), RED)
        assert _close(rgb.getpixel((32, 60)), BLUE)


def test_big_jpeg_is_thumbnailed_correctly(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "big.jpg", (4000, 3000), [RED, GREEN, GREEN, BLUE], "JPEG", quality=80)
    with Image.open(ThumbnailCache(tmp_path / "cache", size=256).get_or_create(source)) as thumb:
        assert thumb.size == (256, 256)
        rgb = thumb.convert("RGB")
        assert _close(rgb.getpixel((128, 128)), GREEN)
        assert _close(rgb.getpixel((3, 128)), RED)  # the crop keeps 3000 of 4000 columns
        assert _close(rgb.getpixel((252, 128)), BLUE)


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "LA", "I;16", "CMYK"])
def test_unusual_modes_are_converted(tmp_path: Path, mode: str) -> None:
    source = tmp_path / ("img.jpg" if mode == "CMYK" else "img.png")
    Image.new("RGB", (50, 80), GREEN).convert(mode).save(source)
    with Image.open(ThumbnailCache(tmp_path / "cache", size=40).get_or_create(source)) as thumb:
        assert thumb.size == (40, 40)
        assert thumb.mode in ("RGB", "RGBA")


def test_transparency_is_kept(tmp_path: Path) -> None:
    source = tmp_path / "cutout.png"
    Image.new("RGBA", (60, 60), (0, 0, 0, 0)).save(source)
    with Image.open(ThumbnailCache(tmp_path / "cache", size=30).get_or_create(source)) as thumb:
        assert thumb.mode == "RGBA"
        pixel = thumb.getpixel((15, 15))
        assert isinstance(pixel, tuple) and pixel[3] == 0


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64],
    ids=["empty", "text", "bad-png"],
)
def test_undecodable_source_raises_thumbnail_error(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "broken.png"
    source.write_bytes(content)
    cache = ThumbnailCache(tmp_path / "cache")

    with pytest.raises(ThumbnailError) as raised:
        cache.get_or_create(source)

    assert isinstance(raised.value, ActorTrainerError)
    assert "broken.png" in raised.value.message and raised.value.hint
    assert not (tmp_path / "cache").exists() or _cache_files(tmp_path / "cache") == []


def test_truncated_jpeg_raises_thumbnail_error(tmp_path: Path) -> None:
    whole = _stripes(tmp_path / "whole.jpg", (800, 600), [RED, BLUE], "JPEG")
    source = tmp_path / "cut.jpg"
    source.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(ThumbnailError):
        ThumbnailCache(tmp_path / "cache").get_or_create(source)


def test_missing_source_raises_thumbnail_error(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path / "cache")
    with pytest.raises(ThumbnailError):
        cache.thumbnail_path(tmp_path / "gone.png")
    with pytest.raises(ThumbnailError):
        cache.get_or_create(tmp_path / "gone.png")


def test_unwritable_cache_raises_thumbnail_error(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "a.png", (40, 40), [RED], "PNG")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(ThumbnailError) as raised:
        ThumbnailCache(blocker).get_or_create(source)
    assert "Could not write a thumbnail" in raised.value.message


def test_concurrent_requests_for_one_image_agree(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "a.jpg", (1200, 900), [RED, GREEN, BLUE], "JPEG")
    cache = ThumbnailCache(tmp_path / "cache", size=128)
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda _: cache.get_or_create(source), range(16)))
    assert len(set(paths)) == 1
    assert _cache_files(tmp_path / "cache") == [paths[0]]
    with Image.open(paths[0]) as thumb:
        thumb.load()
        assert thumb.size == (128, 128)


def test_invalid_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ThumbnailCache(tmp_path, size=0)


@pytest.mark.asyncio
async def test_get_runs_off_the_event_loop(tmp_path: Path) -> None:
    source = _stripes(tmp_path / "big.png", (3000, 3000), [RED, GREEN], "PNG", compress_level=1)
    cache = ThumbnailCache(tmp_path / "cache", size=128)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        thumb = await cache.get(source)
    finally:
        task.cancel()
    assert thumb == cache.thumbnail_path(source) and thumb.is_file()
    assert ticks > 0  # the loop kept running while Pillow worked
    assert await cache.get(source) == thumb
