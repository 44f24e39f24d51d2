"""The S3 client, made cheaply: straight from botocore, with boto3's transfer methods loaded on use.

boto3's `Session.client` is a thin layer over botocore's, but importing boto3 pulls in s3transfer
and its thread machinery (~0.1 s), which a sync with nothing to upload never uses. So the client
is made the way boto3 makes it (the same credentials, region and config calls on a botocore
session), and boto3's `upload_file`, `download_file`, `copy`, `upload_fileobj` and
`download_fileobj` are attached to the client class as they would be, importing boto3 only when
one of them is first called. The client stays a boto3 S3 client in every way the app uses.

Timestamps in responses are parsed with `datetime.fromisoformat` where it understands them (S3's
XML bodies: `2026-12-02T11:39:00.000Z`), else with botocore's own parser: dateutil is ~0.2 ms a
value, and a 1000-key listing carries 1000 of them.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from types import ModuleType
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.loaders import Loader
from botocore.utils import parse_timestamp

#: The S3 client methods boto3 adds (boto3.s3.inject.inject_s3_transfer_methods).
TRANSFER_METHODS = ("upload_file", "download_file", "copy", "upload_fileobj", "download_fileobj")

_import_lock = threading.Lock()


def boto3_transfer() -> tuple[ModuleType, ModuleType]:
    """`boto3.s3.inject` and `boto3.s3.transfer`, imported once (under a lock: the first uploads
    start on many threads at once, and a package half-imported by another thread is a trap)."""
    with _import_lock:
        from boto3.s3 import inject, transfer

    return inject, transfer


def fast_timestamp(value: Any) -> datetime:
    """An aware datetime, like botocore's parser returns, via the C parser when it can."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    result: datetime = parse_timestamp(value)
    return result


def _lazy_transfer_method(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        inject, _ = boto3_transfer()
        return getattr(inject, name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"boto3's S3 client `{name}` (boto3.s3.inject), imported on first use."
    return method


def _inject_transfer_methods(class_attributes: dict[str, Any], **_: Any) -> None:
    for name in TRANSFER_METHODS:
        class_attributes.setdefault(name, _lazy_transfer_method(name))


class S3OnlyLoader(Loader):  # type: ignore[misc]  # botocore ships no type hints
    """botocore's data loader for a session that makes S3 clients only. Before it loads a model,
    botocore checks that the service exists by listing every service it knows (400-odd folders, a
    stat or two each, once for the model and once for the endpoint rules); this one looks for
    S3 alone, in the same folders, and answers the same for it."""

    def list_available_services(self, type_name: str) -> list[str]:
        for root in self.search_paths:
            folder = os.path.join(root, "s3")
            if not os.path.isdir(folder):
                continue
            for api_version in os.listdir(folder):
                if self.file_loader.exists(os.path.join(folder, api_version, type_name)):
                    return ["s3"]
        return []


def _s3_only_loader(data_path: str | None) -> S3OnlyLoader:
    """As `botocore.loaders.create_loader` builds the session's loader (AWS_DATA_PATH included)."""
    if data_path is None:
        return S3OnlyLoader()
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
    return S3OnlyLoader(extra_search_paths=paths)


def make_s3_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
    config: Config,
) -> Any:
    """An S3 client as `boto3.session.Session(...).client("s3", ...)` makes it (blocking).

    Credentials given here win; with none, botocore's standard chain applies (environment,
    shared files, SSO, instance roles), exactly as under boto3. Sessions are not thread-safe:
    each call makes its own; the client it returns is thread-safe.
    """
    session = botocore.session.get_session()
    session.register_component("data_loader", _s3_only_loader(session.get_config_variable("data_path")))
    if access_key_id or secret_access_key or session_token:
        session.set_credentials(access_key_id, secret_access_key, session_token)
    if region is not None:
        session.set_config_variable("region", region)
    session.register("creating-client-class.s3", _inject_transfer_methods)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=fast_timestamp)
    return session.create_client("s3", endpoint_url=endpoint_url, config=config)
