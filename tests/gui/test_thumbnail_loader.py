"""The poster thumbnail loader: off-thread decoding, square cover crops, the cache and its bounds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from actor_trainer.core.thumbnails import ThumbnailCache
from actor_trainer.gui.thumbnail_loader import ThumbnailLoader, decode_thumbnail
from tests.waits import QT_WAIT_MS

RED = (255, 0, 0)
GREEN = (0, 200, 0)
BLUE = (0, 0, 255)


def close_to(colour: QColor, rgb: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip((colour.red(), colour.green(), colour.blue()), rgb, strict=True))


def stripes(path: Path, size: tuple[int, int], colours: list[tuple[int, int, int]], vertical: bool = True) -> Path:
    """An image split into equal bands of `colours`, left to right (or top to bottom)."""
    image = Image.new("RGB", size)
    width, height = size
    band = (width if vertical else height) // len(colours)
    for i, colour in enumerate(colours):
        box = (i * band, 0, (i + 1) * band, height) if vertical else (0, i * band, width, (i + 1) * band)
        image.paste(colour, box)
    image.save(path, quality=95)
    return path


@pytest.fixture
def loader(qloop: Any) -> Iterator[ThumbnailLoader]:
    loader = ThumbnailLoader(size=64, max_entries=2)
    yield loader
    loader.shutdown()


def test_decode_scales_to_cover_and_crops_the_centre(tmp_path: Path) -> None:
    wide = stripes(tmp_path / "wide.png", (300, 100), [RED, GREEN, BLUE])
    image = decode_thumbnail(wide, 90)
    assert (image.width(), image.height()) == (90, 90)
    assert close_to(image.pixelColor(5, 45), GREEN) and close_to(image.pixelColor(84, 45), GREEN)

    tall = stripes(tmp_path / "tall.jpg", (100, 300), [RED, GREEN, BLUE], vertical=False)
    image = decode_thumbnail(tall, 90)
    assert close_to(image.pixelColor(45, 5), GREEN) and close_to(image.pixelColor(45, 84), GREEN)


def test_decode_turns_photos_upright_from_their_exif_orientation(tmp_path: Path) -> None:
    # Stored landscape, left half red; orientation 6 means "rotate 90° clockwise to view",
    # so the upright picture is portrait with red on top.
    path = stripes(tmp_path / "rotated.jpg", (200, 100), [RED, BLUE])
    with Image.open(path) as image:
        exif = image.getexif()
        exif[0x0112] = 6
        image.save(path, exif=exif, quality=95)
    thumb = decode_thumbnail(path, 80)
    assert (thumb.width(), thumb.height()) == (80, 80)
    assert close_to(thumb.pixelColor(40, 5), RED)
    assert close_to(thumb.pixelColor(40, 75), BLUE)


def test_decode_falls_back_to_pillow_and_raises_on_garbage(tmp_path: Path) -> None:
    garbage = tmp_path / "poster.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(OSError):
        decode_thumbnail(garbage, 64)


def test_cache_is_bounded_and_least_recently_used_goes_first(
    loader: ThumbnailLoader, qtbot: QtBot, tmp_path: Path
) -> None:
    paths = [stripes(tmp_path / f"p{i}.png", (40, 40), [colour]) for i, colour in enumerate((RED, GREEN, BLUE))]
    for path in paths[:2]:
        with qtbot.waitSignal(loader.loaded, timeout=QT_WAIT_MS):
            loader.request(path)
    assert loader.pixmap(paths[0]) is not None  # touch p0: p1 is now the least recently used
    with qtbot.waitSignal(loader.loaded, timeout=QT_WAIT_MS):
        loader.request(paths[2])
    assert loader.cached_count() == 2
    assert loader.is_cached(paths[0]) and loader.is_cached(paths[2]) and not loader.is_cached(paths[1])
    assert loader.cached_bytes() == 2 * 64 * 64 * 4


def test_requests_for_one_file_are_decoded_once(loader: ThumbnailLoader, qtbot: QtBot, tmp_path: Path) -> None:
    path = stripes(tmp_path / "p.png", (40, 40), [RED])
    delivered: list[str] = []
    loader.loaded.connect(delivered.append)
    for _ in range(5):
        loader.request(path)  # in flight: the later requests join the first
    qtbot.waitUntil(lambda: loader.is_cached(path), timeout=QT_WAIT_MS)
    with qtbot.assertNotEmitted(loader.loaded, wait=100):
        loader.request(path)  # cached: nothing to do
    assert delivered == [str(path)]


def test_invalidate_reloads_a_changed_poster(loader: ThumbnailLoader, qtbot: QtBot, tmp_path: Path) -> None:
    path = stripes(tmp_path / "p.png", (40, 40), [RED])
    with qtbot.waitSignal(loader.loaded, timeout=QT_WAIT_MS):
        loader.request(path)
    stripes(path, (40, 40), [BLUE])
    loader.invalidate(path)
    assert loader.pixmap(path) is None
    with qtbot.waitSignal(loader.loaded, timeout=QT_WAIT_MS):
        loader.request(path)
    pixmap = loader.pixmap(path)
    assert pixmap is not None and close_to(pixmap.toImage().pixelColor(32, 32), BLUE)


def test_unreadable_poster_fails_once_and_keeps_the_placeholder(qloop: Any, tmp_path: Path, qtbot: QtBot) -> None:
    broken = tmp_path / "poster.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    loader = ThumbnailLoader(size=64)
    try:
        with qtbot.waitSignal(loader.failed, timeout=QT_WAIT_MS) as failed:
            loader.request(broken)
        assert failed.args[0] == str(broken)
        assert loader.has_failed(broken) and loader.pixmap(broken) is None
        with qtbot.assertNotEmitted(loader.failed, wait=100):
            loader.request(broken)  # known to fail: not decoded again
    finally:
        loader.shutdown()


def test_loader_goes_through_the_disk_thumbnail_cache(qloop: Any, tmp_path: Path, qtbot: QtBot) -> None:
    source = tmp_path / "poster.jpg"
    Image.new("RGB", (600, 900), BLUE).save(source, quality=95)
    disk_cache = ThumbnailCache(tmp_path / "cache", size=256)
    loader = ThumbnailLoader(size=180, disk_cache=disk_cache)
    try:
        with qtbot.waitSignal(loader.loaded, timeout=QT_WAIT_MS) as loaded:
            loader.request(source)
        assert loaded.args == [str(source)]
        pixmap = loader.pixmap(source)
        assert pixmap is not None and (pixmap.width(), pixmap.height()) == (180, 180)
        assert close_to(pixmap.toImage().pixelColor(90, 90), BLUE)
        assert disk_cache.thumbnail_path(source).is_file()  # the small file was made on the way
    finally:
        loader.shutdown()
