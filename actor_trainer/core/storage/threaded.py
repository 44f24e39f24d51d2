"""The part of a storage that is the same for every backend: comparing, syncing, downloading.

A backend supplies blocking primitives (list, upload, head, read, ...) and one error mapper; this
class runs them in worker threads, so the event loop never waits on the network or the disk.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import (
    BytesCallback,
    FileComparison,
    FileSyncState,
    LocalFile,
    ProgressCallback,
    RemoteObject,
    Storage,
    SyncResult,
    SyncStatus,
    normalize_prefix,
    training_data_prefix,
)
from actor_trainer.core.storage.hashing import Md5Cache
from actor_trainer.core.storage.transfers import (
    ByteCounter,
    OnBytes,
    TransferCancelled,
    UploadItem,
    map_in_threads,
    run_stoppable,
    run_uploads,
    start_in_background,
)

T = TypeVar("T")

#: Threads used to hash local files and read remote metadata in `compare`.
COMPARE_CONCURRENCY = 8
#: Upper bound of `sync(concurrency=...)` (the S3 client keeps twice as many connections).
MAX_SYNC_CONCURRENCY = 32
#: Files whose cached MD5 one worker thread looks up (a stat each) in `compare` and `sync`.
CACHE_BATCH = 128
#: Marks our temporary download files; listings and scans skip names starting with it.
TEMP_PREFIX = ".at-part-"
#: An incomplete upload or a temp file untouched this long belongs to a process that was killed
#: (one file's transfer takes minutes at most).
ORPHAN_AGE_S = 60 * 60


@dataclass(frozen=True)
class _Plan:
    status: SyncStatus
    uploads: tuple[UploadItem, ...]
    skipped: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...]  # local files that could not be hashed: (name, why)


class ThreadedStorage(Storage):
    #: files uploaded at once, unless the caller says otherwise
    sync_concurrency = 8
    """A Storage built from blocking primitives that run off the event loop."""

    def __init__(self, prefix: str = "", hash_cache: Md5Cache | None = None) -> None:
        self.prefix = normalize_prefix(prefix)
        #: Local file MD5s by (path, size, mtime); pass one cache to several storages to share it.
        self.hash_cache = hash_cache if hash_cache is not None else Md5Cache()
        # Requests started ahead by `prefetch`, each taken (once) by the call that needs it.
        self._prefetched: dict[str, Future[Any]] = {}
        self._prefetched_lock = threading.Lock()

    # --- what a backend provides (blocking; called in worker threads) ---------------------------

    @abc.abstractmethod
    def _map_error(self, exc: Exception, action: str) -> StorageError:
        """Turn a backend exception into a StorageError with a hint (the one place for it)."""

    @abc.abstractmethod
    def _list_blocking(self, key_prefix: str) -> list[RemoteObject]:
        """Objects directly under `key_prefix` (all pages), `name` relative to it."""

    @abc.abstractmethod
    def _stored_md5_blocking(self, obj: RemoteObject) -> str | None:
        """The MD5 of a stored object's content if it can be known, else None."""

    @abc.abstractmethod
    def _upload_file_blocking(self, path: Path, key: str, md5: str, on_bytes: OnBytes) -> None: ...

    @abc.abstractmethod
    def _read_blocking(self, url: str) -> bytes: ...

    @abc.abstractmethod
    def _write_blocking(self, url: str, data: bytes, metadata: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def _metadata_blocking(self, url: str) -> dict[str, str]: ...

    @abc.abstractmethod
    def _exists_blocking(self, url: str) -> bool: ...

    @abc.abstractmethod
    def _size_blocking(self, url: str) -> int: ...

    @abc.abstractmethod
    def _download_blocking(self, url: str, dest: Path, on_bytes: OnBytes) -> None: ...

    @abc.abstractmethod
    def _presign_blocking(self, url: str, expires_s: int) -> str: ...

    @abc.abstractmethod
    def _check_blocking(self) -> str: ...

    # --- running primitives ---------------------------------------------------------------------

    def _guard(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except (StorageError, TransferCancelled):
            raise
        except Exception as exc:
            raise self._map_error(exc, action) from exc

    async def _run(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(self._guard, action, fn, *args)

    async def clean_orphans(self) -> list[str]:
        started = self._take_prefetched("orphans")
        if started is not None:
            return await asyncio.wrap_future(started)
        return await self._run("clean up after interrupted transfers", self._clean_orphans_blocking)

    def _clean_orphans_blocking(self) -> list[str]:
        return []

    # --- starting early -------------------------------------------------------------------------

    def _warm_up_blocking(self) -> None:
        """Make whatever the first request needs (a client, a connection pool); nothing here."""

    def prefetch(self, actor_id: int, *, clean_orphans: bool = False) -> bool:
        """Start, now, the listing of the actor's training data (and with `clean_orphans`, the
        clean-up of interrupted uploads) for the next `sync`/`compare` of that actor (and the next
        `clean_orphans`) to use instead of asking again. Blocking (the backend's warm-up runs
        here, on the calling thread); the requests run in background threads while the caller
        does other work: a command can send them before it has even loaded the library.

        Their answers, errors included, are delivered as the calls that take them would have
        produced them. Returns False (and starts nothing) when the backend cannot even get ready:
        the later call then fails on its own, where it always did."""
        try:
            self._warm_up_blocking()
        except Exception:
            return False
        key_prefix = training_data_prefix(self.prefix, actor_id)
        started = {
            f"list {key_prefix}": start_in_background(
                self._guard, f"list {key_prefix}", self._list_blocking, key_prefix
            )
        }
        if clean_orphans:
            action = "clean up after interrupted transfers"
            started["orphans"] = start_in_background(self._guard, action, self._clean_orphans_blocking)
        with self._prefetched_lock:
            self._prefetched.update(started)
        return True

    def _take_prefetched(self, what: str) -> Future[Any] | None:
        with self._prefetched_lock:
            return self._prefetched.pop(what, None)

    # --- comparing and syncing ------------------------------------------------------------------

    async def list_training_data(self, actor_id: int) -> list[RemoteObject]:
        key_prefix = training_data_prefix(self.prefix, actor_id)
        objects = await self._run(f"list {key_prefix}", self._list_blocking, key_prefix)
        return sorted(objects, key=lambda o: o.name)

    async def compare(self, actor_id: int, local: Sequence[LocalFile]) -> SyncStatus:
        plan = await self._plan(actor_id, local, COMPARE_CONCURRENCY)
        await asyncio.to_thread(self.hash_cache.save)
        if plan.unreadable:
            name, why = plan.unreadable[0]
            raise StorageError(
                f"Cannot read the local training file {name!r}: {why}",
                "Check that the file still exists and is readable, then refresh.",
            )
        return plan.status

    async def sync(
        self,
        actor_id: int,
        local: Sequence[LocalFile],
        *,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
        concurrency: int | None = None,
    ) -> SyncResult:
        concurrency = max(1, min(concurrency or self.sync_concurrency, MAX_SYNC_CONCURRENCY))
        plan = await self._plan(actor_id, local, concurrency)
        await asyncio.to_thread(self.hash_cache.save)
        if dry_run:
            return SyncResult(
                uploaded=tuple(i.name for i in plan.uploads),
                skipped=plan.skipped,
                failed=plan.unreadable,
                bytes_uploaded=sum(i.size for i in plan.uploads),
                dry_run=True,
            )
        outcome = await run_uploads(
            plan.uploads, self._upload_item_blocking, concurrency=concurrency, progress=progress
        )
        return SyncResult(
            uploaded=outcome.uploaded,
            skipped=plan.skipped,
            failed=tuple(sorted(plan.unreadable + outcome.failed)),
            bytes_uploaded=outcome.bytes_uploaded,
            dry_run=False,
        )

    def _upload_item_blocking(self, item: UploadItem, on_bytes: OnBytes) -> None:
        # Hash again (a cache hit unless the file changed since the plan), so the MD5 we store in
        # the object's metadata describes the bytes we are about to send.
        try:
            _, md5 = self.hash_cache.size_and_md5(item.path)
        except OSError as exc:
            raise _unreadable_error(item.name, exc) from exc
        self._guard(f"upload {item.name}", self._upload_file_blocking, item.path, item.key, md5, on_bytes)

    def _hash_blocking(self, f: LocalFile) -> tuple[int, str]:
        return self.hash_cache.size_and_md5(f.path)

    async def _hash_all(self, files: Sequence[LocalFile], concurrency: int) -> list[tuple[int, str] | BaseException]:
        """(size, md5) of each file, or why it could not be read. The cache answers for unchanged
        files, `CACHE_BATCH` stats per worker thread (a thread per file costs more than its stat;
        one thread for all would wait on a slow network drive one stat at a time); only the rest
        are read, `concurrency` at a time."""

        def look_up(batch: Sequence[LocalFile]) -> list[tuple[int, str] | None]:
            return [self.hash_cache.cached(f.path) for f in batch]

        batches = [files[i : i + CACHE_BATCH] for i in range(0, len(files), CACHE_BATCH)]
        known: list[tuple[int, str] | None] = []
        for answer in await map_in_threads(look_up, batches, concurrency):
            if isinstance(answer, BaseException):
                raise answer
            known += answer
        missing = [f for f, k in zip(files, known, strict=True) if k is None]
        hashed = iter(await map_in_threads(self._hash_blocking, missing, concurrency))
        return [k if k is not None else next(hashed) for k in known]

    async def _plan(self, actor_id: int, local: Sequence[LocalFile], concurrency: int) -> _Plan:
        key_prefix = training_data_prefix(self.prefix, actor_id)
        by_name = {f.name: f for f in local}
        files = list(by_name.values())
        # List the bucket while hashing the local files (or take the listing `prefetch` started).
        started = self._take_prefetched(f"list {key_prefix}")
        listing: asyncio.Future[list[RemoteObject]] = (
            asyncio.wrap_future(started)
            if started is not None
            else asyncio.ensure_future(self._run(f"list {key_prefix}", self._list_blocking, key_prefix))
        )
        try:
            hashes = await self._hash_all(files, concurrency)
            remote = {o.name: o for o in await listing}
        finally:
            if not listing.done():
                listing.cancel()

        comparisons: dict[str, FileComparison] = {}
        unreadable: list[tuple[str, str]] = []
        local_md5: dict[str, tuple[int, str]] = {}
        to_confirm: list[tuple[str, RemoteObject]] = []
        for f, hashed in zip(files, hashes, strict=True):
            if isinstance(hashed, BaseException):
                unreadable.append((f.name, _os_reason(hashed)))
                continue
            size, md5 = hashed
            local_md5[f.name] = (size, md5)
            obj = remote.get(f.name)
            if obj is None:
                state = FileSyncState.LOCAL_ONLY
            elif obj.size != size:
                state = FileSyncState.CHANGED
            elif obj.md5 is not None and obj.md5 == md5:
                state = FileSyncState.IN_SYNC
            else:
                # Same size, and the listing cannot prove the same content (a multipart ETag, or
                # an ETag that is not an MD5, e.g. under SSE-KMS): ask for the stored MD5.
                to_confirm.append((f.name, obj))
                continue
            comparisons[f.name] = FileComparison(f.name, state, size, obj.size if obj else None)

        stored = await map_in_threads(
            lambda pair: self._guard(f"read metadata of {pair[1].key}", self._stored_md5_blocking, pair[1]),
            to_confirm,
            concurrency,
        )
        for (name, obj), md5_or_error in zip(to_confirm, stored, strict=True):
            if isinstance(md5_or_error, BaseException):
                raise md5_or_error
            size, md5 = local_md5[name]
            # No stored MD5 (an object uploaded by another tool in several parts) means we cannot
            # tell: call it changed. Re-uploading costs bandwidth once (and stores the MD5), while a
            # wrong "in sync" would silently train on stale images.
            state = FileSyncState.IN_SYNC if md5_or_error == md5 else FileSyncState.CHANGED
            comparisons[name] = FileComparison(name, state, size, obj.size)

        for name, obj in remote.items():
            if name not in comparisons and name not in by_name:
                comparisons[name] = FileComparison(name, FileSyncState.REMOTE_ONLY, None, obj.size)

        status = SyncStatus(actor_id, tuple(comparisons[n] for n in sorted(comparisons)))
        uploads = tuple(
            UploadItem(c.name, by_name[c.name].path, key_prefix + c.name, local_md5[c.name][0])
            for c in status.files
            if c.state in (FileSyncState.LOCAL_ONLY, FileSyncState.CHANGED)
        )
        skipped = status.names(FileSyncState.IN_SYNC)
        return _Plan(status, uploads, skipped, tuple(sorted(unreadable)))

    # --- single objects ---------------------------------------------------------------------------

    async def read_url(self, url: str) -> bytes:
        return await self._run(f"read {url}", self._read_blocking, url)

    async def write_url(self, url: str, data: bytes, *, metadata: dict[str, str] | None = None) -> None:
        await self._run(f"write {url}", self._write_blocking, url, data, dict(metadata or {}))

    async def read_metadata(self, url: str) -> dict[str, str]:
        return await self._run(f"read metadata of {url}", self._metadata_blocking, url)

    async def exists_url(self, url: str) -> bool:
        return await self._run(f"look up {url}", self._exists_blocking, url)

    async def presign_url(self, url: str, expires_s: int = 24 * 3600) -> str:
        return await self._run(f"presign {url}", self._presign_blocking, url, expires_s)

    async def check(self) -> str:
        return await self._run("list the bucket", self._check_blocking)

    async def download_url(self, url: str, dest: Path, progress: BytesCallback | None = None) -> None:
        total = await self._run(f"look up {url}", self._size_blocking, url)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        done = 0
        callback_error: list[BaseException] = []

        def deliver(n: int) -> None:
            nonlocal done
            done += n
            if progress is None or callback_error:
                return
            try:
                progress(done, total)
            except BaseException as exc:  # re-raised below, after the thread stops
                callback_error.append(exc)
                cancel.set()

        counter = ByteCounter(loop, deliver)

        def on_bytes(n: int) -> None:
            if cancel.is_set():
                raise TransferCancelled
            counter.add(n)

        tmp = dest.parent / f"{TEMP_PREFIX}{secrets.token_hex(4)}-{dest.name}"

        def download() -> None:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"Cannot create the folder {dest.parent}: {_os_reason(exc)}",
                    "Choose a folder you can write to.",
                ) from exc
            self._guard(f"download {url}", self._download_blocking, url, tmp, on_bytes)
            try:
                os.replace(tmp, dest)
            except OSError as exc:
                raise StorageError(
                    f"Cannot write {dest}: {_os_reason(exc)}", "Choose a folder you can write to."
                ) from exc

        try:
            await run_stoppable(download, cancel)
        except TransferCancelled:
            if callback_error:
                raise callback_error[0] from None
            raise
        finally:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(tmp.unlink, missing_ok=True)
        counter.flush()
        if callback_error:  # raised while the last bytes were reported; the file is complete
            raise callback_error[0]


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _unreadable_error(name: str, exc: OSError) -> StorageError:
    return StorageError(
        f"Cannot read the local training file {name!r}: {_os_reason(exc)}",
        "Check that the file still exists and is readable, then sync again.",
    )
