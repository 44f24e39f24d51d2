"""MD5 of local files, cached by (path, size, mtime) so a no-op re-sync re-hashes nothing —
in this process, and, when the cache has a file, in the next one too.

MD5 because it is what S3 computes for single-part ETags and what we store in object metadata;
it identifies content here, it is not a security check. Blocking: call from a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

_CHUNK = 1024 * 1024
#: entries kept on disk at most (one per training file; far more than a studio's library)
MAX_PERSISTED = 200_000

log = logging.getLogger(__name__)


def md5_file(path: Path) -> str:
    """Hex MD5 of a file's content (blocking)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class Md5Cache:
    """Thread-safe cache of file MD5s keyed on (absolute path, size, mtime_ns).

    A file rewritten in place changes its mtime (and usually its size), so its entry no longer
    matches and it is hashed again. (Like rsync and git, this trusts the file system's clock: a
    same-size rewrite within one mtime tick goes unnoticed until the next change.) Share one cache
    between storages to share the work.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        # One entry per path (the latest state seen), so the cache never outgrows the library.
        self._entries: dict[str, tuple[int, int, str]] = {}
        #: How many files were actually read (the rest came from the cache); for tests and benchmarks.
        self.hashed = 0
        #: where the entries are kept between runs (None: this process only)
        self.path = path
        self._loaded = path is None
        self._dirty = False

    def _load_blocking(self) -> None:
        """Read the entries kept on disk, once. A damaged or foreign file is ignored (and replaced
        on the next save): the worst case is hashing again."""
        if self._loaded:
            return
        self._loaded = True
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = {
                str(k): (int(v[0]), int(v[1]), str(v[2]))
                for k, v in raw.get("entries", {}).items()
                if isinstance(v, list) and len(v) == 3 and len(str(v[2])) == 32
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError, IndexError) as exc:
            log.warning("the MD5 cache %s could not be read (%s); files will be hashed again", self.path, exc)
            return
        for key, value in entries.items():
            self._entries.setdefault(key, value)

    def save(self) -> None:
        """Write the entries to `path` if any changed (blocking; atomic)."""
        if self.path is None:
            return
        from actor_trainer.core.atomic import atomic_write_json

        with self._lock:
            if not self._dirty:
                return
            items = list(self._entries.items())[-MAX_PERSISTED:]
            self._dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, {"version": 1, "entries": {k: list(v) for k, v in items}})
        except OSError as exc:
            log.warning("the MD5 cache %s could not be written: %s", self.path, exc)

    def _lookup(self, key: str, st: os.stat_result) -> str | None:
        with self._lock:
            if not self._loaded:
                self._load_blocking()
            cached = self._entries.get(key)
        if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
            return cached[2]
        return None

    def cached(self, path: Path) -> tuple[int, str] | None:
        """(size, md5) if the cache knows the file as it is now, else None (blocking: one stat).
        Reads no content, so a sync with nothing new checks all its files on one thread; a file
        that cannot be stat'ed is None too (`size_and_md5` then says why)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        md5 = self._lookup(os.path.abspath(path), st)
        return None if md5 is None else (st.st_size, md5)

    def size_and_md5(self, path: Path) -> tuple[int, str]:
        """(size, md5) of the file as it is now (blocking). Raises OSError if it cannot be read."""
        before = os.stat(path)
        key = os.path.abspath(path)
        cached = self._lookup(key, before)
        if cached is not None:
            return before.st_size, cached
        md5 = md5_file(path)
        after = os.stat(path)
        with self._lock:
            self.hashed += 1
            # Only remember a digest of a file that did not change while we read it.
            if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
                self._entries[key] = (before.st_size, before.st_mtime_ns, md5)
                self._dirty = True
        return before.st_size, md5

    def remember(self, path: Path, md5: str) -> None:
        """Record the MD5 of a file we just wrote ourselves (blocking: one stat)."""
        st = os.stat(path)
        with self._lock:
            self._entries[os.path.abspath(path)] = (st.st_size, st.st_mtime_ns, md5)
            self._dirty = True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
