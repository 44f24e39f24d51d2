"""Logging for the desktop app: a rotating file in the per-user log folder, plus stderr.

Secrets never reach a log: once the configuration is known, its secret values are registered
with `LogSetup.redact()` and every formatted line (and every traceback shown in a dialog, via
`scrub()`) has them replaced.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from actor_trainer.core.redact import redact

LOG_FILE_NAME = "actor-trainer.log"
_NOISY = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore", "pyngrok", "asyncio", "aiohttp.access")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"


class _RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return redact(text)  # every secret the app read, in every spelling, and credential-shaped text


class _NotFileOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


#: `log.error(..., extra=FILE_ONLY)`: for the log file only (stderr already got a friendlier text)
FILE_ONLY = {"file_only": True}


class LogSetup:
    """The handlers installed by `configure_logging`; `close()` removes them again."""

    def __init__(self, folder: Path | None, handlers: list[logging.Handler], secrets: list[str]) -> None:
        self.folder = folder
        self.handlers = handlers
        self._secrets = secrets

    @property
    def file(self) -> Path | None:
        return self.folder / LOG_FILE_NAME if self.folder is not None else None

    def redact(self, *values: str | None) -> None:
        """Never write these values (API keys, tokens) to any log line from now on."""
        for value in values:
            if value and len(value) >= 4 and value not in self._secrets:
                self._secrets.append(value)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def close(self) -> None:
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            handler.close()
        self.handlers = []


def configure_logging(verbosity: int = 0, folder: Path | None = None) -> LogSetup:
    """Log INFO (DEBUG with -vv) to a rotating file; WARNING (INFO with -v, DEBUG with -vv) to stderr."""
    from actor_trainer.core.settings import log_dir

    secrets: list[str] = []
    root = logging.getLogger()
    file_level = logging.DEBUG if verbosity >= 2 else logging.INFO
    stderr_level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root.setLevel(min(file_level, stderr_level))
    handlers: list[logging.Handler] = []

    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(stderr_level)
    stderr.setFormatter(_RedactingFormatter(_STDERR_FORMAT, secrets))
    stderr.addFilter(_NotFileOnly())
    handlers.append(stderr)

    chosen = folder or log_dir()
    try:
        chosen.mkdir(parents=True, exist_ok=True)
        to_file = RotatingFileHandler(chosen / LOG_FILE_NAME, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        print(f"actor-trainer: cannot write the log file in {chosen} ({exc}); logging to stderr only", file=sys.stderr)
        log_folder: Path | None = None
    else:
        to_file.setLevel(file_level)
        to_file.setFormatter(_RedactingFormatter(_FORMAT, secrets))
        handlers.append(to_file)
        log_folder = chosen
    for handler in handlers:
        root.addHandler(handler)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(file_level, logging.WARNING))
    return LogSetup(log_folder, handlers, secrets)
