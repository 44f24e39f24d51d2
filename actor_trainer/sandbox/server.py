"""A local endpoint that speaks RunPod Serverless's cloud HTTP API (docs/runpod.md), for the sandbox.

Routes under `/v2/{endpoint_id}`: `POST /run`, `GET|POST /status/{id}`, `POST /cancel/{id}`,
`POST /retry/{id}`, `GET /health`, `POST /purge-queue`. Bearer auth when an API key is set. Jobs
run the pluggable worker function (see `jobs.py`) as tasks the endpoint owns; `policy.ttl` and
`policy.executionTimeout` are enforced (the sandbox accepts any positive value, so tests can use
short ones); finished results stay readable for `result_window_s`, then `/status` answers 404.
Webhooks follow RunPod's delivery rules. Every answer is marked as a simulation (`"sandbox": true`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from actor_trainer.core.models import JobState
from actor_trainer.sandbox.faults import Faults
from actor_trainer.sandbox.jobs import RequestRecord, SandboxJob, WorkerFn
from actor_trainer.sandbox.lifecycle import JobLifecycle
from actor_trainer.sandbox.webhooks import WebhookSender

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_EXECUTION_TIMEOUT_MS = 600_000  # RunPod's endpoint default: 10 minutes
DEFAULT_TTL_MS = 24 * 3600 * 1000
NOT_FOUND_BODY = {"error": "request does not exist"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SandboxEndpoint:
    """A RunPod-compatible endpoint on a local port. `faults` and `result_window_s` may be changed
    while it runs; `jobs` and `requests` are read-only records for tests."""

    def __init__(
        self,
        worker: WorkerFn,
        *,
        api_key: str | None = None,
        faults: Faults | None = None,
        result_window_s: float = 180.0,
        webhook_timeout_s: float = 10.0,
        webhook_retry_interval_s: float = 10.0,
        webhook_attempts: int = 3,
        endpoint_id: str = "sandbox",
        max_workers: int = 3,
        cancel_grace_s: float = 0.5,
    ) -> None:
        self.worker = worker
        self.api_key = api_key
        self.faults = faults if faults is not None else Faults.from_env()
        self.result_window_s = result_window_s
        self.endpoint_id = endpoint_id
        self.max_workers = max_workers
        self.cancel_grace_s = cancel_grace_s
        self.webhooks = WebhookSender(
            lambda: self.faults,
            timeout_s=webhook_timeout_s,
            retry_interval_s=webhook_retry_interval_s,
            attempts=webhook_attempts,
        )
        #: names this endpoint in `/health` ("owner"), so another process can tell that the run it
        #: reads about is still alive here (core/run_owner.py)
        self.owner_token = secrets.token_hex(16)
        self.base_url = ""
        self.port = 0
        self._lifecycle: JobLifecycle | None = None
        self._runner: web.AppRunner | None = None
        self._requests: list[RequestRecord] = []

    # --- public records ---

    @property
    def jobs(self) -> Mapping[str, SandboxJob]:
        """The jobs the endpoint still knows (expired and purged ones are gone), by id."""
        return MappingProxyType(self._lifecycle.jobs if self._lifecycle else {})

    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        """Every API request received so far, in order, with the status answered."""
        return tuple(self._requests)

    def request_count(self, route: str) -> int:
        return sum(1 for r in self._requests if r.route == route)

    # --- start / stop ---

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 = a free port) and return the base URL `http://…/v2/<endpoint_id>`."""
        if self._runner is not None:
            raise RuntimeError("the sandbox endpoint is already running")
        self._lifecycle = JobLifecycle(
            lambda *args: self.worker(*args),
            lambda: self.faults,
            self.webhooks,
            max_workers=self.max_workers,
            cancel_grace_s=self.cancel_grace_s,
            endpoint_id=self.endpoint_id,
        )
        await self.webhooks.start()
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._middleware])
        prefix = f"/v2/{self.endpoint_id}"
        app.router.add_post(f"{prefix}/run", self._handle_run, name="run")
        app.router.add_get(f"{prefix}/status/{{job_id}}", self._handle_status, name="status")
        app.router.add_post(f"{prefix}/status/{{job_id}}", self._handle_status, name="status-post")
        app.router.add_post(f"{prefix}/cancel/{{job_id}}", self._handle_cancel, name="cancel")
        app.router.add_post(f"{prefix}/retry/{{job_id}}", self._handle_retry, name="retry")
        app.router.add_get(f"{prefix}/health", self._handle_health, name="health")
        app.router.add_post(f"{prefix}/purge-queue", self._handle_purge, name="purge-queue")
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            await self.webhooks.close()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        shown_host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown_host}:{self.port}{prefix}"
        log.info("sandbox: RunPod-compatible endpoint (simulation) at %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """Stop listening, cancel and await every job and webhook task, close the webhook client."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._lifecycle is not None:
            await self._lifecycle.shutdown()
        await self.webhooks.close()

    async def __aenter__(self) -> SandboxEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- HTTP plumbing ---

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name
        route = "status" if route == "status-post" else route
        status = 500
        try:
            response = await self._guarded(request, handler, route)
            status = response.status
            return response
        finally:
            self._requests.append(RequestRecord(request.method, route, request.path, status))

    async def _guarded(self, request: web.Request, handler: Handler, route: str | None) -> web.StreamResponse:
        if self.api_key is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
                return _json({"error": "Unauthorized: missing or invalid API key"}, 401)
        faults = self.faults
        if route is not None and faults.applies_to(route):
            if faults.rate_limit_next > 0:
                faults.rate_limit_next -= 1
                return _json(
                    {"error": "Too many requests (simulated rate limit)"},
                    429,
                    headers={"Retry-After": f"{faults.rate_limit_retry_after_s:g}"},
                )
            if faults.server_error_next > 0:
                faults.server_error_next -= 1
                return _json({"error": "Internal server error (simulated)"}, 500)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            return _json({"error": exc.reason}, exc.status)

    @property
    def _life(self) -> JobLifecycle:
        if self._lifecycle is None:
            raise RuntimeError("the sandbox endpoint is not started")
        return self._lifecycle

    def _lookup(self, job_id: str) -> SandboxJob | None:
        life = self._life
        job = life.jobs.get(job_id)
        if job is None:
            return None
        if job.finished_at is not None and life.now() - job.finished_at > self.result_window_s:
            log.info("sandbox: result of job %s expired", job.id)
            life.delete(job)
            return None
        return job

    # --- routes ---

    async def _handle_run(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json({"error": "request body is over 10 MB: send large data by URL"}, 413)
        try:
            body = json.loads(raw)
        except ValueError:
            return _json({"error": "request body is not valid JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "request body must be a JSON object"}, 400)
        job_input = body.get("input")
        if not isinstance(job_input, dict):
            return _json({"error": "request body needs an 'input' object"}, 400)
        webhook = body.get("webhook")
        if webhook is not None and not (isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
            return _json({"error": "'webhook' must be an http(s) URL"}, 400)
        policy = body.get("policy") or {}
        if not isinstance(policy, dict):
            return _json({"error": "'policy' must be an object"}, 400)
        timeout_ms = policy.get("executionTimeout", DEFAULT_EXECUTION_TIMEOUT_MS)
        ttl_ms = policy.get("ttl", DEFAULT_TTL_MS)
        for name, value in (("executionTimeout", timeout_ms), ("ttl", ttl_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                return _json({"error": f"policy.{name} must be a positive number of milliseconds"}, 400)
        job = self._life.submit(job_input, webhook, timeout_ms / 1000, ttl_ms / 1000)
        return _json({"id": job.id, "status": job.status.value, "sandbox": True})

    async def _handle_status(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        job = self._lookup(job_id)
        if job is None:
            return _json(NOT_FOUND_BODY, 404)
        life, faults = self._life, self.faults
        if life.now() - job.submitted_at < faults.not_registered_for_s:
            return _json(NOT_FOUND_BODY, 404)
        obj = job.status_object(life.now())
        if (
            job.status is JobState.COMPLETED
            and job.last_progress is not None
            and faults.late_progress_after_completion > 0
        ):
            faults.late_progress_after_completion -= 1
            obj.update(status=JobState.IN_PROGRESS.value, output=job.last_progress)
        return _json(obj)

    async def _handle_cancel(self, request: web.Request) -> web.Response:
        job = self._lookup(request.match_info["job_id"])
        if job is None:
            return _json(NOT_FOUND_BODY, 404)
        if not job.status.is_terminal:
            self._life.cancel(job)
        return _json({"id": job.id, "status": job.status.value, "sandbox": True})

    async def _handle_retry(self, request: web.Request) -> web.Response:
        job = self._lookup(request.match_info["job_id"])
        if job is None:
            return _json(NOT_FOUND_BODY, 404)
        if not self._life.retry(job):
            why = f"job {job.id} is {job.status.value}; only FAILED or TIMED_OUT jobs can be retried"
            return _json({"error": why}, 400)
        return _json({"id": job.id, "status": job.status.value, "sandbox": True})

    async def _handle_health(self, request: web.Request) -> web.Response:
        return _json({**self._life.health(), "owner": self.owner_token})

    async def _handle_purge(self, request: web.Request) -> web.Response:
        return _json({"removed": self._life.purge_queue(), "status": "completed"})


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


async def serve_forever(host: str, port: int, worker: WorkerFn, **options: Any) -> None:
    """Run a sandbox endpoint until cancelled (options go to `SandboxEndpoint`)."""
    endpoint = SandboxEndpoint(worker, **options)
    await endpoint.start(host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await endpoint.stop()
