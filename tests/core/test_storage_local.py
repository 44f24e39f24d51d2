"""LocalStorage (the sandbox's bucket) against temporary folders, and the shared sync machinery."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage import (
    FileSyncState,
    LocalFile,
    LocalStorage,
    Md5Cache,
    StorageObjectNotFoundError,
    SyncProgress,
    make_storage,
    training_data_key,
)
from actor_trainer.core.storage.local import META_DIR, path_from_file_url
from actor_trainer.core.storage.threaded import CACHE_BATCH
from actor_trainer.core.storage.transfers import OnBytes

MiB = 1024 * 1024


def write_files(folder: Path, files: dict[str, bytes]) -> list[LocalFile]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return scan(folder)


def scan(folder: Path) -> list[LocalFile]:
    return [LocalFile(p.name, p, p.stat().st_size) for p in sorted(folder.iterdir())]


@pytest.fixture
def bucket(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "bucket", prefix="studio")


@pytest.mark.asyncio
async def test_compare_reports_every_state(bucket: LocalStorage, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    await bucket.sync(2, write_files(folder, {"a.png": b"A" * 50, "c.png": b"C" * 50, "d.png": b"D" * 50}))
    write_files(folder, {"b.png": b"b", "c.png": b"C" * 60, "d.png": b"E" * 50})
    remote_only = bucket.root / training_data_key("studio", 2, "e.png")
    remote_only.write_bytes(b"e")

    status = await bucket.compare(2, scan(folder))

    assert {f.name: f.state for f in status.files} == {
        "a.png": FileSyncState.IN_SYNC,
        "b.png": FileSyncState.LOCAL_ONLY,
        "c.png": FileSyncState.CHANGED,
        "d.png": FileSyncState.CHANGED,  # same size, different bytes
        "e.png": FileSyncState.REMOTE_ONLY,
    }
    result = await bucket.sync(2, scan(folder))
    assert result.uploaded == ("b.png", "c.png", "d.png") and result.skipped == ("a.png",)
    assert (bucket.root / "studio/actors/0002/training_data/d.png").read_bytes() == b"E" * 50
    assert remote_only.exists()  # never deleted


@pytest.mark.asyncio
async def test_odd_names_round_trip_through_file_urls(bucket: LocalStorage, tmp_path: Path) -> None:
    files = {"front view 01.png": b"front", "été_ß.jpg": b"summer", "100% #1?.png": b"odd"}
    local = write_files(tmp_path / "data", files)

    await bucket.sync(0, local)

    assert (await bucket.compare(0, local)).is_synced
    for name, data in files.items():
        url = bucket.training_data_url(0, name)
        assert url.startswith("file:///") and " " not in url  # encoded once, at the edge
        assert path_from_file_url(url).name == name
        assert await bucket.read_url(url) == data
        assert await bucket.presign_url(url) == url


class GatedStorage(LocalStorage):
    """Uploads of the `gated` names wait at a gate, polling the sync's stop signal meanwhile
    (`on_bytes` raises once the sync is interrupted), so where a sync stops is deterministic."""

    def __init__(self, root: Path, gated: set[str]) -> None:
        super().__init__(root)
        self.gated = gated
        self.gate = threading.Event()

    def _upload_file_blocking(self, path: Path, key: str, md5: str, on_bytes: OnBytes) -> None:
        while path.name in self.gated and not self.gate.wait(0.01):
            on_bytes(0)
        super()._upload_file_blocking(path, key, md5, on_bytes)


@pytest.mark.asyncio
async def test_an_interrupted_sync_resumes_with_only_the_rest(tmp_path: Path) -> None:
    local = write_files(tmp_path / "data", {f"{i:02d}.png": os.urandom(5000) for i in range(10)})
    bucket = GatedStorage(tmp_path / "bucket", gated={f.name for f in local[3:]})

    class Stop(Exception):
        pass

    def stop_after_three(p: SyncProgress) -> None:
        if p.files_done >= 3:
            raise Stop

    with pytest.raises(Stop):
        await bucket.sync(1, local, progress=stop_after_three, concurrency=2)
    middle = await bucket.compare(1, local)
    assert middle.names(FileSyncState.IN_SYNC) == ("00.png", "01.png", "02.png")
    assert middle.count(FileSyncState.LOCAL_ONLY) == 7  # nothing half-written

    bucket.gate.set()
    result = await bucket.sync(1, local)

    assert result.skipped == ("00.png", "01.png", "02.png")
    assert result.uploaded == tuple(f"{i:02d}.png" for i in range(3, 10))
    assert (await bucket.compare(1, local)).is_synced
    leftovers = [p for p in bucket.root.rglob("*") if p.name.startswith(".at-part-")]
    assert leftovers == []


@pytest.mark.asyncio
async def test_dry_run_and_no_op_resync(tmp_path: Path) -> None:
    cache = Md5Cache()
    bucket = make_storage(local_root=tmp_path / "bucket", hash_cache=cache)
    local = write_files(tmp_path / "data", {"a.png": b"a" * 10, "b.png": b"b" * 20})

    dry = await bucket.sync(0, local, dry_run=True)
    assert dry.dry_run and dry.uploaded == ("a.png", "b.png") and dry.bytes_uploaded == 30
    assert not (tmp_path / "bucket").exists()

    await bucket.sync(0, local)
    hashed = cache.hashed
    again = await bucket.sync(0, local)
    assert again.uploaded == () and again.skipped == ("a.png", "b.png")
    assert cache.hashed == hashed  # unchanged files are not read again

    rewritten = tmp_path / "data" / "a.png"
    rewritten.write_bytes(b"A" * 10)  # same size; a new mtime even on a coarse clock:
    os.utime(rewritten, ns=(time.time_ns(), rewritten.stat().st_mtime_ns + 2_000_000_000))
    assert (await bucket.sync(0, scan(tmp_path / "data"))).uploaded == ("a.png",)


@pytest.mark.asyncio
async def test_a_resync_of_many_files_reads_only_the_changed_ones(tmp_path: Path) -> None:
    # More files than one cache look-up batch, with the changes in later batches.
    count = 2 * CACHE_BATCH + 7
    cache = Md5Cache()
    bucket = make_storage(local_root=tmp_path / "bucket", hash_cache=cache)
    local = write_files(tmp_path / "data", {f"{i:03d}.png": i.to_bytes(2, "big") for i in range(count)})
    assert len((await bucket.sync(0, local)).uploaded) == count and cache.hashed == count

    changed = [tmp_path / "data" / f"{i:03d}.png" for i in (CACHE_BATCH + 1, count - 1)]
    for path in changed:
        path.write_bytes(b"new")  # another size: changed whatever the clock
    (tmp_path / "data" / f"{count - 2:03d}.png").unlink()
    again = await bucket.sync(0, scan(tmp_path / "data"))

    assert again.uploaded == tuple(p.name for p in changed)
    assert len(again.skipped) == count - 3 and again.failed == ()
    assert cache.hashed == count + 2  # the two changed files, nothing else


@pytest.mark.asyncio
async def test_a_vanished_local_file_is_a_failure_not_a_crash(bucket: LocalStorage, tmp_path: Path) -> None:
    local = write_files(tmp_path / "data", {"a.png": b"a", "gone.png": b"g"})
    (tmp_path / "data" / "gone.png").unlink()

    result = await bucket.sync(0, local)

    assert result.uploaded == ("a.png",)
    assert [name for name, _ in result.failed] == ["gone.png"] and not result.ok
    with pytest.raises(StorageError, match=r"gone\.png"):
        await bucket.compare(0, local)


@pytest.mark.asyncio
async def test_write_read_metadata_download(bucket: LocalStorage, tmp_path: Path) -> None:
    url = bucket.model_url(3, "actor_0003_V2")
    assert path_from_file_url(url) == bucket.root / "studio/actors/0003/models/actor_0003_V2.safetensors"
    assert not await bucket.exists_url(url)
    data = os.urandom(3 * MiB + 5)

    await bucket.write_url(url, data, metadata={"Sha256": "abc"})

    assert await bucket.exists_url(url)
    assert await bucket.read_metadata(url) == {"sha256": "abc", "md5": hashlib.md5(data).hexdigest()}
    assert (bucket.root / META_DIR).is_dir()
    assert await bucket.list_training_data(3) == []  # models and sidecars are not training data
    dest = tmp_path / "out" / "lora.safetensors"
    calls: list[tuple[int, int]] = []
    await bucket.download_url(url, dest, lambda done, total: calls.append((done, total)))
    assert dest.read_bytes() == data
    assert calls[-1] == (len(data), len(data))
    assert os.listdir(dest.parent) == ["lora.safetensors"]

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        await bucket.download_url(url, tmp_path / "stopped" / "lora.safetensors", stop)
    assert [p.name for p in (tmp_path / "stopped").iterdir()] in ([], ["lora.safetensors"])  # no temp file
    with pytest.raises(StorageObjectNotFoundError):
        await bucket.read_url(url + ".missing")
    with pytest.raises(StorageError, match="Not a file URL"):
        await bucket.read_url("s3://bucket/key")
    assert "1 files under prefix 'studio/'" in await bucket.check()


class ThreadRecordingCache(Md5Cache):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def size_and_md5(self, path: Path) -> tuple[int, str]:
        self.threads.add(threading.get_ident())
        return super().size_and_md5(path)


class ThreadRecordingStorage(LocalStorage):
    def __init__(self, root: Path, cache: Md5Cache) -> None:
        super().__init__(root, hash_cache=cache)
        self.threads: set[int] = set()

    def _upload_file_blocking(self, path: Path, key: str, md5: str, on_bytes: OnBytes) -> None:
        self.threads.add(threading.get_ident())
        super()._upload_file_blocking(path, key, md5, on_bytes)


@pytest.mark.asyncio
async def test_hashing_and_copying_run_off_the_event_loop_thread(tmp_path: Path) -> None:
    # Checked by thread, not by timing a stall: a loaded CI machine makes timings lie.
    cache = ThreadRecordingCache()
    bucket = ThreadRecordingStorage(tmp_path / "bucket", cache)
    local = write_files(tmp_path / "data", {f"{i}.png": os.urandom(2 * MiB) for i in range(4)})
    progress: list[SyncProgress] = []
    loop_thread = threading.get_ident()

    result = await bucket.sync(0, local, progress=progress.append, concurrency=2)

    assert result.uploaded == ("0.png", "1.png", "2.png", "3.png")
    assert progress[-1].bytes_done == progress[-1].bytes_total == 8 * MiB
    assert cache.threads and loop_thread not in cache.threads
    assert bucket.threads and loop_thread not in bucket.threads
    assert len(bucket.threads) <= 2  # bounded by concurrency
