"""The storage interface shared by the S3 backend and the local-folder backend (sandbox).

Key layout (docs/architecture.md): `<prefix>actors/<NNNN>/training_data/<file>` for training data and
`<prefix>actors/<NNNN>/models/<model_name>.safetensors` for LoRAs. Keys are built from raw file
names; URLs are encoded once, at the edge (an `s3://` URL carries the raw key; a `file://` URL is
percent-encoded by `Path.as_uri()` and decoded when parsed back).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from actor_trainer.core.errors import StorageError

# --- errors -------------------------------------------------------------------------------------


class StorageUnavailableError(StorageError):
    """The storage as a whole cannot be used (credentials, bucket, access, endpoint, region).

    Retrying file by file is pointless, so `sync` stops at the first one and raises it.
    """


class StorageObjectNotFoundError(StorageError):
    """The object a URL names does not exist."""


# --- data shapes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFile:
    """A training file on the local disk (an image or a caption)."""

    name: str
    path: Path
    size: int


@dataclass(frozen=True)
class RemoteObject:
    """One stored training file, as a listing reports it."""

    name: str
    key: str
    size: int
    #: The content MD5 when the listing proves it cheaply (a single-part ETag, which S3 computes as
    #: the MD5 of the body). Never a multipart ETag. `compare` confirms a mismatch against the MD5
    #: we keep in object metadata before calling a file changed.
    md5: str | None
    #: The raw ETag without quotes ("<hex>" or "<hex>-<parts>"); None for the local backend.
    etag: str | None = None


class FileSyncState(StrEnum):
    IN_SYNC = "in_sync"
    LOCAL_ONLY = "local_only"
    REMOTE_ONLY = "remote_only"
    CHANGED = "changed"


@dataclass(frozen=True)
class FileComparison:
    name: str
    state: FileSyncState
    local_size: int | None
    remote_size: int | None


@dataclass(frozen=True)
class SyncStatus:
    actor_id: int
    files: tuple[FileComparison, ...]

    def count(self, state: FileSyncState) -> int:
        return sum(1 for f in self.files if f.state is state)

    def names(self, state: FileSyncState) -> tuple[str, ...]:
        return tuple(f.name for f in self.files if f.state is state)

    @property
    def local_count(self) -> int:
        return sum(1 for f in self.files if f.local_size is not None)

    @property
    def remote_count(self) -> int:
        return sum(1 for f in self.files if f.remote_size is not None)

    @property
    def is_synced(self) -> bool:
        """Every local file is in the bucket unchanged (and there is at least one)."""
        local = [f for f in self.files if f.local_size is not None]
        return bool(local) and all(f.state is FileSyncState.IN_SYNC for f in local)


@dataclass(frozen=True)
class SyncProgress:
    """Progress of one `sync`: counts cover only the files being uploaded (not those skipped)."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    current: str | None = None


@dataclass(frozen=True)
class SyncResult:
    """What a `sync` did. In a dry run, `uploaded` and `bytes_uploaded` say what it *would* upload."""

    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (name, error message)
    bytes_uploaded: int
    dry_run: bool

    @property
    def ok(self) -> bool:
        return not self.failed


ProgressCallback = Callable[[SyncProgress], None]
BytesCallback = Callable[[int, int], None]  # (done, total)


# --- the interface ------------------------------------------------------------------------------


