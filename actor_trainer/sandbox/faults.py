"""Faults the sandbox endpoint can inject, for tests and demos. Every fault is off by default.

A `Faults` object is read at the moment each fault matters (a request arrives, a job leaves the
queue, a job ends, a webhook is due), so tests may change it while the endpoint runs. Counters
(`*_next`, `lose_webhooks`, `late_progress_after_completion`) count down as they are used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import Any

FAULTS_ENV = "ACTOR_TRAINER_SANDBOX_FAULTS"


@dataclass
class Faults:
    # --- queue and jobs ---
    queue_delay_s: float = 0.0
    """Every job waits this long in IN_QUEUE before a worker takes it (health: "initializing")."""
    stuck_in_queue: bool = False
    """Jobs never leave IN_QUEUE while this is set (health: workers "throttled", no GPU)."""
    fail_with: dict[str, Any] | None = None
    """Jobs that start fail at once with this error, JSON-encoded like runpod-python does."""
    complete_with_failed_output: bool = False
    """Jobs end COMPLETED with an output that says `{"status": "failed", "message": ...}`."""
    complete_without_output: bool = False
    """Jobs end COMPLETED with no `output` at all (a result RunPod could not store)."""
    late_progress_after_completion: int = 0
    """The next N `/status` reads of a COMPLETED job answer IN_PROGRESS with its last progress —
    a late progress update landing after the result. Clients must not move backwards."""
    not_registered_for_s: float = 0.0
    """`/status` answers 404 for this long after each submission ("not registered yet")."""

    # --- HTTP answers ---
    rate_limit_next: int = 0
    """The next N API requests are answered 429 with `Retry-After`."""
    rate_limit_retry_after_s: float = 0.05
    server_error_next: int = 0
    """The next N API requests are answered 500."""
    error_routes: frozenset[str] = field(default_factory=frozenset)
    """Limit the two faults above to these routes ("run", "status", "cancel", "retry", "health",
    "purge-queue"); empty means every route."""

    # --- webhooks ---
    lose_webhooks: int = 0
    """The next N webhooks are never sent (as if the tunnel was down), silently."""
    duplicate_webhooks: int = 0
    """Each delivered webhook is delivered this many extra times."""
    webhook_on_cancel: bool = True
    """Also send webhooks for CANCELLED and TIMED_OUT jobs (unconfirmed for RunPod itself)."""
    webhook_burst: bool = False
    """Send the duplicates above all at once (a retry storm, a replaying proxy) instead of in turn."""
    webhook_content_type: str | None = None
    """Send webhook bodies (still JSON) with this Content-Type ("" for none): RunPod documents none."""
    echo_padding_bytes: int = 0
    """Pad the `input` a webhook echoes by this many bytes (a /run body may be 10 MB)."""

    @classmethod
    def from_env(cls) -> Faults:
        """Faults from `ACTOR_TRAINER_SANDBOX_FAULTS` (a JSON object of field names), so a test can
        give a CLI process's in-process sandbox its faults; none when unset."""
        raw = os.environ.get(FAULTS_ENV, "").strip()
        if not raw:
            return cls()
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{FAULTS_ENV}: unknown fault(s) {sorted(unknown)}")
        return cls(**data)

    def applies_to(self, route: str) -> bool:
        return not self.error_routes or route in self.error_routes
