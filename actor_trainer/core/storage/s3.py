"""Training data and LoRAs in S3, or any S3-compatible store (R2, MinIO, Backblaze...), via boto3.

URLs are `s3://<bucket>/<key>` with the raw key: keys are built from raw file names and only the
HTTP layer (botocore, presigned URLs) percent-encodes them. The MD5 of every object we upload is
kept in its metadata (`x-amz-meta-md5`) because multipart ETags are not MD5s.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import RemoteObject, model_key, normalize_prefix, training_data_key
from actor_trainer.core.storage.hashing import Md5Cache, md5_bytes
from actor_trainer.core.storage.s3_client import boto3_transfer, make_s3_client
from actor_trainer.core.storage.s3_errors import s3_error
from actor_trainer.core.storage.threaded import ORPHAN_AGE_S, ThreadedStorage
from actor_trainer.core.storage.transfers import OnBytes

#: boto3's own default, spelled out: files from this size on are uploaded in parts.
MULTIPART_THRESHOLD = 8 * 1024 * 1024
#: HTTP connections kept per client: sync concurrency (≤ 32) × 2 threads per multipart file.
MAX_POOL_CONNECTIONS = 64
#: SigV4 presigned URLs live at most 7 days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


@functools.cache
def _transfer_config(kind: str) -> Any:
    """boto3's TransferConfig for `kind`, made on first use (boto3 is imported only to transfer).

    Small files go up in one PUT on the calling thread (the sync already runs many files at
    once); big ones in parts, two at a time, so one huge file still moves at a decent speed."""
    transfer = boto3_transfer()[1]
    if kind == "small":
        return transfer.TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, use_threads=False)
    if kind == "big":
        return transfer.TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD, max_concurrency=2
        )
    return transfer.TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, max_concurrency=4)


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`. The key is taken verbatim: not URL-decoded, and '#' or
    '?' in a file name stay part of it (urllib would cut them off as a fragment or query)."""
    if not url.startswith("s3://"):
        raise StorageError(f"Not an S3 URL: {url!r}", "S3 storage reads and writes s3://bucket/key URLs.")
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket or not key:
        raise StorageError(f"Incomplete S3 URL: {url!r}", "Expected s3://bucket/key.")
    return bucket, key


def md5_from_etag(etag: str | None) -> str | None:
    """A single-part ETag is the MD5 of the body; a multipart one ("<hex>-<parts>") is not."""
    if etag is None:
        return None
    etag = etag.strip('"').lower()
    return etag if _MD5_RE.match(etag) else None


def _send_without_expect_continue(request: Any, **_: Any) -> None:
    """A single PUT goes out without `Expect: 100-continue`, which costs a round trip per file
    (botocore adds it to every S3 upload). A training image is small: if S3 refuses it, sending
    it for nothing wastes less than asking first for every file wastes at 50 ms a round trip.
    `Expect` is not among the signed headers, so the signature still holds; multipart parts
    (8 MiB and up) keep asking first."""
    if "Expect" in request.headers:
        del request.headers["Expect"]


