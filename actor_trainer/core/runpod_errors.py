"""Typed RunPod failures: every error the RunPod client raises (see runpod_client.py).

Messages say what happened, hints what to do; `status_code` is the HTTP status when there was one.
Neither ever holds the API key.
"""

from __future__ import annotations

from actor_trainer.core.errors import ActorTrainerError


class RunPodError(ActorTrainerError):
    """RunPod refused or could not answer a call. `status_code` is the HTTP status, if any."""

    def __init__(self, message: str, hint: str = "", *, status_code: int | None = None) -> None:
        super().__init__(message, hint)
        self.status_code = status_code


class RunPodUnauthorizedError(RunPodError):
    """401/403: the API key is missing, wrong, or lacks access to this endpoint."""


class RunPodNotFoundError(RunPodError):
    """404. For a job call `job_id` is set: the job is not registered yet, or it expired / was deleted.
    The caller decides which, from how long ago it was submitted."""

    def __init__(self, message: str, hint: str = "", *, job_id: str | None = None) -> None:
        super().__init__(message, hint, status_code=404)
        self.job_id = job_id


class RunPodRateLimitedError(RunPodError):
    """429 after every retry. `retry_after` is what the server asked for, in seconds, if it said."""

    def __init__(self, message: str, hint: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message, hint, status_code=429)
        self.retry_after = retry_after


class RunPodServerError(RunPodError):
    """5xx after every retry."""


class RunPodNetworkError(RunPodError):
    """RunPod could not be reached (refused, DNS, timeout). Only a network error: nothing changed."""


class RunPodBadResponseError(RunPodError):
    """The answer was not JSON, or not the shape RunPod documents."""


class RunPodRequestError(RunPodError):
    """Another 4xx: RunPod rejected the request itself (bad body, job not retryable, too large)."""


class SubmissionUncertainError(RunPodError):
    """`/run` may or may not have created a job (timeout after sending, or a 5xx). Never retried."""
