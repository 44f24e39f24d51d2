"""MD5 of local files, cached by (path, size, mtime) so a no-op re-sync re-hashes nothing.

MD5 because it is what S3 computes for single-part ETags and what we store in object metadata;
it identifies content here, it is not a security check. Blocking: call from a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

_CHUNK = 1024 * 1024


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

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # One entry per path (the latest state seen), so the cache never outgrows the library.
        self._entries: dict[str, tuple[int, int, str]] = {}
        #: How many files were actually read (the rest came from the cache); for tests and benchmarks.
        self.hashed = 0

    def size_and_md5(self, path: Path) -> tuple[int, str]:
        """(size, md5) of the file as it is now (blocking). Raises OSError if it cannot be read."""
        before = os.stat(path)
        key = os.path.abspath(path)
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and cached[:2] == (before.st_size, before.st_mtime_ns):
            return before.st_size, cached[2]
        md5 = md5_file(path)
        after = os.stat(path)
        with self._lock:
            self.hashed += 1
            # Only remember a digest of a file that did not change while we read it.
            if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
                self._entries[key] = (before.st_size, before.st_mtime_ns, md5)
        return before.st_size, md5

    def remember(self, path: Path, md5: str) -> None:
        """Record the MD5 of a file we just wrote ourselves (blocking: one stat)."""
        st = os.stat(path)
        with self._lock:
            self._entries[os.path.abspath(path)] = (st.st_size, st.st_mtime_ns, md5)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
