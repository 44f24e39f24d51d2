"""Orphans of killed processes are cleaned (issue 9, item 11): incomplete multipart uploads the app
started (billed until aborted) when the bucket is next synced, `.at-part-*` copies in a folder
bucket, and stale atomic-write temp files when the library is next opened. Fresh ones, and the
worker's own uploads, are left alone. moto for S3."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from actor_trainer.core.events import EventBus, LogEvent
from actor_trainer.core.library import Library
from actor_trainer.core.storage import s3 as s3_module
from actor_trainer.core.storage.local import LocalStorage
from actor_trainer.core.sync_service import SyncService
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.library_factory import make_library

HOURS_AGO = time.time() - 2 * 3600


def age(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(b"half")
    os.utime(path, (HOURS_AGO, HOURS_AGO))
    return path


def test_opening_the_library_removes_stale_temp_files_only(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 2})
    stale = [age(lib / ".actors.json.k3j2h1.tmp"), age(lib / "actor_training_versions" / ".0000.json.x9y8.tmp")]
    fresh = lib / ".actors.json.new1.tmp"
    fresh.write_bytes(b"being written")
    kept = [age(lib / ".hidden-notes"), age(lib / "notes.tmp"), fresh]
    library = Library(lib)
    assert sorted(library.removed_orphans) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    part = age(lib / "actors" / "0000" / "training_data" / ".at-part-1a2b-img_09.png")
    fix = age(lib / "actors" / "0000" / "training_data" / ".img_00.png.abcd12.tmp")
    scan = library.scan_training_data(0)
    assert not part.exists() and not fix.exists() and scan.image_count == 2


@pytest.mark.asyncio
async def test_a_folder_bucket_loses_stale_part_files_at_the_first_sync(tmp_path: Path) -> None:
    lib = make_library(tmp_path / "lib", images={0: 2})
    bucket = tmp_path / "bucket"
    stale = age(bucket / "actors" / "0000" / "training_data" / ".at-part-dead-img_00.png")
    fresh = bucket / "actors" / "0001" / "models" / ".at-part-live-actor_0001_V1.safetensors"
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"the worker is writing this")
    events = EventBus()
    lines: list[str] = []
    events.subscribe(lambda e: lines.append(e.message) if isinstance(e, LogEvent) else None)
    service = SyncService(Library(lib), LocalStorage(bucket), events)
    assert (await service.sync(0)).ok
    assert not stale.exists() and fresh.exists()
    assert any("Cleaned up after interrupted uploads: 1" in line for line in lines)


@pytest.mark.asyncio
async def test_stale_multipart_uploads_under_training_data_are_aborted(
    tmp_path: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_bucket.client()
    ours = "studio/actors/0000/training_data/huge.png"
    workers = "studio/actors/0000/models/actor_0000_V1.safetensors"
    for key in (ours, workers):
        upload = client.create_multipart_upload(Bucket=s3_bucket.bucket, Key=key)
        client.upload_part(
            Bucket=s3_bucket.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
        )

    def pending() -> list[str]:
        return sorted(u["Key"] for u in client.list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads", []))

    storage = s3_bucket.storage(prefix="studio")
    # moto dates every upload in 2010: with a cutoff further back than that, they count as just
    # started (as by a sync running in another process) and are kept.
    with monkeypatch.context() as m:
        m.setattr(s3_module, "ORPHAN_AGE_S", 100 * 365 * 24 * 3600)
        assert await storage.clean_orphans() == []
    assert pending() == sorted([ours, workers])
    # Old enough (the real cutoff): the next sync aborts ours and leaves the worker's alone.
    lib = make_library(tmp_path / "lib", images={0: 2})
    events = EventBus()
    lines: list[str] = []
    events.subscribe(lambda e: lines.append(e.message) if isinstance(e, LogEvent) else None)
    service = SyncService(Library(lib), storage, events)
    assert (await service.sync(0)).ok
    assert pending() == [workers]
    assert any("aborted an incomplete upload of studio/actors/0000/training_data/huge.png" in line for line in lines)
    # Once per bucket and process: the next sync asks no more.
    assert (await service.sync(0)).ok
    assert sum("Cleaned up" in line for line in lines) == 1
