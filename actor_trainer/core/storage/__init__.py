"""Remote storage of training data and LoRAs: one interface, an S3 and a local-folder backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import (
    BytesCallback,
    FileComparison,
    FileSyncState,
    LocalFile,
    ProgressCallback,
    RemoteObject,
    Storage,
    StorageObjectNotFoundError,
    StorageUnavailableError,
    SyncProgress,
    SyncResult,
    SyncStatus,
    model_key,
    normalize_prefix,
    training_data_key,
    training_data_prefix,
)
from actor_trainer.core.storage.hashing import Md5Cache
from actor_trainer.core.storage.local import LocalStorage

if TYPE_CHECKING:
    from actor_trainer.core.storage.s3 import S3Storage


def __getattr__(name: str) -> Any:
    # boto3 costs ~0.25 s to import: only code that talks to a real bucket pays for it.
    if name == "S3Storage":
        from actor_trainer.core.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(name)


__all__ = [
    "BytesCallback",
    "FileComparison",
    "FileSyncState",
    "LocalFile",
    "LocalStorage",
    "Md5Cache",
    "ProgressCallback",
    "RemoteObject",
    "S3Storage",
    "Storage",
    "StorageError",
    "StorageObjectNotFoundError",
    "StorageUnavailableError",
    "SyncProgress",
    "SyncResult",
    "SyncStatus",
    "make_storage",
    "model_key",
    "normalize_prefix",
    "training_data_key",
    "training_data_prefix",
]


def make_storage(
    *,
    bucket: str | None = None,
    prefix: str = "",
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    url_style: str = "s3",
    local_root: Path | None = None,
    hash_cache: Md5Cache | None = None,
) -> Storage:
    """An S3Storage when a bucket is configured, else a LocalStorage in `local_root` (the sandbox)."""
    if bucket:
        from actor_trainer.core.storage.s3 import S3Storage

        return S3Storage(
            bucket,
            prefix,
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            url_style=url_style,
            hash_cache=hash_cache,
        )
    if local_root is None:
        raise StorageError("No storage is configured.", "Set an S3 bucket in Settings → Storage (or use the sandbox).")
    return LocalStorage(local_root, prefix, hash_cache=hash_cache)
