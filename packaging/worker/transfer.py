"""Moving the job's files: training data in (s3:// or presigned https://), the LoRA out (s3://).

Blocking functions (boto3, httpx's sync client, hashing): the handler runs them in threads.
S3 credentials come from the standard AWS chain (environment, files, instance role); the endpoint
from `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, with path-style addressing when one is set
(every S3-compatible server accepts it). S3 keys are taken verbatim, as the app writes them
(`s3://bucket/actors/0001/training_data/my photo.png`); a presigned URL's path is percent-encoded,
so its file name is decoded once.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from errors import TransferAborted, TransferError

_CHUNK = 1024 * 1024
#: Files from this size on go up in parts (S3 keeps the ETag of a multipart upload, not an MD5:
#: the app reads the MD5 from the object's metadata instead).
_UPLOAD = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
_HTTP_TIMEOUT = httpx.Timeout(60.0, connect=15.0)


def make_s3_client() -> Any:
    """An S3 client from the environment (the standard AWS chain; endpoint from AWS_ENDPOINT_URL*)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    custom = endpoint is not None
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=15,
        read_timeout=120,
        s3={"addressing_style": "path" if custom else "auto"},
        # S3-compatible servers lag behind AWS's newer default checksums: send them only when required.
        request_checksum_calculation="when_required" if custom else "when_supported",
        response_checksum_validation="when_required" if custom else "when_supported",
        user_agent_extra="actor-trainer-worker",
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`, the key verbatim ('#', '?', '%' stay part of it)."""
    bucket, _, key = url[len("s3://") :].partition("/") if url.startswith("s3://") else ("", "", "")
    if not bucket or not key:
        raise TransferError(f"Not an s3://bucket/key URL: {redact(url)!r}")
    return bucket, key


def file_name_of(url: str) -> str:
    """The file name a URL stands for: the raw key's last part (s3://), or the decoded path's (https://)."""
    if url.startswith("s3://"):
        name = posixpath.basename(parse_s3_url(url)[1])
    elif url.startswith(("https://", "http://")):
        name = unquote(posixpath.basename(urlsplit(url).path))
    else:
        raise TransferError(f"Unsupported training data URL {redact(url)!r}: expected s3:// or https://")
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise TransferError(f"The URL {redact(url)!r} does not end in a usable file name")
    return name


def redact(url: str) -> str:
    """A URL without its query string: a presigned URL's query holds its signature."""
    return url.split("?", 1)[0] + ("?…" if "?" in url else "")


def _stopper(stop: threading.Event | None) -> Callable[[int], None]:
    """A boto3 transfer callback that aborts the transfer once `stop` is set (the job was cancelled)."""

    def callback(_bytes: int) -> None:
        if stop is not None and stop.is_set():
            raise TransferAborted("the job was cancelled")

    return callback


def download(url: str, dest: Path, s3_client: Any, stop: threading.Event | None = None) -> int:
    """Download `url` to `dest` (written beside it, then renamed); return its size in bytes.

    Setting `stop` aborts the transfer at its next chunk (TransferAborted).
    """
    part = dest.with_name(dest.name + ".part")
    try:
        if url.startswith("s3://"):
            bucket, key = parse_s3_url(url)
            s3_client.download_file(bucket, key, str(part), Callback=_stopper(stop))
        else:
            with httpx.stream("GET", url, timeout=_HTTP_TIMEOUT, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise TransferError(f"HTTP {response.status_code}")
                with part.open("wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        _stopper(stop)(len(chunk))
                        out.write(chunk)
        if stop is not None and stop.is_set():
            raise TransferAborted("the job was cancelled")
        part.replace(dest)
    except Exception as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, TransferAborted) or (stop is not None and stop.is_set()):
            raise TransferAborted(f"Download of {dest.name} stopped: the job was cancelled") from exc
        raise TransferError(f"Could not download training file {dest.name} from {redact(url)}: {_reason(exc)}") from exc
    return dest.stat().st_size


def digests(path: Path) -> tuple[str, str, int]:
    """(md5 hex, sha256 hex, size) of a file, read once."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return md5.hexdigest(), sha256.hexdigest(), size


def upload_lora(path: Path, output_url: str, md5: str, s3_client: Any, stop: threading.Event | None = None) -> None:
    """Upload the LoRA to `output_url` (s3://) with its MD5 in the metadata (`x-amz-meta-md5`).

    Setting `stop` aborts the upload at its next chunk (a multipart upload is aborted too).
    """
    bucket, key = parse_s3_url(output_url)
    try:
        s3_client.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={"Metadata": {"md5": md5}, "ContentType": "application/octet-stream"},
            Config=_UPLOAD,
            Callback=_stopper(stop),
        )
    except Exception as exc:
        if isinstance(exc, TransferAborted) or (stop is not None and stop.is_set()):
            raise TransferAborted("The LoRA upload stopped: the job was cancelled") from exc
        raise TransferError(f"Could not upload the LoRA to {output_url}: {_reason(exc)}") from exc


def delete_object(output_url: str, s3_client: Any) -> None:
    """Delete `output_url` (s3://): a cancelled job leaves no LoRA behind. Raises TransferError."""
    bucket, key = parse_s3_url(output_url)
    try:
        s3_client.delete_object(Bucket=bucket, Key=key)
    except Exception as exc:
        raise TransferError(f"Could not delete {output_url}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def upload_file(
    path: Path,
    url: str,
    s3_client: Any,
    stop: threading.Event | None = None,
    *,
    content_type: str,
    metadata: dict[str, str] | None = None,
) -> None:
    """Upload a sample, a checkpoint or a Try image (contract v2) to `url`: s3:// through the S3
    client, or a presigned https:// PUT URL (its signature never reaches a log). Raises
    TransferError, or TransferAborted once `stop` is set."""
    if stop is not None and stop.is_set():
        raise TransferAborted("the job was cancelled")
    try:
        if url.startswith("s3://"):
            bucket, key = parse_s3_url(url)
            extra: dict[str, Any] = {"ContentType": content_type}
            if metadata:
                extra["Metadata"] = metadata
            s3_client.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=_UPLOAD, Callback=_stopper(stop))
        elif url.startswith(("https://", "http://")):
            # only Content-Type: an x-amz-* header the URL's signature does not cover would be refused
            response = httpx.put(
                url, content=path.read_bytes(), headers={"Content-Type": content_type}, timeout=_HTTP_TIMEOUT
            )
            if response.status_code not in (200, 201, 204):
                raise TransferError(f"HTTP {response.status_code}")
        else:
            raise TransferError("expected s3:// or https://")
    except Exception as exc:
        if isinstance(exc, TransferAborted) or (stop is not None and stop.is_set()):
            raise TransferAborted(f"The upload of {path.name} stopped: the job was cancelled") from exc
        raise TransferError(f"Could not upload {path.name} to {redact(url)}: {_reason(exc)}") from exc
