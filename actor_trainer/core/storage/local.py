"""A local folder standing in for a bucket (the sandbox): same key layout, `file://` URLs.

`<root>/<key>` holds each object. Metadata given to `write_url` is kept in a JSON sidecar under
`<root>/.actor-trainer-meta/`, outside every key's folder, so listings never see it. MD5s are
computed from the stored files themselves (cached), so nothing can drift.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import (
    RemoteObject,
    StorageObjectNotFoundError,
    StorageUnavailableError,
    model_key,
    normalize_prefix,
    training_data_key,
)
from actor_trainer.core.storage.hashing import Md5Cache, md5_bytes
from actor_trainer.core.storage.threaded import ORPHAN_AGE_S, TEMP_PREFIX, ThreadedStorage
from actor_trainer.core.storage.transfers import OnBytes

META_DIR = ".actor-trainer-meta"
_CHUNK = 1024 * 1024


def path_from_file_url(url: str) -> Path:
    """The local path of a `file://` URL (percent-decoded; `Path.as_uri()` is the inverse)."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise StorageError(f"Not a file URL: {url!r}", "The local storage reads and writes file:// URLs.")
    if parts.netloc not in ("", "localhost"):
        raise StorageError(f"File URL on another host: {url!r}", "Use a file:///absolute/path URL.")
    return Path(url2pathname(parts.path))


def copy_with_progress(src: Path, dest: Path, on_bytes: OnBytes) -> str:
    """Copy `src` to `dest` atomically (a temp file beside `dest`, then a rename), reporting bytes.
    Returns the MD5 of the bytes copied."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{TEMP_PREFIX}{secrets.token_hex(4)}-{dest.name}"
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                fout.write(chunk)
                digest.update(chunk)
                on_bytes(len(chunk))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest()


class LocalStorage(ThreadedStorage):
    """A folder used as the bucket. Safe for the sandbox worker to read while the app writes:
    every file appears complete or not at all."""

    kind = "local"

    def __init__(self, root: Path, prefix: str = "", *, hash_cache: Md5Cache | None = None) -> None:
        super().__init__(prefix, hash_cache)
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r}, prefix={self.prefix!r})"

    # --- keys, paths and URLs -------------------------------------------------------------------

    def path_for_key(self, key: str) -> Path:
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"Invalid storage key {key!r}.", "File names cannot be '.', '..' or contain '/'.")
        return self.root.joinpath(*parts)

    def url_for_key(self, key: str) -> str:
        return self.path_for_key(key).as_uri()

    def training_data_url(self, actor_id: int, name: str) -> str:
        return self.url_for_key(training_data_key(self.prefix, actor_id, name))

    def model_url(self, actor_id: int, model_name: str) -> str:
        return self.url_for_key(model_key(self.prefix, actor_id, model_name))

    def _sidecar(self, path: Path) -> Path:
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            raise StorageError(
                f"{path} is outside the storage folder {self.root}.",
                "The local storage only writes inside its own folder.",
            ) from None
        return self.root / META_DIR / f"{relative}.json"

    # --- blocking primitives --------------------------------------------------------------------

    def _map_error(self, exc: Exception, action: str) -> StorageError:
        if isinstance(exc, FileNotFoundError):
            return StorageObjectNotFoundError(
                f"Not found: cannot {action} ({exc.filename}).", "The file may have been moved or deleted."
            )
        if isinstance(exc, PermissionError):
            return StorageError(
                f"Permission denied: cannot {action} ({exc.filename}).",
                f"Check the permissions of {self.root} and the files in it.",
            )
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            return StorageUnavailableError(
                f"Cannot {action}: {exc.strerror}.", f"Free space on, or choose another folder than, {self.root}."
            )
        if isinstance(exc, OSError):
            return StorageError(f"Cannot {action}: {exc.strerror or exc}.", f"Check the folder {self.root}.")
        return StorageError(f"Cannot {action}: {type(exc).__name__}: {exc}", "Try again; if it persists, report it.")

    def _clean_orphans_blocking(self) -> list[str]:
        """Remove the temp files (`.at-part-*`) of copies a killed process left in the folder."""
        top = self.root.joinpath(*f"{normalize_prefix(self.prefix)}actors".split("/"))
        cutoff = time.time() - ORPHAN_AGE_S
        removed: list[str] = []
        for folder, _, names in os.walk(top):
            for name in names:
                if not name.startswith(TEMP_PREFIX):
                    continue
                path = Path(folder) / name
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed.append(f"removed {path} (left by an interrupted copy)")
                except OSError:
                    continue
        return removed

    def _list_blocking(self, key_prefix: str) -> list[RemoteObject]:
        folder = self.path_for_key(key_prefix.rstrip("/"))
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        return [
            RemoteObject(e.name, key_prefix + e.name, e.stat().st_size, None)
            for e in entries
            if e.is_file() and not e.name.startswith(TEMP_PREFIX)
        ]

    def _stored_md5_blocking(self, obj: RemoteObject) -> str | None:
        return self.hash_cache.size_and_md5(self.path_for_key(obj.key))[1]

    def _upload_file_blocking(self, path: Path, key: str, md5: str, on_bytes: OnBytes) -> None:
        dest = self.path_for_key(key)
        # Remember what we wrote, so the next compare need not read the copy back.
        self.hash_cache.remember(dest, copy_with_progress(path, dest, on_bytes))

    def _read_blocking(self, url: str) -> bytes:
        return path_from_file_url(url).read_bytes()

    def _write_blocking(self, url: str, data: bytes, metadata: dict[str, str]) -> None:
        path = path_from_file_url(url)
        sidecar = self._sidecar(path)
        stored = {k.lower(): v for k, v in metadata.items()}
        stored["md5"] = md5_bytes(data)
        _write_atomic(path, data)
        self.hash_cache.remember(path, stored["md5"])
        _write_atomic(sidecar, json.dumps(stored, ensure_ascii=False, indent=1).encode())

    def _metadata_blocking(self, url: str) -> dict[str, str]:
        path = path_from_file_url(url)
        metadata: dict[str, str] = {}
        try:
            loaded = json.loads(self._sidecar(path).read_text(encoding="utf-8"))
            metadata = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        except (StorageError, FileNotFoundError, ValueError):
            pass  # no (readable) sidecar: the file was copied in by a sync or another tool
        metadata["md5"] = self.hash_cache.size_and_md5(path)[1]
        return metadata

    def _exists_blocking(self, url: str) -> bool:
        return path_from_file_url(url).is_file()

    def _size_blocking(self, url: str) -> int:
        return path_from_file_url(url).stat().st_size

    def _download_blocking(self, url: str, dest: Path, on_bytes: OnBytes) -> None:
        copy_with_progress(path_from_file_url(url), dest, on_bytes)

    def _presign_blocking(self, url: str, expires_s: int) -> str:
        return path_from_file_url(url).as_uri()  # a local file needs no signature

    def _check_blocking(self) -> str:
        base = self.path_for_key(self.prefix.rstrip("/")) if self.prefix else self.root
        base.mkdir(parents=True, exist_ok=True)
        count = 0
        for _folder, dirs, files in os.walk(base):
            if META_DIR in dirs:
                dirs.remove(META_DIR)  # metadata sidecars are not objects
            count += sum(1 for f in files if not f.startswith(TEMP_PREFIX))
        under = f"under prefix {self.prefix!r}" if self.prefix else "in it"
        return f"local folder {str(self.root)!r} ready, {count} files {under}"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(4)}-{path.name}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
