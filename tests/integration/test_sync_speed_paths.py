"""What makes sync fast over a distant link, checked on the wire and on disk:

- a single-file PUT goes out without `Expect: 100-continue` (a round trip per file saved), and
  the objects still arrive signed, whole and in sync;
- file MD5s are kept between processes, so a re-sync in a new process hashes nothing unchanged;
- a damaged MD5 cache file costs a re-hash, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from actor_trainer.core.storage import FileSyncState, LocalFile, Md5Cache
from actor_trainer.core.storage.s3 import S3Storage
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401


class RecordingProxy:
    """A loopback TCP proxy that keeps every byte the client sent (to read the HTTP requests)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.streams: list[bytearray] = []  # what the client sent, one stream per connection
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(self.host, self.port)
        sent = bytearray()
        self.streams.append(sent)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
            with contextlib.suppress(OSError):
                while chunk := await src.read(65536):
                    if record:
                        sent.extend(chunk)
                    dst.write(chunk)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_w, True), pipe(up_r, writer, False))


def make_files(folder: Path, count: int) -> list[LocalFile]:
    folder.mkdir(parents=True)
    files = []
    for i in range(count):
        path = folder / f"img_{i:02d}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(20_000 + i))
        files.append(LocalFile(path.name, path, path.stat().st_size))
    return files


@pytest.mark.asyncio
async def test_single_puts_skip_expect_continue_and_arrive_whole(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    proxy = RecordingProxy(s3_bucket.endpoint_url)
    endpoint = await proxy.start()
    try:
        storage = S3Storage(
            s3_bucket.bucket,
            "wire",
            endpoint_url=endpoint,
            region=s3_bucket.region,
            access_key_id=s3_bucket.access_key_id,
            secret_access_key=s3_bucket.secret_access_key,
        )
        files = make_files(tmp_path / "data", 5)
        result = await storage.sync(0, files)
        assert result.ok and len(result.uploaded) == 5
        head = re.compile(rb"PUT /[^\r\n]* HTTP/1\.1\r\n.*?\r\n\r\n", re.DOTALL)
        puts = [m.group(0) for stream in proxy.streams for m in head.finditer(bytes(stream))]
        assert len(puts) >= 5, "the proxy saw the uploads"
        assert not any(b"expect: 100-continue" in p.lower() for p in puts)
        # The server accepted the signatures and has exactly these bytes.
        status = await storage.compare(0, files)
        assert status.count(FileSyncState.IN_SYNC) == 5
    finally:
        await proxy.stop()


def test_md5s_are_kept_between_processes(tmp_path: Path) -> None:
    files = make_files(tmp_path / "data", 4)
    cache_file = tmp_path / "cache" / "file-md5s.json"
    first = Md5Cache(cache_file)
    digests = [first.size_and_md5(f.path) for f in files]
    assert first.hashed == 4
    first.save()
    assert cache_file.exists()

    second = Md5Cache(cache_file)  # a new process
    assert [second.size_and_md5(f.path) for f in files] == digests
    assert second.hashed == 0

    files[0].path.write_bytes(b"changed" * 100)  # a changed file is read again
    os.utime(files[0].path, ns=(1, 1))
    third = Md5Cache(cache_file)
    third.size_and_md5(files[0].path)
    assert third.hashed == 1


def test_a_damaged_md5_cache_means_hashing_again(tmp_path: Path) -> None:
    files = make_files(tmp_path / "data", 2)
    cache_file = tmp_path / "file-md5s.json"
    cache_file.write_text("{not json", encoding="utf-8")
    cache = Md5Cache(cache_file)
    assert cache.size_and_md5(files[0].path)[1] == Md5Cache().size_and_md5(files[0].path)[1]
    assert cache.hashed == 1
    cache.save()
    assert json.loads(cache_file.read_text())["version"] == 1  # replaced by a good one

    # A wrong digest planted for a file whose size and mtime no longer match is never used.
    st = files[1].path.stat()
    planted = {"version": 1, "entries": {str(files[1].path.resolve()): [st.st_size + 1, st.st_mtime_ns, "0" * 32]}}
    cache_file.write_text(json.dumps(planted), encoding="utf-8")
    assert Md5Cache(cache_file).size_and_md5(files[1].path)[1] != "0" * 32
