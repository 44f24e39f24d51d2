"""Terminal output: JSON documents on stdout, everything human on stderr, progress bars on a tty."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import time
from typing import Any, TextIO

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.redact import redact

# C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), and the bidirectional
# overrides and isolates that make text display in another order than it is read.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# json.dumps escapes C0 itself; with ensure_ascii=False it leaves DEL, C1 and the bidi marks as they are.
_JSON_CONTROL = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` safe for a terminal: each control character becomes a visible escape (`\\x1b`), so a
    file name or a server's text can neither move the cursor, recolour, retitle nor reorder the screen."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )


class TerminalFilter(logging.Filter):
    """For a handler writing to a terminal: the record's text `clean`ed (after `RedactingFilter`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg} {record.args}"
        record.msg, record.args = clean(message), None
        if record.exc_text:
            record.exc_text = clean(record.exc_text)
        return True


def say(message: str = "") -> None:
    """A human line on stderr: redacted of secrets (core/redact.py), control characters made visible."""
    print(clean(redact(message)), file=sys.stderr, flush=True)


def print_json(document: Any) -> None:
    """One JSON document on stdout, redacted of secrets (the mask keeps it valid JSON) and with every
    control character escaped (still the same JSON value)."""
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(_JSON_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", redact(text)))
    sys.stdout.write("\n")
    sys.stdout.flush()


def report_error(exc: ActorTrainerError) -> None:
    say(f"error: {exc.message}")
    if exc.hint:
        say(f"  → {exc.hint}")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Aligned columns; cells are `clean`ed and redacted (names come from files and servers)."""
    rows = [[clean(redact(cell)) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("─" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    return "\n".join(lines)


class ProgressBar:
    """A one-line bar on a terminal; plain lines (at most one every few seconds) otherwise."""

    def __init__(self, label: str, total: float, *, unit: str = "", stream: TextIO | None = None) -> None:
        self.label = clean(label)
        self.total = max(total, 0)
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_plain = 0.0
        self._last_text = ""

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        detail = clean(redact(detail))
        if total is not None:
            self.total = total
        fraction = min(1.0, done / self.total) if self.total else 0.0
        counts = f"{_num(done)}/{_num(self.total)}{self.unit}"
        if self.tty:
            width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - len(self.label) - len(counts) - 20))
            filled = int(width * fraction)
            bar = "█" * filled + "░" * (width - filled)
            text = f"\r{self.label} {bar} {fraction:4.0%} {counts} {detail}"[:200]
            self.stream.write(text.ljust(len(self._last_text)))
            self._last_text = text
            self.stream.flush()
        else:
            now = time.monotonic()
            if now - self._last_plain >= 2.0 or fraction >= 1.0:
                self._last_plain = now
                self.stream.write(f"{self.label}: {fraction:.0%} ({counts}) {detail}".rstrip() + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last_text:
            self.stream.write("\n")
            self.stream.flush()
            self._last_text = ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
