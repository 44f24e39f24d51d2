"""How a version's facts read as text: numbers as typed, local times, durations, progress,
earlier attempts and error details. Shared by the versions table and the details pane."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from actor_trainer.core.models import TrainingVersion
from actor_trainer.gui.i18n import tr


def format_number(value: float) -> str:
    """A float as typed: the shortest text that reads back as the same number (0.0004, 1e-5, 8)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def format_local_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone().strftime("%Y-%m-%d %H:%M")


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def duration_seconds(version: TrainingVersion, now: datetime | None = None) -> float | None:
    """Ended − started for a finished run, running time for one in flight, None when unknown."""
    start = _aware(version.timestamp)
    end = version.completedAt or version.failedAt
    if end is not None:
        return (_aware(end) - start).total_seconds()
    if version.status.is_terminal:
        return None
    return ((now or datetime.now(UTC)) - start).total_seconds()


def first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def progress_text(v: TrainingVersion) -> str:
    p = v.progress
    if p is None or v.status.is_terminal:
        return ""
    parts: list[str] = []
    if p.step is not None:
        parts.append(tr("step {step} of {total}").format(step=p.step, total=p.total or v.parameters.max_train_steps))
    if p.phase:
        parts.append(p.phase)
    if p.loss is not None:
        parts.append(tr("loss {loss}").format(loss=f"{p.loss:.4f}"))
    if p.message:
        parts.append(p.message)
    return " · ".join(parts)


def attempts_text(v: TrainingVersion) -> str:
    attempts = v.attempts or []
    if not attempts:
        return ""
    lines = [tr("{n} earlier attempt(s), retried on RunPod:").format(n=len(attempts))]
    for i, attempt in enumerate(attempts, start=1):
        error = attempt.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else None
        status = str(attempt.get("status", "")).replace("_", " ")
        lines.append(f"{i}. {status}" + (f" — {message.splitlines()[0]}" if message else ""))
    return "\n".join(lines)


def error_details_text(details: Any) -> str:
    """Error details as text: a traceback as it was written, anything else as indented JSON."""
    if details is None or details == {} or details == "":
        return ""
    if isinstance(details, str):
        return details
    if isinstance(details, dict):
        # runpod-python puts the worker's traceback under "error_traceback".
        traceback_keys = ("error_traceback", "traceback")
        traceback = next((details[k] for k in traceback_keys if isinstance(details.get(k), str)), None)
        rest = {k: v for k, v in details.items() if k not in traceback_keys}
        parts = []
        if rest:
            parts.append(json.dumps(rest, indent=2, ensure_ascii=False, default=str))
        if traceback is not None:
            parts.append(traceback)
        return "\n\n".join(parts)
    return json.dumps(details, indent=2, ensure_ascii=False, default=str)
