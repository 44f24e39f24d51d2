"""The error a worker raises when a job cannot run: what RunPod reports as a FAILED job's `error`."""

from __future__ import annotations

import json
from typing import Any


class WorkerFailure(Exception):
    """A job failed inside the worker. The endpoint turns it into a FAILED job.

    `error_type` is the Python exception name a real handler would have raised ("ValueError",
    "FileNotFoundError"...), `message` says what went wrong in words a user can act on, and
    `traceback_text` is the worker-side traceback, if any (kept in the version record, not shown).
    """

    def __init__(self, error_type: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.traceback_text = traceback_text

    def as_error_fields(self) -> dict[str, Any]:
        """The fields runpod-python's handler wrapper reports for an exception."""
        return {
            "error_type": self.error_type,
            "error_message": self.message,
            "error_traceback": self.traceback_text,
        }

    def as_error_string(self) -> str:
        """The FAILED job's `error` as RunPod delivers it: a JSON-encoded string."""
        return json.dumps(self.as_error_fields())
