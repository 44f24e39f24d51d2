"""Running blocking transfers from the event loop: bounded worker threads, byte progress handed to
the loop thread, and clean interruption (a cancelled sync aborts in-flight transfers, so nothing
half-written is left and a later sync resumes where this one stopped).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import ProgressCallback, StorageUnavailableError, SyncProgress

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")

#: Blocking byte callback handed to a transfer; it raises TransferCancelled once the run is stopped.
OnBytes = Callable[[int], None]


class TransferCancelled(Exception):
    """Raised inside a transfer's byte callback to abort it (boto3 then aborts a multipart upload)."""


@dataclass(frozen=True)
class UploadItem:
    name: str
    path: Path
    key: str
    size: int


@dataclass(frozen=True)
class UploadOutcome:
    uploaded: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    bytes_uploaded: int


class ByteCounter:
    """Sums byte counts reported from worker threads and delivers them on the event loop thread.

    At most one `call_soon_threadsafe` is outstanding at a time: a fast transfer reporting every
    few KiB costs the loop one wake-up per iteration, not one per chunk.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[int], None]) -> None:
        self._loop = loop
        self._deliver = deliver
        self._lock = threading.Lock()
        self._pending = 0
        self._scheduled = False

    def add(self, n: int) -> None:
        """Any thread."""
        with self._lock:
            self._pending += n
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self.flush)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def flush(self) -> None:
        """Loop thread: deliver whatever was counted since the last delivery."""
        with self._lock:
            n, self._pending, self._scheduled = self._pending, 0, False
        if n:
            self._deliver(n)


async def run_stoppable(fn: Callable[[], T], cancel: threading.Event, executor: ThreadPoolExecutor | None = None) -> T:
    """Run blocking `fn` in a thread; if the caller is cancelled, set `cancel` and wait for `fn` to
    notice (its byte callback raises TransferCancelled) before re-raising, so no thread is left
    writing after we return."""
    future = asyncio.get_running_loop().run_in_executor(executor, fn)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # the thread's TransferCancelled: expected, and not to be logged
        raise


@dataclass
class _RunState:
    files_done: int = 0
    bytes_done: int = 0
    bytes_uploaded: int = 0
    current: str | None = None
    callback_error: BaseException | None = None
    uploaded: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


async def run_uploads(
    items: Sequence[UploadItem],
    upload: Callable[[UploadItem, OnBytes], None],
    *,
    concurrency: int,
    progress: ProgressCallback | None,
) -> UploadOutcome:
    """Upload `items` with at most `concurrency` blocking `upload` calls at once.

    `upload(item, on_bytes)` runs in a worker thread and raises StorageError on failure. A
    per-file StorageError is recorded and the others go on; a StorageUnavailableError stops the
    run and is raised. `progress` runs on the loop thread; if it raises, or the task is cancelled,
    in-flight uploads are aborted and awaited before the exception propagates.
    """
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    state = _RunState()
    files_total = len(items)
    bytes_total = sum(i.size for i in items)

    def emit() -> None:
        if progress is not None:
            progress(SyncProgress(state.files_done, files_total, state.bytes_done, bytes_total, state.current))

    def deliver_bytes(n: int) -> None:
        state.bytes_done += n
        if state.callback_error is not None or cancel.is_set():
            return
        try:
            emit()
        except BaseException as exc:  # re-raised by the coroutine below
            state.callback_error = exc
            cancel.set()

    counter = ByteCounter(loop, deliver_bytes)

    def work(item: UploadItem) -> None:
        if cancel.is_set():
            raise TransferCancelled

        def on_bytes(n: int) -> None:
            if cancel.is_set():
                raise TransferCancelled
            counter.add(n)

        upload(item, on_bytes)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="storage-upload")
    futures = {loop.run_in_executor(pool, work, item): item for item in items}
    pending: set[asyncio.Future[None]] = set(futures)
    fatal: StorageUnavailableError | None = None
    try:
        emit()
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            counter.flush()  # bytes reported before these completions count first
            for fut in done:
                item = futures[fut]
                exc = fut.exception()
                if exc is None:
                    state.files_done += 1
                    state.bytes_uploaded += item.size
                    state.current = item.name
                    state.uploaded.append(item.name)
                elif isinstance(exc, TransferCancelled):
                    pass
                elif isinstance(exc, StorageUnavailableError):
                    fatal = fatal or exc
                    cancel.set()
                elif isinstance(exc, StorageError):
                    state.failed.append((item.name, str(exc)))
                else:
                    raise exc
            if state.callback_error is not None:
                raise state.callback_error
            if not cancel.is_set():
                emit()
        counter.flush()
        if state.callback_error is not None:
            raise state.callback_error
    finally:
        if pending:
            cancel.set()
            await asyncio.wait(pending)
            for fut in pending:  # retrieved, so asyncio does not log them as lost
                if not fut.cancelled():
                    fut.exception()
        pool.shutdown(wait=False)
    if fatal is not None:
        raise fatal
    return UploadOutcome(
        uploaded=tuple(sorted(state.uploaded)),
        failed=tuple(sorted(state.failed)),
        bytes_uploaded=state.bytes_uploaded,
    )


async def map_in_threads(fn: Callable[[A], R], items: Sequence[A], concurrency: int) -> list[R | BaseException]:
    """`fn` over `items` in at most `concurrency` threads; results (or exceptions) in order."""
    if not items:
        return []
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items))), thread_name_prefix="storage")
    try:
        futures = [loop.run_in_executor(pool, fn, item) for item in items]
        return await asyncio.gather(*futures, return_exceptions=True)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def start_in_background(fn: Callable[..., R], *args: object) -> Future[R]:
    """Run `fn(*args)` now in a daemon thread; its result or exception arrives in the Future.
    Daemon: a process that exits before reading the answer does not wait for it (a request to an
    unreachable bucket can take its whole timeout)."""
    future: Future[R] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name="storage-prefetch", daemon=True).start()
    return future
