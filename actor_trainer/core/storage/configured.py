"""The storage a Config asks for: its S3 bucket, or the sandbox's local folder when none is set.

Light on purpose (no aiohttp, no RunPod client): `actor-trainer sync` and `actors` build their
storage from here, so a command that only talks to the bucket starts fast.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from actor_trainer.core.settings import Config, cache_dir, data_home
from actor_trainer.core.storage import make_storage
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.storage.hashing import Md5Cache


def sandbox_bucket_dir(library_root: Path) -> Path:
    """The sandbox's local "bucket", one per library (so two libraries' actor 0000 never mix)."""
    digest = hashlib.sha256(str(library_root.resolve()).encode()).hexdigest()[:10]
    return data_home() / "sandbox-bucket" / digest


def hash_cache_file() -> Path:
    """Where file MD5s are kept between runs (keyed by path, size and mtime)."""
    return cache_dir() / "file-md5s.json"


def storage_for(config: Config, *, hash_cache: Md5Cache | None = None) -> Storage:
    """The configured bucket, or the sandbox's local folder when none is configured. MD5s of
    training files are remembered on disk, so a re-sync in a new process hashes nothing new."""
    cache = hash_cache if hash_cache is not None else Md5Cache(hash_cache_file())
    s = config.storage
    if s is None:
        return make_storage(local_root=sandbox_bucket_dir(config.data_dir), hash_cache=cache)
    return make_storage(
        bucket=s.bucket,
        prefix=s.prefix,
        endpoint_url=s.endpoint_url,
        region=s.region,
        access_key_id=s.access_key_id,
        secret_access_key=s.secret_access_key,
        url_style=s.url_style,
        hash_cache=cache,
    )
