"""Presigned PUT URLs for a worker without bucket credentials (contract v2): made up front, they
let a plain HTTP PUT write the object at the app's key, and nothing else."""

from __future__ import annotations

import httpx
import pytest

from actor_trainer.core.errors import StorageError
from actor_trainer.core.sample_keys import sample_key
from actor_trainer.core.upload_urls import worker_put_urls
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401


@pytest.mark.asyncio
async def test_presigned_put_urls_write_at_the_apps_keys(s3_bucket: S3Bucket) -> None:
    storage = s3_bucket.storage(prefix="studio", url_style="presigned")
    keys = [sample_key("studio", 4, "actor_0004_V1", 500, i) for i in range(2)]
    urls = [storage.url_for_key(k) for k in keys]
    signed = await worker_put_urls(storage, urls, 3600)
    assert len(signed) == 2 and all(u.startswith("http") and "Signature" in u for u in signed)
    async with httpx.AsyncClient() as client:  # a worker without credentials: a plain PUT
        for i, url in enumerate(signed):
            answer = await client.put(url, content=b"png %d" % i, headers={"Content-Type": "image/png"})
            assert answer.status_code == 200
    assert [await storage.read_url(u) for u in urls] == [b"png 0", b"png 1"]
    with pytest.raises(StorageError):
        await worker_put_urls(storage, urls, 8 * 24 * 3600)


@pytest.mark.asyncio
async def test_s3_style_urls_stay_as_they_are(s3_bucket: S3Bucket) -> None:
    storage = s3_bucket.storage(prefix="studio")
    urls = [storage.url_for_key("studio/actors/0004/models/x.png")]
    assert await worker_put_urls(storage, urls, 3600) == urls
