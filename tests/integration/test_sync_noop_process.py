"""A re-sync with nothing to upload, as a user runs it (issue 9, item 10: as fast as the network
allows), checked on the wire and in the process, not by the clock:

- `actor-trainer sync ACTOR` sends one listing (one page per 1000 keys) and one look for
  interrupted uploads, and nothing else: no HEAD, no PUT;
- that process never imports what a no-op does not need: boto3's transfer machinery, Qt,
  aiohttp, the sandbox;
- listing early (Storage.prefetch) changes no answer: the same results, and the same errors where
  they always were.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage import FileSyncState
from actor_trainer.core.storage.s3 import S3Storage
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.integration.test_sync_speed_paths import RecordingProxy, make_files
from tests.library_factory import make_library

#: Top-level packages (and app packages) a no-op sync must not load.
NOT_NEEDED = (
    "boto3",
    "s3transfer",
    "PySide6",
    "shiboken6",
    "qasync",
    "aiohttp",
    "actor_trainer.sandbox",
    "actor_trainer.gui",
)

# The CLI as `python -m actor_trainer` runs it, then a report of what it imported.
RUN_AND_REPORT = (
    "import sys\n"
    "from actor_trainer.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    f"unneeded = sorted(m for m in sys.modules if m.startswith({NOT_NEEDED!r}))\n"
    "print('IMPORTED:', unneeded, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)
REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.1\r$", re.MULTILINE)


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_AND_REPORT,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def requests(proxy: RecordingProxy) -> list[tuple[str, str]]:
    return [(m.group(1).decode(), m.group(2).decode()) for s in proxy.streams for m in REQUEST_LINE.finditer(s)]


def imported(stderr: str) -> list[str]:
    line = next(line for line in stderr.splitlines() if line.startswith("IMPORTED: "))
    names: list[str] = json.loads(line.removeprefix("IMPORTED: ").replace("'", '"'))
    return names


@pytest.mark.asyncio
async def test_a_noop_resync_process_lists_once_and_imports_only_what_it_needs(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    lib = make_library(tmp_path / "lib", images={0: 5, 1: 0})
    proxy = RecordingProxy(s3_bucket.endpoint_url)
    env = dict(os.environ)
    env.update(s3_bucket.env(prefix="studio"))
    env["AWS_ENDPOINT_URL_S3"] = await proxy.start()
    try:
        rc, out, err = await run_cli(env, "--data-dir", str(lib), "sync", "0", "--json")
        assert rc == 0, err
        assert len(json.loads(out)[0]["uploaded"]) == 5
        assert "boto3" in imported(err)  # uploading is what boto3's transfer code is for

        proxy.streams.clear()
        rc, out, err = await run_cli(env, "--data-dir", str(lib), "sync", "0", "--json")
        assert rc == 0, err
        report = json.loads(out)[0]
        assert report["uploaded"] == [] and len(report["skipped"]) == 5 and report["failed"] == []
        assert "0000_european_16_male: uploaded 0, already in sync 5" in err
        assert imported(err) == []
        sent = requests(proxy)
        bucket = f"/{s3_bucket.bucket}"
        listings = [p for m, p in sent if m == "GET" and p.startswith(f"{bucket}?") and "list-type=2" in p]
        uploads = [p for m, p in sent if m == "GET" and p.startswith(f"{bucket}?uploads")]
        assert len(listings) == 1 and "prefix=studio%2Factors%2F0000%2Ftraining_data%2F" in listings[0]
        assert len(uploads) == 1
        assert len(sent) == 2, sent

        # By name (the library resolves it; nothing is listed early): the same answer.
        proxy.streams.clear()
        rc, out, err = await run_cli(env, "--data-dir", str(lib), "sync", "0000_european_16_male", "--json")
        assert rc == 0, err
        assert json.loads(out)[0]["skipped"] == report["skipped"]
        assert len(requests(proxy)) == 2

        # A dry run lists and cleans nothing up.
        proxy.streams.clear()
        rc, out, err = await run_cli(env, "--data-dir", str(lib), "sync", "0", "--dry-run")
        assert rc == 0, err
        assert "0000_european_16_male: would upload 0, already in sync 5" in err
        assert [m for m, _ in requests(proxy)] == ["GET"]

        # An id that names no actor: the same error as ever, and the process does not wait on
        # the listing it started.
        rc, out, err = await run_cli(env, "--data-dir", str(lib), "sync", "7")
        assert rc == 1 and "error:" in err and "7" in err and out == ""
    finally:
        await proxy.stop()


@pytest.mark.asyncio
async def test_a_prefetched_listing_gives_the_same_answers_and_errors(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    files = make_files(tmp_path / "data", 3)
    storage = s3_bucket.storage(prefix="early")
    assert (await storage.sync(0, files[:2])).ok

    early = s3_bucket.storage(prefix="early")
    assert early.prefetch(0, clean_orphans=True)
    status = await early.compare(0, files)
    assert status.names(FileSyncState.IN_SYNC) == ("img_00.png", "img_01.png")
    assert status.names(FileSyncState.LOCAL_ONLY) == ("img_02.png",)
    assert await early.clean_orphans() == []
    assert (await early.sync(0, files)).uploaded == ("img_02.png",)  # listed again: no stale answer

    # A bucket that does not exist: the error the listing always gave.
    errors = []
    for prefetch in (False, True):
        missing = S3Storage(
            "no-such-bucket-here",
            endpoint_url=s3_bucket.endpoint_url,
            region=s3_bucket.region,
            access_key_id=s3_bucket.access_key_id,
            secret_access_key=s3_bucket.secret_access_key,
        )
        if prefetch:
            assert missing.prefetch(0)
        with pytest.raises(StorageError) as raised:
            await missing.sync(0, files)
        errors.append((type(raised.value), raised.value.message, raised.value.hint))
    assert errors[0] == errors[1]

    # A client that cannot even be made: prefetch starts nothing, the sync reports it as before.
    broken = S3Storage("bucket", endpoint_url="not a url", access_key_id="a", secret_access_key="b")
    assert broken.prefetch(0) is False
    with pytest.raises(StorageError):
        await broken.sync(0, files)
