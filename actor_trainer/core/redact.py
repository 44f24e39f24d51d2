"""Secrets never shown or stored: the configured secrets, and text that looks like a credential.

`register(...)` is called with every secret the process learns (`settings.resolve_config`, the RunPod
client); `redact(text)` replaces each registered value (also in its URL-encoded and JSON-escaped
spellings, as a server echoing a request would write it) and credential-shaped text (a bearer token,
an `…secret_access_key=…` pair, a RunPod `rpa_…` key) with `[redacted]`. Text from servers (a 400
body, a worker's error), error messages before they are stored, and every line the CLI prints or
logs go through it. `RedactingFilter` does the same for log records.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
MIN_SECRET_LENGTH = 12  # real keys are 32+ characters; shorter values would mask ordinary words ("testing")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_SHAPES = re.compile(
    r"(?i)(?P<keep>\bbearer\s+|\b(?:aws_)?secret[_-]?(?:access[_-]?)?key[\"']?\s*[:=]\s*[\"']?"
    r"|\b(?:api[_-]?key|authtoken|x-amz-security-token|x-amz-signature)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[A-Za-z0-9+/=_\-.~%]{6,})"
    r"|\brpa_[A-Za-z0-9]{16,}\b"
)


def register(*values: str | None) -> None:
    """Never show these values (API keys, secret keys, tokens) from now on."""
    global _pattern
    with _lock:
        added = False
        for value in values:
            if not value or len(value) < MIN_SECRET_LENGTH:
                continue
            for form in _spellings(value):
                if form not in _secrets:
                    _secrets.add(form)
                    added = True
        if added:
            ordered = sorted(_secrets, key=len, reverse=True)  # the longest spelling first
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def forget_all() -> None:
    """For tests: drop every registered secret."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def _spellings(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


def redact(text: str) -> str:
    """`text` without any registered secret or credential-shaped value."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _SHAPES.sub(lambda m: (m.group("keep") + MASK) if m.group("keep") else MASK, text)


def redact_any(value: Any) -> Any:
    """`redact` through strings inside dicts and lists (an error's details before they are stored)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_any(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_any(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Install on a handler: every record it writes is redacted (message, arguments, traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: keep the raw text
            message = f"{record.msg} {record.args}"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg = redact(message)
        record.args = None
        return True