def content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class S3Storage(ThreadedStorage):
    """A bucket (and optional key prefix) on AWS S3 or any S3-compatible endpoint.

    Credentials come from the arguments, else from the standard AWS chain (environment, shared
    files, SSO, instance roles). The endpoint comes from `endpoint_url`, else from boto3's own
    `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`; with a custom endpoint, requests use path-style
    addressing, which every S3-compatible server accepts. The boto3 client is created once, on first use, in a
    worker thread; it is thread-safe and shared by all transfers.
    """

    kind = "s3"
    #: Files uploaded at once. Over a WAN each PUT spends most of its time waiting on the round
    #: trip, so more requests in flight fill the link (measured: benchmarks/bench_sync_latency.py).
    sync_concurrency = 16
    #: Keys per listing request (S3's maximum is 1000); smaller only to exercise paging in tests.
    list_page_size = 1000

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        url_style: str = "s3",
        *,
        session_token: str | None = None,
        max_attempts: int = 5,
        hash_cache: Md5Cache | None = None,
    ) -> None:
        super().__init__(prefix, hash_cache)
        if not bucket.strip():
            raise StorageError("No S3 bucket is configured.", "Enter the bucket name in Settings → Storage.")
        if url_style not in ("s3", "presigned"):
            raise ValueError(f"url_style must be 's3' or 'presigned', not {url_style!r}")
        if bool(access_key_id) != bool(secret_access_key):
            raise StorageError(
                "Only half of an S3 key pair was given.",
                "Enter both the access key id and the secret access key, or neither to use the AWS chain.",
            )
        self.bucket = bucket.strip()
        # boto3 would read these variables itself; reading them here as well gives a custom
        # endpoint path-style addressing and names it in error messages.
        self.endpoint_url = (
            endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        )
        self.region = region or None
        self.url_style = url_style
        self._credentials = (access_key_id or None, secret_access_key or None, session_token or None)
        self._max_attempts = max_attempts
        self._client_lock = threading.Lock()
        self._client: Any = None
        # Presigning signs for a region without asking S3: with no region set, the bucket's own
        # region is looked up once (HeadBucket's x-amz-bucket-region) and a client made for it.
        self._presign_client: Any = None
        # Stored MD5 by (key, etag, size): a repeated compare needs no HEAD for unchanged objects.
        self._stored_md5: dict[tuple[str, str, int], str | None] = {}
        self._stored_md5_lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def endpoint_label(self) -> str:
        return self.endpoint_url or f"AWS S3 ({self.region or 'default region'})"

    def boto3_client(self) -> Any:
        """The boto3 S3 client, created on first call (blocking: call it from a worker thread)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _warm_up_blocking(self) -> None:
        self.boto3_client()

    def _make_client(self, region: str | None = None) -> Any:
        access_key_id, secret_access_key, session_token = self._credentials
        custom_endpoint = self.endpoint_url is not None
        region = region or self.region
        config = Config(
            region_name=region,
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": self._max_attempts},
            max_pool_connections=MAX_POOL_CONNECTIONS,
            connect_timeout=10,
            read_timeout=60,
            s3={"addressing_style": "path" if custom_endpoint else "auto"},
            # Third-party S3 servers lag behind AWS's newer default checksums (aws-chunked
            # uploads); send checksums only where the API requires them.
            request_checksum_calculation="when_required" if custom_endpoint else "when_supported",
            response_checksum_validation="when_required" if custom_endpoint else "when_supported",
            user_agent_extra="actor-trainer",
        )
        # A session per client (core/storage/s3_client.py): sessions are not thread-safe, so the
        # client is made here, once, under the lock, and only the (thread-safe) client is shared.
        client = make_s3_client(
            endpoint_url=self.endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            config=config,
        )
        client.meta.events.register("before-send.s3.PutObject", _send_without_expect_continue)
        return client

    # --- URLs -----------------------------------------------------------------------------------

    def url_for_key(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def training_data_url(self, actor_id: int, name: str) -> str:
        return self.url_for_key(training_data_key(self.prefix, actor_id, name))

    def model_url(self, actor_id: int, model_name: str) -> str:
        return self.url_for_key(model_key(self.prefix, actor_id, model_name))

    # --- blocking primitives ----------------------------------------------------------------------

    def _map_error(self, exc: Exception, action: str) -> StorageError:
        return s3_error(exc, action=action, bucket=self.bucket, endpoint=self.endpoint_label)

    def _list_blocking(self, key_prefix: str) -> list[RemoteObject]:
        paginator = self.boto3_client().get_paginator("list_objects_v2")
        objects: list[RemoteObject] = []
        # Delimiter "/": only the files directly in the folder, like the local training_data scan.
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=key_prefix,
            Delimiter="/",
            PaginationConfig={"PageSize": self.list_page_size},
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key[len(key_prefix) :]
                if not name:  # a "folder" marker some consoles create
                    continue
                etag = str(item.get("ETag", "")).strip('"') or None
                objects.append(RemoteObject(name, key, int(item["Size"]), md5_from_etag(etag), etag))
        return objects

    def _stored_md5_blocking(self, obj: RemoteObject) -> str | None:
        cache_key = (obj.key, obj.etag or "", obj.size)
        with self._stored_md5_lock:
            if cache_key in self._stored_md5:
                return self._stored_md5[cache_key]
        head = self.boto3_client().head_object(Bucket=self.bucket, Key=obj.key)
        stored = str(head.get("Metadata", {}).get("md5", "")).lower()
        md5 = stored if _MD5_RE.match(stored) else md5_from_etag(head.get("ETag"))
        with self._stored_md5_lock:
            self._stored_md5[cache_key] = md5
        return md5

    def _upload_file_blocking(self, path: Path, key: str, md5: str, on_bytes: OnBytes) -> None:
        big = path.stat().st_size >= MULTIPART_THRESHOLD
        self.boto3_client().upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"Metadata": {"md5": md5}, "ContentType": content_type(path.name)},
            Callback=on_bytes,
            Config=_transfer_config("big" if big else "small"),
        )

    def _read_blocking(self, url: str) -> bytes:
        bucket, key = parse_s3_url(url)
        body = self.boto3_client().get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def _write_blocking(self, url: str, data: bytes, metadata: dict[str, str]) -> None:
        bucket, key = parse_s3_url(url)
        stored = {k.lower(): v for k, v in metadata.items()}
        stored["md5"] = md5_bytes(data)
        self.boto3_client().put_object(
            Bucket=bucket, Key=key, Body=data, Metadata=stored, ContentType=content_type(key)
        )

    def _head(self, url: str) -> dict[str, Any]:
        bucket, key = parse_s3_url(url)
        head: dict[str, Any] = self.boto3_client().head_object(Bucket=bucket, Key=key)
        return head

    def _metadata_blocking(self, url: str) -> dict[str, str]:
        return {str(k).lower(): str(v) for k, v in self._head(url).get("Metadata", {}).items()}

    def _exists_blocking(self, url: str) -> bool:
        try:
            self._head(url)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def _size_blocking(self, url: str) -> int:
        return int(self._head(url)["ContentLength"])

    def _download_blocking(self, url: str, dest: Path, on_bytes: OnBytes) -> None:
        bucket, key = parse_s3_url(url)
        self.boto3_client().download_file(
            bucket, key, str(dest), Callback=on_bytes, Config=_transfer_config("download")
        )

    def _presign_blocking(self, url: str, expires_s: int) -> str:
        if not 1 <= expires_s <= MAX_PRESIGN_SECONDS:
            raise StorageError(f"A presigned URL cannot last {expires_s} s.", "Use between 1 second and 7 days.")
        bucket, key = parse_s3_url(url)
        client = self._presigning_client() if bucket == self.bucket else self.boto3_client()
        presigned: str = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )
        return presigned

    def bucket_region(self) -> str | None:
        """The bucket's region as S3 reports it (HeadBucket's `x-amz-bucket-region`, sent even with a
        301 or 403 answer), or None when the server names none. Blocking."""
        try:
            answer = self.boto3_client().head_bucket(Bucket=self.bucket)
            headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            return headers.get("x-amz-bucket-region") or answer.get("BucketRegion") or None
        except ClientError as exc:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            region = headers.get("x-amz-bucket-region") or exc.response.get("Error", {}).get("Region")
            if region:
                return str(region)
            raise

    def _presigning_client(self) -> Any:
        """A client that signs for the bucket's region: SigV4 presigned URLs name the region they are
        signed for, and S3 refuses one signed for another (boto3 signs for its default region, often
        us-east-1, when none is set)."""
        client = self.boto3_client()
        if self.region is not None:
            return client
        with self._client_lock:
            if self._presign_client is not None:
                return self._presign_client
        region = self.bucket_region()
        made = client if region is None or region == client.meta.region_name else self._make_client(region)
        with self._client_lock:
            if self._presign_client is None:
                self._presign_client = made
            return self._presign_client

    def _clean_orphans_blocking(self) -> list[str]:
        """Abort the incomplete multipart uploads this app started and a killed sync left behind:
        keys under our `actors/NNNN/training_data/` layout (only the app uploads there; the worker
        writes models/), initiated more than `ORPHAN_AGE_S` ago (so a sync running in another
        process keeps its upload)."""
        client = self.boto3_client()
        cutoff = datetime.now(UTC) - timedelta(seconds=ORPHAN_AGE_S)
        removed: list[str] = []
        paginator = client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{normalize_prefix(self.prefix)}actors/"):
            for upload in page.get("Uploads", []) or []:
                key, initiated = str(upload.get("Key", "")), upload.get("Initiated")
                if "/training_data/" not in key or not isinstance(initiated, datetime) or initiated > cutoff:
                    continue
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
                removed.append(f"aborted an incomplete upload of {key} (started {initiated:%Y-%m-%d %H:%M} UTC)")
        return removed

    def _check_blocking(self) -> str:
        page = self.boto3_client().list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1000)
        count = f"{page.get('KeyCount', 0)}{'+' if page.get('IsTruncated') else ''}"
        under = f"under prefix {self.prefix!r}" if self.prefix else "in the bucket"
        return f"bucket {self.bucket!r} reachable at {self.endpoint_label}, {count} objects {under}"
