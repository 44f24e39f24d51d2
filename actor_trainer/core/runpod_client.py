"""An async client for a RunPod Serverless endpoint (docs/runpod.md): run, status, cancel, retry, health.

Every failure is a typed `RunPodError` (runpod_errors.py). Safe calls (status, health, cancel,
retry — RunPod treats cancel and retry as idempotent) are retried with exponential backoff and
full jitter on 429, 5xx and connection errors, honouring `Retry-After`. `/run` is retried only
when no job can have been created (429, or the connection was never made); after a timeout or a
5xx it raises `SubmissionUncertainError` instead, because a blind resubmission could start (and
bill) a second training job. The API key is sent as a Bearer header and never logged or put in a message.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.redact import redact
from actor_trainer.core.redact import register as register_secret
from actor_trainer.core.runpod_errors import (
    RunPodBadResponseError,
    RunPodError,
    RunPodNetworkError,
    RunPodNotFoundError,
    RunPodRateLimitedError,
    RunPodRequestError,
    RunPodServerError,
    RunPodUnauthorizedError,
    SubmissionUncertainError,
)
from actor_trainer.core.runpod_health import EndpointCondition, EndpointHealth, HealthJobs, HealthWorkers

__all__ = [
    "DEFAULT_API_ROOT",
    "EndpointCondition",
    "EndpointHealth",
    "HealthJobs",
    "HealthWorkers",
    "RunPodClient",
    "endpoint_base_url",
]

log = logging.getLogger(__name__)

DEFAULT_API_ROOT = "https://api.runpod.ai"


def endpoint_base_url(root: str, endpoint_id: str) -> str:
    """The base URL of one endpoint: `<root>/v2/<endpoint_id>` (a root already ending in /v2 is fine)."""
    endpoint_id = endpoint_id.strip()
    if not endpoint_id or "/" in endpoint_id:
        raise RunPodError(
            f"{endpoint_id!r} is not a RunPod endpoint id.",
            "Copy the endpoint id from the RunPod console (Serverless → your endpoint).",
        )
    root = root.strip().rstrip("/")
    if root.endswith("/v2"):
        root = root[: -len("/v2")]
    return f"{root}/v2/{quote(endpoint_id, safe='')}"


# --- client -----------------------------------------------------------------------------------------

_SAFE_OPS = frozenset({"status", "health", "cancel", "retry"})


class RunPodClient:
    """Talks to one RunPod Serverless endpoint. Use as `async with RunPodClient(...) as client`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise RunPodError(
                f"{base_url!r} is not an http(s) URL.",
                "Use https://api.runpod.ai/v2/<endpoint id>, or the sandbox URL.",
            )
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        headers = {"Accept": "application/json"}
        if api_key:
            register_secret(api_key)  # a server echoing it back must not show it (core/redact.py)
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"RunPodClient({self.base_url!r})"

    async def __aenter__(self) -> RunPodClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- calls ---

    async def run(self, body: dict[str, Any]) -> JobStatus:
        """Submit a job (`POST /run`); the answer holds the job id, to be stored exactly as given.

        Raises `SubmissionUncertainError` whenever a job may exist without the caller knowing its id
        (timeout after sending, 5xx, or a success answer that cannot be read)."""
        try:
            return self._job_status(await self._call("POST", "run", "run", body=body), "run")
        except RunPodBadResponseError as exc:
            raise self._uncertain(f"unreadable answer: {exc.message}", exc.status_code) from None

    async def status(self, job_id: str) -> JobStatus:
        """`GET /status/{id}`: progress while running, the final output or error at the end."""
        return self._job_status(await self._call("GET", f"status/{_seg(job_id)}", "status", job_id), "status")

    async def cancel(self, job_id: str) -> JobStatus:
        """`POST /cancel/{id}`; the answer says what RunPod did (normally CANCELLED)."""
        return self._job_status(await self._call("POST", f"cancel/{_seg(job_id)}", "cancel", job_id), "cancel")

    async def retry(self, job_id: str) -> JobStatus:
        """`POST /retry/{id}`: requeue a FAILED or TIMED_OUT job under the same id, before it expires."""
        return self._job_status(await self._call("POST", f"retry/{_seg(job_id)}", "retry", job_id), "retry")

    async def health(self) -> EndpointHealth:
        """`GET /health`: job and worker counters (see `EndpointHealth.summary`)."""
        data = await self._call("GET", "health", "health")
        try:
            return EndpointHealth.model_validate(data)
        except ValidationError as exc:
            raise RunPodBadResponseError(
                f"RunPod's /health answer has an unexpected shape: {_short(exc)}",
                "Check that the URL points at a RunPod Serverless endpoint.",
                status_code=200,
            ) from None

    # --- machinery ---

    @staticmethod
    def _job_status(data: Any, op: str) -> JobStatus:
        try:
            return JobStatus.model_validate(data)
        except ValidationError as exc:
            raise RunPodBadResponseError(
                f"RunPod's /{op} answer has an unexpected shape: {_short(exc)}",
                "Check that the URL points at a RunPod Serverless endpoint.",
                status_code=200,
            ) from None

    async def _call(
        self,
        method: str,
        path: str,
        op: str,
        job_id: str | None = None,
        *,
        body: dict[str, Any] | None = None,
    ) -> Any:
        safe = op in _SAFE_OPS
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            try:
                response = await self._http.request(method, path, json=body)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise RunPodError(f"Bad RunPod URL {self.base_url!r}: {exc}") from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The connection was never made, so nothing was sent: safe to retry every call.
                if last:
                    raise RunPodNetworkError(
                        f"Could not reach RunPod ({op}) after {attempt} attempts: {_describe(exc)}.",
                        "Check the internet connection; nothing was changed on RunPod."
                        + (" No job was submitted." if op == "run" else ""),
                    ) from None
                await self._pause(op, attempt, _describe(exc), None)
                continue
            except httpx.TransportError as exc:
                if not safe:
                    raise self._uncertain(_describe(exc), None) from None
                if last:
                    raise RunPodNetworkError(
                        f"RunPod did not answer ({op}) after {attempt} attempts: {_describe(exc)}.",
                        "Check the internet connection; this says nothing about the job itself.",
                    ) from None
                await self._pause(op, attempt, _describe(exc), None)
                continue

            code = response.status_code
            log.debug("RunPod %s %s → %s", method, path, code)
            if code == 429:
                retry_after = _retry_after(response)
                if last or (retry_after is not None and retry_after > self.backoff_max):
                    raise RunPodRateLimitedError(
                        f"RunPod is rate-limiting {op} calls (429){_after(retry_after)}.",
                        "Too many requests on this endpoint; wait a little and try again.",
                        retry_after=retry_after,
                    )
                await self._pause(op, attempt, "429 Too Many Requests", retry_after)
                continue
            if code >= 500:
                if not safe:
                    raise self._uncertain(f"HTTP {code}", code)
                if last:
                    raise RunPodServerError(
                        f"RunPod answered {code} to {op} after {attempt} attempts: {_server_text(response)}",
                        "RunPod is having trouble; try again in a few minutes.",
                        status_code=code,
                    )
                await self._pause(op, attempt, f"HTTP {code}", _retry_after(response))
                continue
            return self._decode(response, op, job_id)

    def _decode(self, response: httpx.Response, op: str, job_id: str | None) -> Any:
        code = response.status_code
        if code in (401, 403):
            raise RunPodUnauthorizedError(
                f"RunPod refused the API key ({code}).",
                "Check the RunPod API key in Settings (it needs access to this endpoint).",
                status_code=code,
            )
        if code == 404:
            if job_id is not None:
                raise RunPodNotFoundError(
                    f"RunPod does not know job {job_id} (404): {_server_text(response)}",
                    "Right after submitting this means it is not registered yet; "
                    "30 minutes after it finished, its result has expired.",
                    job_id=job_id,
                )
            raise RunPodNotFoundError(
                f"RunPod has no such endpoint ({op} → 404): {_server_text(response)}",
                "Check the endpoint id in Settings.",
            )
        if code >= 400:
            raise RunPodRequestError(
                f"RunPod rejected the {op} request ({code}): {_server_text(response)}",
                "413 means the request is over 10 MB: send data by URL." if code == 413 else "",
                status_code=code,
            )
        if code >= 300:
            raise RunPodBadResponseError(
                f"RunPod answered {op} with an unexpected {code}.",
                "Check the endpoint URL in Settings.",
                status_code=code,
            )
        try:
            return response.json()
        except ValueError:
            raise RunPodBadResponseError(
                f"RunPod's {op} answer is not JSON: {redact(response.text[:2000])[:200]!r}",
                "Check that the URL points at a RunPod Serverless endpoint.",
                status_code=code,
            ) from None

    def _uncertain(self, what: str, code: int | None) -> SubmissionUncertainError:
        return SubmissionUncertainError(
            f"The submission may or may not have created a job ({what}).",
            "Do not resubmit yet: check the endpoint's jobs (health, or the RunPod console) first, "
            "or a second training job may run and be billed.",
            status_code=code,
        )

    async def _pause(self, op: str, attempt: int, why: str, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = retry_after
        else:
            # Full jitter: spreads retries of many clients over the whole backoff window.
            delay = random.uniform(0.0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))
        log.warning(
            "RunPod %s failed (%s); retrying in %.2f s (attempt %d of %d)",
            op,
            why,
            delay,
            attempt + 1,
            self.max_attempts,
        )
        await asyncio.sleep(delay)


def _seg(job_id: str) -> str:
    if not job_id or not job_id.strip():
        raise ValueError("job_id is empty")
    return quote(job_id, safe="")


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _after(retry_after: float | None) -> str:
    return f"; it asked to wait {retry_after:.0f} s" if retry_after is not None else ""


def _server_text(response: httpx.Response) -> str:
    """What the server said, short and redacted (a proxy or a test server may echo the request)."""
    try:
        data = response.json()
    except ValueError:
        return redact(response.text[:2000])[:300].strip() or response.reason_phrase
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return redact(str(data[key]))[:300]
    return redact(str(data))[:300]


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
