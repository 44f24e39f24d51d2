"""The one place where boto3/botocore exceptions become StorageErrors a user can act on.

Messages say what happened (never a secret: botocore's messages carry no keys); hints say what to
change. Errors that make the whole bucket unusable are StorageUnavailableError, so a sync stops at
the first one instead of failing 500 files one by one.
"""

from __future__ import annotations

import sys

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProxyConnectionError,
    SSLError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import StorageObjectNotFoundError, StorageUnavailableError

_CREDENTIALS_HINT = (
    "Enter an access key and secret in Settings → Storage, or configure the standard AWS chain "
    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, AWS_PROFILE, an SSO login)."
)
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "301", "IllegalLocationConstraintException"}
_EXPIRED_CODES = {"ExpiredToken", "InvalidToken", "TokenRefreshRequired", "ExpiredTokenException"}
_BUSY_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503", "ServiceUnavailable"}


def _is_upload_failed(exc: BaseException) -> bool:
    """boto3's S3UploadFailedError, without importing boto3 for it: boto3 is imported only when a
    transfer starts (core/storage/s3_client.py), and only a transfer raises this error."""
    boto3_exceptions = sys.modules.get("boto3.exceptions")
    failed = getattr(boto3_exceptions, "S3UploadFailedError", None)
    return failed is not None and isinstance(exc, failed)


def s3_error(exc: BaseException, *, action: str, bucket: str, endpoint: str) -> StorageError:
    """Map an exception raised while doing `action` (e.g. "upload front.png") to a StorageError.

    `endpoint` names where the bucket lives ("http://127.0.0.1:9000", "AWS S3 (eu-west-1)").
    """
    where = f"bucket {bucket!r} at {endpoint}"
    if _is_upload_failed(exc) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__  # boto3 wraps the real ClientError in a message-only error
    if isinstance(exc, ClientError):
        return _client_error(exc, action=action, bucket=bucket, endpoint=endpoint)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageUnavailableError(f"No S3 credentials found to {action}.", _CREDENTIALS_HINT)
    if isinstance(exc, CredentialRetrievalError | TokenRetrievalError):
        return StorageUnavailableError(
            f"The S3 credentials could not be loaded ({exc}).",
            "Renew the login of your AWS profile (e.g. `aws sso login`) or enter a key in Settings.",
        )
    if isinstance(exc, SSLError):
        return StorageUnavailableError(
            f"The TLS connection to {endpoint} failed: {exc}",
            "Check the endpoint URL (https vs http) and the certificate; a proxy may be intercepting.",
        )
    if isinstance(exc, EndpointConnectionError | ProxyConnectionError | BotoConnectionError):
        return StorageUnavailableError(
            f"Cannot reach the S3 endpoint {endpoint} to {action}.",
            "Check the endpoint URL and region in Settings → Storage and your network connection.",
        )
    if isinstance(exc, ConnectionClosedError | HTTPClientError):
        return StorageError(
            f"The connection to {endpoint} broke while trying to {action}: {exc}",
            "This is usually temporary: try again.",
        )
    if isinstance(exc, NoRegionError):
        return StorageUnavailableError(
            f"No region is configured for {where}.", "Set the region in Settings → Storage (or AWS_REGION)."
        )
    if isinstance(exc, ParamValidationError):
        return StorageError(f"Invalid S3 request to {action}: {exc}", "Check the bucket name and the prefix.")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"S3 failed to {action}: {exc}", "Check the storage settings and try again.")
    if isinstance(exc, OSError):  # after botocore's errors: some of those derive from OSError too
        reason = exc.strerror or str(exc)
        return StorageError(f"Local file error while trying to {action}: {reason}", "Check the file and folder.")
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        return StorageUnavailableError(
            f"The S3 endpoint URL {endpoint!r} is not valid.",
            "Use a full URL such as https://s3.example.com or http://127.0.0.1:9000.",
        )
    return StorageError(f"S3 failed to {action}: {type(exc).__name__}: {exc}", "Try again; if it persists, report it.")


def _client_error(exc: ClientError, *, action: str, bucket: str, endpoint: str) -> StorageError:
    where = f"bucket {bucket!r} at {endpoint}"
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    detail = str(error.get("Message") or code or status)
    if code == "NoSuchBucket":
        return StorageUnavailableError(
            f"The bucket {bucket!r} does not exist at {endpoint}.",
            "Check the bucket name, the endpoint URL and the region in Settings → Storage, or create the bucket.",
        )
    if code in _NOT_FOUND_CODES:
        return StorageObjectNotFoundError(
            f"Not found in {where}: cannot {action}.", "The file may have been deleted or never uploaded."
        )
    if code == "InvalidAccessKeyId":
        return StorageUnavailableError(
            f"{where} does not recognise the access key.",
            "Check the access key id in Settings → Storage, and that it belongs to this provider.",
        )
    if code == "SignatureDoesNotMatch":
        return StorageUnavailableError(
            f"{where} rejected the request signature.",
            "The secret access key is probably wrong: re-enter it in Settings → Storage.",
        )
    if code in _EXPIRED_CODES:
        return StorageUnavailableError(
            f"The S3 credentials have expired ({code}).", "Renew them (e.g. `aws sso login`) or enter a new key."
        )
    if code in _DENIED_CODES:
        return StorageUnavailableError(
            f"Access denied by {where} while trying to {action}.",
            "The credentials need s3:ListBucket on the bucket and s3:GetObject/s3:PutObject under "
            "the prefix; check the bucket policy or the key's permissions.",
        )
    if code in _REGION_CODES:
        return StorageUnavailableError(
            f"{where} is in a different region than configured ({detail}).",
            "Set the bucket's region in Settings → Storage.",
        )
    if code == "InvalidBucketName":
        return StorageUnavailableError(
            f"{bucket!r} is not a valid bucket name.", "Check the bucket name in Settings → Storage."
        )
    if code == "RequestTimeTooSkewed":
        return StorageUnavailableError(
            "The S3 server refused the request because this computer's clock is wrong.",
            "Set the system clock to synchronise automatically, then try again.",
        )
    if code in _BUSY_CODES:
        return StorageError(f"{where} is busy ({code}) while trying to {action}.", "Try again in a minute.")
    return StorageError(f"{where} refused to {action}: {code or status}: {detail}", "Check the storage settings.")
