"""Sample images cached on disk, bounded, oldest out first (core/image_cache.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from actor_trainer.core.image_cache import ImageCache
from actor_trainer.core.storage.local import LocalStorage


class CountingStorage(LocalStorage):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    async def read_url(self, url: str) -> bytes:
        self.reads.append(url)
        await asyncio.sleep(0)
        return await super().read_url(url)


@pytest.mark.asyncio
async def test_fetch_once_then_from_disk_and_prune_least_recently_used(tmp_path: Path) -> None:
    storage = CountingStorage(tmp_path / "bucket")
    urls = [storage.url_for_key(f"actors/0000/models/m/samples/step{i:06d}_p00.png") for i in range(4)]
    for i, url in enumerate(urls):
        await storage.write_url(url, bytes([i]) * 1000)
    cache = ImageCache(storage, tmp_path / "cache", max_bytes=2500)

    first = await asyncio.gather(cache.fetch(urls[0]), cache.fetch(urls[0]))
    assert first[0] == first[1] and first[0].read_bytes() == bytes([0]) * 1000
    assert storage.reads == [urls[0]]  # two callers at once: one read
    assert await cache.fetch(urls[0]) == first[0] and storage.reads == [urls[0]]  # then from disk

    await cache.fetch(urls[1])
    os.utime(cache.path_for(urls[0]), (100, 100))  # 0 is the least recently used
    os.utime(cache.path_for(urls[1]), (200, 200))
    await cache.fetch(urls[2])  # 3000 bytes > 2500: the oldest goes
    assert cache.cached(urls[0]) is None and cache.cached(urls[1]) and cache.cached(urls[2])
    assert cache.total_bytes() <= 2500
    # A hit refreshes: 1 is used now, so 2 becomes the oldest and leaves when 3 arrives.
    os.utime(cache.path_for(urls[2]), (300, 300))
    await cache.fetch(urls[1])
    await cache.fetch(urls[3])
    assert cache.cached(urls[2]) is None and cache.cached(urls[1]) and cache.cached(urls[3])


@pytest.mark.asyncio
async def test_a_missing_image_raises_and_caches_nothing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "bucket")
    cache = ImageCache(storage, tmp_path / "cache")
    url = storage.url_for_key("actors/0000/models/m/samples/nope.png")
    with pytest.raises(Exception):  # noqa: B017 - the storage's own not-found error
        await cache.fetch(url)
    assert cache.cached(url) is None