class Storage(abc.ABC):
    """Where training data and LoRAs live remotely. All blocking work runs off the event loop.

    Every coroutine raises `StorageError` (message + actionable hint) on failure, except
    `sync`, which records per-file failures in its result and raises only when the whole run
    cannot go on (credentials, bucket, access, endpoint).
    """

    #: "s3" or "local"
    kind: str
    #: "s3": jobs carry the storage's own URLs (the worker has bucket credentials);
    #: "presigned": jobs carry presigned https URLs (a worker without credentials can still GET).
    url_style: str = "s3"

    async def worker_url(self, url: str, expires_s: int = 24 * 3600) -> str:
        """The URL to put in a job so the worker can download `url`, following `url_style`."""
        if self.url_style == "presigned":
            return await self.presign_url(url, expires_s)
        return url

    @abc.abstractmethod
    def training_data_url(self, actor_id: int, name: str) -> str:
        """`s3://bucket/<prefix>actors/NNNN/training_data/<name>` (or `file://...` for local)."""

    @abc.abstractmethod
    def model_url(self, actor_id: int, model_name: str) -> str:
        """Where the worker writes the LoRA (the request's `output_url`)."""

    @abc.abstractmethod
    async def list_training_data(self, actor_id: int) -> list[RemoteObject]:
        """Every stored training file of the actor, sorted by name (all pages of the listing)."""

    @abc.abstractmethod
    async def compare(self, actor_id: int, local: Sequence[LocalFile]) -> SyncStatus:
        """Local files vs the stored ones, by size and MD5. Files sorted by name."""

    @abc.abstractmethod
    async def sync(
        self,
        actor_id: int,
        local: Sequence[LocalFile],
        *,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
        concurrency: int | None = None,
    ) -> SyncResult:
        """Upload the local files that are missing or changed remotely; never delete anything.

        `progress` is called on the event loop thread. If it raises, or the task is cancelled,
        in-flight transfers are aborted, and the exception propagates; a later `sync` uploads
        only what is still missing.
        """

    @abc.abstractmethod
    async def read_url(self, url: str) -> bytes: ...

    @abc.abstractmethod
    async def write_url(self, url: str, data: bytes, *, metadata: dict[str, str] | None = None) -> None:
        """Store `data` at `url` with `metadata` (plus its MD5 under "md5")."""

    @abc.abstractmethod
    async def read_metadata(self, url: str) -> dict[str, str]:
        """The metadata stored with the object at `url` (keys lower-case, "md5" included)."""

    @abc.abstractmethod
    async def exists_url(self, url: str) -> bool: ...

    @abc.abstractmethod
    async def download_url(self, url: str, dest: Path, progress: BytesCallback | None = None) -> None:
        """Download to `dest` atomically (a temp file beside it, then a rename).

        `progress(done, total)` is called on the event loop thread.
        """

    @abc.abstractmethod
    async def presign_url(self, url: str, expires_s: int = 24 * 3600) -> str:
        """A URL anyone can GET without credentials (S3: presigned https; local: the file URL)."""

    @abc.abstractmethod
    async def check(self) -> str:
        """Test the connection (a listing); return a one-line human summary or raise StorageError."""

    async def clean_orphans(self) -> list[str]:
        """Remove what interrupted uploads and downloads of this app left in the bucket (S3: abort
        its stale incomplete multipart uploads, which are billed until aborted; a folder: stale temp
        files). Returns one line per thing removed. Nothing to do by default."""
        return []

    def prefetch(self, actor_id: int, *, clean_orphans: bool = False) -> bool:
        """Start the actor's listing (and the `clean_orphans` requests) now, in the background,
        for the next `sync`/`compare` of that actor to use. Returns whether anything started;
        nothing by default."""
        return False


# --- key layout ---------------------------------------------------------------------------------


def training_data_key(prefix: str, actor_id: int, name: str) -> str:
    return f"{normalize_prefix(prefix)}actors/{actor_id:04d}/training_data/{name}"


def training_data_prefix(prefix: str, actor_id: int) -> str:
    return f"{normalize_prefix(prefix)}actors/{actor_id:04d}/training_data/"


def model_key(prefix: str, actor_id: int, model_name: str) -> str:
    return f"{normalize_prefix(prefix)}actors/{actor_id:04d}/models/{model_name}.safetensors"


def normalize_prefix(prefix: str) -> str:
    prefix = prefix.strip().strip("/")
    return f"{prefix}/" if prefix else ""
