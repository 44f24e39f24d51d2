"""Where a worker uploads a run's samples and checkpoints and a Try's images (contract v2,
docs/worker-contract.md): the storage's own URL, or — in presigned mode, for a worker without
bucket credentials — a presigned PUT URL, every one made up front (they must live as long as the
job's ttl, at most 7 days for SigV4).

`worker_put_urls(storage, urls, expires_s)` (or `worker_put_urls_blocking` off the loop) keeps the
order; `expires_s` should be the job's ttl (request_builder.job_ttl_ms). A local (sandbox) storage's URLs need
no signature. Blocking work runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import Storage

MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def _presign_put_blocking(storage: Any, urls: Sequence[str], expires_s: int) -> list[str]:
    from actor_trainer.core.storage.s3 import parse_s3_url  # botocore: only where S3 is in use

    client = storage._presigning_client()  # signs for the bucket's region (core/storage/s3.py)
    signed = []
    for url in urls:
        bucket, key = parse_s3_url(url)
        signed.append(
            str(client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s))
        )
    return signed


def worker_put_urls_blocking(storage: Storage, urls: Sequence[str], expires_s: int) -> list[str]:
    """`worker_put_urls` for a caller already off the event loop (e.g. inside asyncio.to_thread)."""
    if getattr(storage, "url_style", "s3") != "presigned" or getattr(storage, "kind", "") != "s3":
        return list(urls)
    if not 1 <= expires_s <= MAX_PRESIGN_SECONDS:
        raise StorageError(f"A presigned URL cannot last {expires_s} s.", "Use between 1 second and 7 days.")
    return _presign_put_blocking(storage, list(urls), expires_s)


async def worker_put_urls(storage: Storage, urls: Sequence[str], expires_s: int) -> list[str]:
    """The URLs to put in a job for the worker to upload to, following the storage's `url_style`."""
    return await asyncio.to_thread(worker_put_urls_blocking, storage, list(urls), expires_s)
