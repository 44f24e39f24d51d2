"""Sample and Try images cached on disk (issue 12): `cache_dir()/images`, bounded, oldest out first.

Every image is fetched once through the storage (`read_url`: the bucket's own credentials, or the
local folder), written atomically under a name made from its URL, and read from disk afterwards.
The folder is kept under `max_bytes`: after each new file the least recently used files (by
modification time, which a cache hit refreshes) are removed until it fits. Blocking file work runs
in a thread; `fetch` is safe to call from the event loop. A URL fetched twice at once is read once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import posixpath
import time
from pathlib import Path
from urllib.parse import urlsplit

from actor_trainer.core.atomic import atomic_write_bytes
from actor_trainer.core.storage.base import Storage

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def default_folder() -> Path:
    from actor_trainer.core.settings import cache_dir

    return cache_dir() / "images"


class ImageCache:
    def __init__(self, storage: Storage, folder: Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.storage = storage
        self.folder = folder if folder is not None else default_folder()
        self.max_bytes = max_bytes
        self._inflight: dict[str, asyncio.Future[Path]] = {}

    def path_for(self, url: str) -> Path:
        """Where `url`'s image is (or would be) cached: a hash of the URL, with its suffix."""
        suffix = posixpath.splitext(urlsplit(url).path)[1].lower()
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
        return self.folder / f"{digest}{suffix if suffix in _SUFFIXES else '.img'}"

    def cached(self, url: str) -> Path | None:
        """The cached file of `url`, or None (blocking: a stat)."""
        path = self.path_for(url)
        return path if path.is_file() else None

    async def fetch(self, url: str) -> Path:
        """The local file of `url`'s image, downloaded through the storage when it is not cached.
        Raises what the storage raises (StorageError, FileNotFoundError…)."""
        path = self.path_for(url)
        if await asyncio.to_thread(_touch_if_present, path):
            return path
        pending = self._inflight.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._inflight[url] = future
        try:
            data = await self.storage.read_url(url)
            await asyncio.to_thread(self._store, path, data)
            future.set_result(path)
            return path
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            self._inflight.pop(url, None)

    def _store(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        self.prune(keep=path)

    def prune(self, keep: Path | None = None) -> int:
        """Remove the least recently used files until the folder holds at most `max_bytes`
        (`keep`, the file just written, stays). Returns how many were removed (blocking)."""
        try:
            entries = [
                (e.stat().st_mtime, e.stat().st_size, Path(e.path))
                for e in os.scandir(self.folder)
                if e.is_file() and not e.name.startswith(".")
            ]
        except FileNotFoundError:
            return 0
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if keep is not None and path == keep:
                continue
            try:
                path.unlink()
            except OSError as exc:
                log.debug("could not prune %s: %s", path, exc)
                continue
            total -= size
            removed += 1
        return removed

    def total_bytes(self) -> int:
        try:
            return sum(e.stat().st_size for e in os.scandir(self.folder) if e.is_file())
        except FileNotFoundError:
            return 0


def _touch_if_present(path: Path) -> bool:
    try:
        now = time.time()
        os.utime(path, (now, now))
        return True
    except FileNotFoundError:
        return False
