"""Jobs of the sandbox endpoint: the worker interface, a job's record, and its status object.

A worker is an async function `(job_input, report, cancelled) -> output`. It calls
`report(progress_dict)` as it goes (RunPod's `progress_update`), should stop soon after the
`cancelled` event is set, and returns its final output. Raising `WorkerFailure` ends the job FAILED
with runpod-python's JSON error; returning a dict with an `"error"` key ends it FAILED with that
error as given, as runpod-python does. (`WorkerFailure` lives in `worker_errors.py`, with the worker.)
"""

from __future__ import annotations

import asyncio
import json
import socket
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from actor_trainer.core.models import JobState
from actor_trainer.sandbox.worker_errors import WorkerFailure

__all__ = [
    "ProgressReporter",
    "RequestRecord",
    "SandboxJob",
    "WebhookDelivery",
    "WorkerFailure",
    "WorkerFn",
    "error_from_exception",
    "runpod_error_json",
]

ProgressReporter = Callable[[dict[str, Any]], None]
WorkerFn = Callable[[dict[str, Any], ProgressReporter, asyncio.Event], Awaitable[Any]]

SANDBOX_RUNPOD_VERSION = "sandbox"


def runpod_error_json(error_type: str, message: str, traceback_text: str, worker_id: str | None) -> str:
    """The `error` string runpod-python sends when a handler raises (a JSON-encoded object)."""
    return json.dumps(
        {
            "error_type": error_type,
            "error_message": message,
            "error_traceback": traceback_text,
            "hostname": socket.gethostname(),
            "worker_id": worker_id or "",
            "runpod_version": SANDBOX_RUNPOD_VERSION,
        }
    )


def error_from_exception(exc: BaseException, worker_id: str | None) -> str:
    if isinstance(exc, WorkerFailure):
        return runpod_error_json(exc.error_type, exc.message, exc.traceback_text, worker_id)
    text = "".join(traceback.format_exception(exc))
    # runpod-python reports the class as str(type(err)), e.g. "<class 'ValueError'>".
    return runpod_error_json(str(type(exc)), str(exc) or type(exc).__name__, text, worker_id)


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook POST the endpoint made (or, with `lost`, decided not to make)."""

    job_id: str
    job_status: str
    attempt: int
    http_status: int | None
    error: str | None = None
    duplicate: bool = False
    lost: bool = False

    @property
    def ok(self) -> bool:
        return self.http_status == 200


@dataclass(frozen=True)
class RequestRecord:
    """One API request the endpoint received, with the status it answered."""

    method: str
    route: str | None
    path: str
    status: int


@dataclass(eq=False)
class SandboxJob:
    """A job as the endpoint keeps it. Tests read it; only the endpoint writes it."""

    id: str
    input: dict[str, Any]
    webhook: str | None
    execution_timeout_s: float
    ttl_s: float
    submitted_at: float
    """Loop time of the submission (`not_registered_for_s` counts from here)."""
    queued_at: float
    """Loop time it (re)entered the queue: submission, or the last retry. TTL counts from here."""
    status: JobState = JobState.IN_QUEUE
    started_at: float | None = None
    finished_at: float | None = None
    output: Any = None
    error: str | None = None
    retries: int = 0
    worker_id: str | None = None
    run_number: int = 1
    progress_reports: int = 0
    last_progress: dict[str, Any] | None = None
    deleted: bool = False
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)
    #: the task running the worker for the current attempt (done once the worker has stopped)
    worker_task: asyncio.Task[Any] | None = field(default=None, repr=False)

    def status_object(self, now: float) -> dict[str, Any]:
        """What `/status` answers (and a webhook carries, plus `input` and `webhook`)."""
        started = self.started_at
        delay_end = started if started is not None else (self.finished_at or now)
        obj: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "delayTime": _ms(delay_end - self.queued_at),
            "sandbox": True,
        }
        if started is not None:
            obj["executionTime"] = _ms((self.finished_at or now) - started)
            obj["workerId"] = self.worker_id
        if self.output is not None:
            obj["output"] = self.output
        if self.error is not None:
            obj["error"] = self.error
        if self.retries:
            obj["retries"] = self.retries
        return obj

    def webhook_body(self, now: float) -> dict[str, Any]:
        body = self.status_object(now)
        body["input"] = self.input
        body["webhook"] = self.webhook
        return body


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
