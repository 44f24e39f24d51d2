"""S3Storage against a real HTTP S3 server (moto on 127.0.0.1): sync states, multipart, odd names,
interruption and resume, dry run, presigned URLs, downloads and error mapping."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage import (
    FileSyncState,
    LocalFile,
    S3Storage,
    StorageObjectNotFoundError,
    StorageUnavailableError,
    SyncProgress,
    make_storage,
)
from actor_trainer.core.storage.s3_errors import s3_error
from actor_trainer.core.storage.transfers import OnBytes
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401

MiB = 1024 * 1024


def write_files(folder: Path, files: dict[str, bytes]) -> list[LocalFile]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        out.append(LocalFile(name=name, path=folder / name, size=len(data)))
    return out


def scan(folder: Path) -> list[LocalFile]:
    return [LocalFile(p.name, p, p.stat().st_size) for p in sorted(folder.iterdir())]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def count_requests(storage: S3Storage) -> list[str]:
    """Every HTTP request the storage's client sends, as 'METHOD path' (appended as they go)."""
    seen: list[str] = []

    def before_send(request: Any, **_: Any) -> None:
        seen.append(f"{request.method} {request.url}")

    storage.boto3_client().meta.events.register("before-send.s3", before_send)
    return seen


@pytest.mark.asyncio
async def test_compare_reports_every_state_including_a_same_size_change(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    storage = s3_bucket.storage(prefix="studio/")
    folder = tmp_path / "training_data"
    first = write_files(folder, {"a.png": b"A" * 100, "c.png": b"C" * 100, "d.png": b"D" * 100})
    result = await storage.sync(3, first)
    assert result.uploaded == ("a.png", "c.png", "d.png") and result.ok

    write_files(folder, {"b.png": b"new", "c.png": b"C" * 150, "d.png": b"E" * 100})
    s3_bucket.client().put_object(
        Bucket=s3_bucket.bucket, Key="studio/actors/0003/training_data/e.png", Body=b"remote only"
    )

    status = await storage.compare(3, scan(folder))

    states = {f.name: f.state for f in status.files}
    assert states == {
        "a.png": FileSyncState.IN_SYNC,
        "b.png": FileSyncState.LOCAL_ONLY,
        "c.png": FileSyncState.CHANGED,
        "d.png": FileSyncState.CHANGED,  # same size, different bytes
        "e.png": FileSyncState.REMOTE_ONLY,
    }
    assert (status.local_count, status.remote_count, status.is_synced) == (4, 4, False)
    listing = await storage.list_training_data(3)
    assert [(o.name, o.size) for o in listing] == [("a.png", 100), ("c.png", 100), ("d.png", 100), ("e.png", 11)]
    assert listing[0].md5 == md5(b"A" * 100)
    assert listing[0].key == "studio/actors/0003/training_data/a.png"

    again = await storage.sync(3, scan(folder))
    assert again.uploaded == ("b.png", "c.png", "d.png") and again.skipped == ("a.png",)
    final = await storage.compare(3, scan(folder))
    assert final.is_synced and final.count(FileSyncState.REMOTE_ONLY) == 1  # sync never deletes


@pytest.mark.asyncio
async def test_listing_follows_every_page(s3_bucket: S3Bucket) -> None:
    storage = s3_bucket.storage()
    storage.list_page_size = 2
    client = s3_bucket.client()
    for i in range(5):
        client.put_object(Bucket=s3_bucket.bucket, Key=f"actors/0001/training_data/{i}.png", Body=b"x")
    client.put_object(Bucket=s3_bucket.bucket, Key="actors/0001/training_data/nested/skip.png", Body=b"x")
    requests = count_requests(storage)

    listing = await storage.list_training_data(1)

    assert [o.name for o in listing] == ["0.png", "1.png", "2.png", "3.png", "4.png"]
    assert len(requests) >= 3


@pytest.mark.asyncio
async def test_a_multipart_file_keeps_its_md5_and_a_no_op_resync_costs_one_request(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    storage = s3_bucket.storage()
    data = os.urandom(9 * MiB)
    local = write_files(tmp_path, {"big.png": data, "small.png": b"s" * 10})

    result = await storage.sync(0, local)

    assert result.uploaded == ("big.png", "small.png")
    head = s3_bucket.client().head_object(Bucket=s3_bucket.bucket, Key="actors/0000/training_data/big.png")
    assert "-" in head["ETag"]  # multipart: the ETag is not the MD5 ...
    assert head["Metadata"]["md5"] == md5(data)  # ... which is why we keep it in metadata
    assert head["ContentType"] == "image/png"

    status = await storage.compare(0, local)
    assert status.is_synced
    hashed_before = storage.hash_cache.hashed
    requests = count_requests(storage)
    again = await storage.sync(0, local)
    assert again.uploaded == () and again.skipped == ("big.png", "small.png")
    assert len(requests) == 1 and requests[0].startswith("GET")  # the listing; HEAD result cached
    assert storage.hash_cache.hashed == hashed_before  # nothing re-hashed


@pytest.mark.asyncio
async def test_objects_uploaded_by_other_tools(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    storage = s3_bucket.storage()
    plain, parts = b"p" * 1000, os.urandom(6 * MiB)
    local = write_files(tmp_path, {"plain.png": plain, "parts.png": parts})
    client = s3_bucket.client()
    client.put_object(Bucket=s3_bucket.bucket, Key="actors/0002/training_data/plain.png", Body=plain)
    client.upload_file(  # multipart, no md5 metadata
        str(tmp_path / "parts.png"),
        s3_bucket.bucket,
        "actors/0002/training_data/parts.png",
        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )

    status = await storage.compare(2, local)

    states = {f.name: f.state for f in status.files}
    # A single-part ETag is an MD5; a multipart one without metadata proves nothing.
    assert states == {"plain.png": FileSyncState.IN_SYNC, "parts.png": FileSyncState.CHANGED}
    result = await storage.sync(2, local)
    assert result.uploaded == ("parts.png",)
    assert (await storage.compare(2, local)).is_synced


@pytest.mark.asyncio
async def test_names_with_spaces_and_accents_round_trip(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    storage = s3_bucket.storage(prefix="my studio")
    files = {"front view 01.png": b"front", "été_ß.jpg": b"summer", "a#b?c+d.png": b"odd"}
    local = write_files(tmp_path, files)

    result = await storage.sync(7, local)

    assert sorted(result.uploaded) == sorted(files)
    assert (await storage.compare(7, local)).is_synced
    keys = [o["Key"] for o in s3_bucket.client().list_objects_v2(Bucket=s3_bucket.bucket)["Contents"]]
    assert "my studio/actors/0007/training_data/front view 01.png" in keys  # raw, never %20
    url = storage.training_data_url(7, "été_ß.jpg")
    assert url == f"s3://{s3_bucket.bucket}/my studio/actors/0007/training_data/été_ß.jpg"
    assert await storage.read_url(url) == b"summer"
    odd = storage.training_data_url(7, "a#b?c+d.png")
    assert await storage.read_url(odd) == b"odd"
    async with httpx.AsyncClient() as http:
        for name, data in files.items():
            presigned = await storage.presign_url(storage.training_data_url(7, name))
            response = await http.get(presigned)
            assert response.status_code == 200 and response.content == data


class StopAfter(Exception):
    pass


class GatedS3Storage(S3Storage):
    """Uploads of the `gated` names wait at a gate — before they start, or (`stall_during`) after
    their first reported bytes — polling the sync's stop signal meanwhile (`on_bytes` raises once
    the sync is interrupted), so where a sync stops is deterministic."""

    def __init__(self, bucket: S3Bucket, gated: set[str], *, stall_during: bool = False) -> None:
        super().__init__(
            bucket.bucket,
            endpoint_url=bucket.endpoint_url,
            region=bucket.region,
            access_key_id=bucket.access_key_id,
            secret_access_key=bucket.secret_access_key,
        )
        self.gated = gated
        self.stall_during = stall_during
        self.gate = threading.Event()

    def _upload_file_blocking(self, path: Path, key: str, md5: str, on_bytes: OnBytes) -> None:
        def wait_at_gate() -> None:
            while path.name in self.gated and not self.gate.wait(0.01):
                on_bytes(0)

        def stalling(n: int) -> None:
            on_bytes(n)
            wait_at_gate()

        if not self.stall_during:
            # boto3 reports bytes in 256 KiB steps (a small file's only report comes after it is
            # stored), so small uploads are held before they start.
            wait_at_gate()
        super()._upload_file_blocking(path, key, md5, stalling if self.stall_during else on_bytes)


@pytest.mark.asyncio
async def test_an_interrupted_sync_resumes_with_only_the_rest(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    local = write_files(tmp_path, {f"img_{i:02d}.png": os.urandom(20_000 + i) for i in range(12)})
    first_four = tuple(f.name for f in local[:4])
    storage = GatedS3Storage(s3_bucket, gated={f.name for f in local[4:]})

    def stop_after_four(p: SyncProgress) -> None:
        if p.files_done >= 4:
            raise StopAfter

    with pytest.raises(StopAfter):
        await storage.sync(5, local, progress=stop_after_four, concurrency=2)

    middle = await storage.compare(5, local)
    assert middle.names(FileSyncState.IN_SYNC) == first_four
    assert middle.count(FileSyncState.LOCAL_ONLY) == 8  # the stopped uploads left nothing behind

    storage.gate.set()
    seen: list[SyncProgress] = []
    result = await storage.sync(5, local, progress=seen.append, concurrency=2)

    assert result.skipped == first_four
    assert result.uploaded == tuple(f.name for f in local[4:])
    assert seen[0].files_done == 0 and seen[0].files_total == 8
    assert seen[-1].files_done == seen[-1].files_total
    assert seen[-1].bytes_done == seen[-1].bytes_total == result.bytes_uploaded
    assert (await storage.compare(5, local)).is_synced


@pytest.mark.asyncio
async def test_an_interrupted_multipart_upload_leaves_nothing_behind(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    storage = GatedS3Storage(s3_bucket, gated={"big.png"}, stall_during=True)
    local = write_files(tmp_path, {"big.png": os.urandom(9 * MiB)})

    def stop_early(p: SyncProgress) -> None:
        if p.bytes_done > 0:
            raise StopAfter

    with pytest.raises(StopAfter):
        await storage.sync(4, local, progress=stop_early)

    client = s3_bucket.client()
    assert client.list_objects_v2(Bucket=s3_bucket.bucket).get("KeyCount") == 0
    assert client.list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads", []) == []


@pytest.mark.asyncio
async def test_cancelling_the_sync_task_stops_it(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    local = write_files(tmp_path, {f"{i:02d}.png": os.urandom(50_000) for i in range(10)})
    storage = GatedS3Storage(s3_bucket, gated={f.name for f in local[2:]})
    two_done = asyncio.Event()
    task = asyncio.create_task(
        storage.sync(6, local, progress=lambda p: two_done.set() if p.files_done >= 2 else None, concurrency=3)
    )
    await asyncio.wait_for(two_done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    status = await storage.compare(6, local)
    assert status.names(FileSyncState.IN_SYNC) == ("00.png", "01.png")
    assert status.count(FileSyncState.LOCAL_ONLY) == 8


@pytest.mark.asyncio
async def test_dry_run_writes_nothing(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    storage = s3_bucket.storage()
    local = write_files(tmp_path, {"a.png": b"aa", "b.png": b"bbb"})

    result = await storage.sync(1, local, dry_run=True)

    assert result.dry_run and result.uploaded == ("a.png", "b.png") and result.bytes_uploaded == 5
    assert s3_bucket.client().list_objects_v2(Bucket=s3_bucket.bucket).get("KeyCount") == 0


@pytest.mark.asyncio
async def test_single_objects_write_read_metadata_presign(s3_bucket: S3Bucket) -> None:
    storage = s3_bucket.storage(prefix="p", url_style="presigned")
    url = storage.model_url(0, "actor_0000_V1")
    assert url == f"s3://{s3_bucket.bucket}/p/actors/0000/models/actor_0000_V1.safetensors"
    assert not await storage.exists_url(url)

    await storage.write_url(url, b"lora bytes", metadata={"Sha256": "abc"})

    assert await storage.exists_url(url)
    assert await storage.read_url(url) == b"lora bytes"
    assert await storage.read_metadata(url) == {"sha256": "abc", "md5": md5(b"lora bytes")}
    presigned = await storage.worker_url(url)
    assert presigned.startswith("http://127.0.0.1:") and "X-Amz-Signature" in presigned
    async with httpx.AsyncClient() as http:
        assert (await http.get(presigned)).content == b"lora bytes"
    assert await s3_bucket.storage().worker_url(url) == url  # url_style "s3" keeps s3:// URLs
    with pytest.raises(StorageObjectNotFoundError):
        await storage.read_url(url + ".missing")
    with pytest.raises(StorageError, match="Not an S3 URL"):
        await storage.read_url("https://example.com/x")


@pytest.mark.asyncio
async def test_download_url_is_atomic_and_reports_progress(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    storage = s3_bucket.storage()
    data = os.urandom(3 * MiB + 17)
    url = storage.model_url(1, "v1")
    await storage.write_url(url, data)
    dest = tmp_path / "loras" / "v1.safetensors"
    calls: list[tuple[int, int]] = []

    await storage.download_url(url, dest, progress=lambda done, total: calls.append((done, total)))

    assert dest.read_bytes() == data
    assert calls and calls[-1] == (len(data), len(data))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert os.listdir(dest.parent) == ["v1.safetensors"]  # no temp file left
    with pytest.raises(StorageObjectNotFoundError):
        await storage.download_url(url + "x", tmp_path / "other.bin")
    assert not (tmp_path / "other.bin").exists()

    def stop(done: int, total: int) -> None:
        raise StopAfter

    with pytest.raises(StopAfter):
        await storage.download_url(url, tmp_path / "stopped" / "v1.safetensors", progress=stop)
    assert [p.name for p in (tmp_path / "stopped").iterdir()] in ([], ["v1.safetensors"])  # no temp file


@pytest.mark.asyncio
async def test_check_summarises_the_bucket(s3_bucket: S3Bucket) -> None:
    storage = s3_bucket.storage(prefix="studio")
    await storage.write_url(storage.training_data_url(0, "x.png"), b"x")
    summary = await storage.check()
    assert s3_bucket.bucket in summary and "1 objects under prefix 'studio/'" in summary


@pytest.mark.asyncio
async def test_a_missing_bucket_is_reported_with_a_hint(s3_server: str, aws_env: None, tmp_path: Path) -> None:
    storage = S3Storage("no-such-bucket-here", endpoint_url=s3_server)
    with pytest.raises(StorageUnavailableError) as caught:
        await storage.check()
    assert "does not exist" in caught.value.message and "bucket name" in caught.value.hint
    local = write_files(tmp_path, {"a.png": b"a"})
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        await storage.sync(0, local)


@pytest.mark.asyncio
async def test_an_unreachable_endpoint_is_reported(aws_env: None) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    storage = S3Storage("bucket", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
    with pytest.raises(StorageUnavailableError) as caught:
        await storage.check()
    assert "Cannot reach" in caught.value.message and "endpoint URL" in caught.value.hint


@pytest.mark.asyncio
async def test_missing_credentials_are_reported(s3_server: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = S3Storage("bucket", endpoint_url=s3_server)
    with pytest.raises(StorageUnavailableError) as caught:
        await storage.list_training_data(0)
    assert "No S3 credentials" in caught.value.message and "AWS_ACCESS_KEY_ID" in caught.value.hint
    with pytest.raises(StorageError, match="half of an S3 key pair"):
        S3Storage("bucket", access_key_id="only-the-id")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("AccessDenied", "s3:ListBucket"),
        ("InvalidAccessKeyId", "access key id"),
        ("SignatureDoesNotMatch", "secret access key"),
        ("PermanentRedirect", "region"),
    ],
)
def test_refusals_become_unavailable_errors_with_hints(code: str, fragment: str) -> None:
    refusal = ClientError({"Error": {"Code": code, "Message": "refused"}}, "ListObjectsV2")
    error = s3_error(refusal, action="list the bucket", bucket="b", endpoint="http://127.0.0.1:1")
    assert isinstance(error, StorageUnavailableError)
    assert fragment in error.hint


def test_the_secret_never_shows(s3_server: str) -> None:
    storage = S3Storage("b", endpoint_url=s3_server, access_key_id="AKIDEXAMPLE", secret_access_key="s3cr3t")
    assert "s3cr3t" not in repr(storage)


@pytest.mark.asyncio
async def test_the_endpoint_can_come_from_boto3s_variable(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_bucket.endpoint_url)
    storage = make_storage(bucket=s3_bucket.bucket, prefix="env")
    assert isinstance(storage, S3Storage) and storage.endpoint_url == s3_bucket.endpoint_url
    result = await storage.sync(0, write_files(tmp_path, {"a.png": b"a"}))
    assert result.uploaded == ("a.png",)
    assert s3_bucket.endpoint_url in await storage.check()
