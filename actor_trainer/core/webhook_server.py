"""The webhook receiver: an aiohttp server on the app's event loop that RunPod POSTs job results to.

RunPod signs nothing (docs/runpod.md, "Webhooks"), so each job gets an unguessable URL token; a delivery
for an unknown token changes nothing. RunPod documents neither the Content-Type nor a size limit and
echoes the job's `input` (a `/run` body may be 10 MB): the body is parsed as JSON whatever its declared
type, up to `MAX_BODY_BYTES`, read in chunks with a bound (large bodies a few at a time). A valid
delivery is answered 200 at once and handed to `on_delivery` in a task the server owns (RunPod
retries anything slower than ~10 s). The request checks are plain functions raising `Rejected`,
unit-testable without a server. Neither the token (at most its first 4 characters) nor the body
(which echoes the job `input`) is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web
from pydantic import ValidationError

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import EventBus, LogLevel, WebhookReceived
from actor_trainer.core.models import utc_now
from actor_trainer.core.webhook_guard import (
    HEADER_TIMEOUT_S,
    MAX_CONNECTIONS,
    ConnectionGuard,
    GuardedSite,
    RejectLog,
    ServerLogLimiter,
    guard_for,
)
from actor_trainer.core.webhook_tokens import TOKEN_FORMAT, WEBHOOK_PATH, token_preview

log = logging.getLogger(__name__)

PROBE_PATH = f"{WEBHOOK_PATH}/_probe"
HEALTH_PATH = "/api/health"
SERVICE_NAME = "actor-trainer-webhook"
_REASON_MAX = 200
# RunPod echoes the job input (a ComfyUI workflow: about 6 levels); far deeper is not a status object.
MAX_JSON_DEPTH = 64
#: A webhook echoes the job input, and a `/run` body may be up to 10 MB (docs/runpod.md): room for both.
MAX_BODY_BYTES = 12 * 1024 * 1024
#: Bodies above this are read and parsed a few at a time (`LARGE_BODY_SLOTS`) and parsed off the loop.
LARGE_BODY_BYTES = 1024 * 1024
LARGE_BODY_SLOTS = 4
#: A body must arrive within this (a client trickling bytes holds a connection and a body slot).
BODY_READ_TIMEOUT_S = 30.0


# --- errors -------------------------------------------------------------------------------------


class WebhookError(ActorTrainerError):
    """The webhook server could not start, or a delivery test failed."""


class WebhookUnreachableError(WebhookError):
    """Nothing answered at the public URL."""


class WebhookWrongServerError(WebhookError):
    """Something answered at the public URL, but the request never reached this app's server."""


# --- request checks (plain functions) -----------------------------------------------------------


class Rejected(Exception):
    """A delivery that fails a check: `status` is the HTTP answer, `reason` a short explanation."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def check_token(token: str, is_known_token: Callable[[str], bool]) -> None:
    """404 unless `token` has the shape of ours and is known. Both cases answer alike."""
    if not TOKEN_FORMAT.fullmatch(token) or not is_known_token(token):
        raise Rejected(404, "unknown webhook token")


def check_declared_length(content_length: int | None, max_body_bytes: int) -> None:
    """413 when the declared body is larger than we accept (checked before reading anything)."""
    if content_length is not None and content_length > max_body_bytes:
        raise Rejected(413, f"the body is larger than {max_body_bytes} bytes")


def parse_json(body: bytes) -> Any:
    """400 unless `body` is one UTF-8 JSON document nested at most `MAX_JSON_DEPTH` levels."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "the body is not valid UTF-8 JSON") from None
    except RecursionError:  # where exactly this strikes depends on the interpreter's stack
        raise Rejected(400, "the JSON document is nested too deeply") from None
    if json_depth(data) > MAX_JSON_DEPTH:  # so the rule does not depend on it
        raise Rejected(400, "the JSON document is nested too deeply")
    return data


def json_depth(data: Any) -> int:
    """How many arrays/objects deep `data` goes (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((item, depth) for item in value)
    return deepest


def parse_status(data: Any) -> JobStatus:
    """422 unless `data` is a RunPod status object (id, status, ...)."""
    if not isinstance(data, dict):
        raise Rejected(422, "the body is not a JSON object")
    try:
        return JobStatus.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise Rejected(422, f"{where}: {first['msg']}"[:_REASON_MAX]) from None
    except RecursionError:
        raise Rejected(422, "the status object is nested too deeply") from None


async def read_capped(stream: Any, max_body_bytes: int) -> bytes:
    """Read a request body, 413 as soon as it exceeds `max_body_bytes` (chunked bodies included)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk: bytes = await stream.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_body_bytes:
            raise Rejected(413, f"the body is larger than {max_body_bytes} bytes")
        chunks.append(chunk)


def parse_delivery(body: bytes) -> JobStatus:
    """The status object in a delivery's body (`Rejected` 400/422 otherwise)."""
    return parse_status(parse_json(body))


# --- the server ---------------------------------------------------------------------------------


class WebhookServer:
    """Serves `POST /api/training-webhook/{token}`, the delivery-test probe and `GET /api/health`.

    `start()` binds (port 0 = a free port); `local_url`, `port`, `deliveries` (accepted ones) and
    `last_delivery_at` describe it. `stop()` closes the port, then lets in-flight `on_delivery`
    tasks finish for `stop_grace_s` and cancels the rest: it returns within about 4 s.
    """

    def __init__(
        self,
        *,
        is_known_token: Callable[[str], bool],
        on_delivery: Callable[[str, JobStatus], Awaitable[None]],
        events: EventBus,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = MAX_BODY_BYTES,
        stop_grace_s: float = 1.5,
        max_connections: int = MAX_CONNECTIONS,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        reject_lines_per_minute: int = 10,
    ) -> None:
        self._is_known_token = is_known_token
        self._on_delivery = on_delivery
        self.events = events
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.stop_grace_s = stop_grace_s
        self.local_url = ""
        self.last_delivery_at: datetime | None = None
        self.deliveries = 0
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._probes: dict[str, asyncio.Future[float]] = {}
        self._large_bodies = asyncio.Semaphore(LARGE_BODY_SLOTS)
        # Hostile clients (issue 9, item 7; docs/runpod.md "Webhooks"): webhook_guard.py.
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.rejects = RejectLog(events, lines_per_window=reject_lines_per_minute)
        self.guard: ConnectionGuard | None = None
        self._log_limiter = ServerLogLimiter(self.rejects)
        self._recent: dict[str, float] = {}

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"{WEBHOOK_PATH}/{{token}}", self._handle_delivery)
        app.router.add_post(f"{PROBE_PATH}/{{nonce}}", self._handle_probe)
        app.router.add_get(HEALTH_PATH, self._handle_health)
        # No access log: request paths carry the tokens. keepalive_timeout closes a kept-alive
        # connection idle between requests; the guard bounds the first request's head and the count.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.5, keepalive_timeout=self.header_timeout_s)
        await runner.setup()
        self.guard = guard_for(
            runner, self.rejects, max_connections=self.max_connections, header_timeout_s=self.header_timeout_s
        )
        try:
            await GuardedSite(runner, self.host, self.port, guard=self.guard).start()
        except OSError as exc:
            await runner.cleanup()
            raise WebhookError(
                f"The webhook server could not listen on {self.host}:{self.port} ({exc.strerror or exc}).",
                "Choose another port (ACTOR_TRAINER_WEBHOOK_PORT / Settings), or leave it empty for a free one.",
            ) from exc
        self._runner = runner
        logging.getLogger("aiohttp.server").addFilter(self._log_limiter)  # malformed requests, bounded
        self.port = int(runner.addresses[0][1])
        shown = (
            "127.0.0.1"
            if self.host in ("", "0.0.0.0")
            else ("[::1]" if self.host == "::" else (f"[{self.host}]" if ":" in self.host else self.host))
        )
        self.local_url = f"http://{shown}:{self.port}"
        self.events.log(LogLevel.INFO, f"Webhook server listening on {self.local_url}")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await runner.cleanup()  # no new deliveries from here on
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.stop_grace_s)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)
        for future in self._probes.values():
            future.cancel()
        self._probes.clear()
        self.rejects.flush()
        logging.getLogger("aiohttp.server").removeFilter(self._log_limiter)
        self.events.log(LogLevel.INFO, "Webhook server stopped")

    # -- probe support for test_delivery --

    def expect_probe(self, nonce: str) -> asyncio.Future[float]:
        """Register a probe nonce; the future resolves (loop time) when the probe arrives."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._probes[nonce] = future
        return future

    def forget_probe(self, nonce: str) -> None:
        future = self._probes.pop(nonce, None)
        if future is not None and not future.done():
            future.cancel()

    # -- handlers --

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "service": SERVICE_NAME})

    async def _handle_probe(self, request: web.Request) -> web.Response:
        future = self._probes.get(request.match_info["nonce"])
        if future is None or future.done():
            return web.json_response({"received": False, "error": "unknown probe"}, status=404)
        future.set_result(asyncio.get_running_loop().time())
        return web.json_response({"received": True, "probe": request.match_info["nonce"], "service": SERVICE_NAME})

    async def _handle_delivery(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            try:
                check_token(token, self._is_known_token)
            except Rejected:
                raise
            except Exception:  # the caller's lookup failed: ask RunPod to retry later
                log.exception("is_known_token failed")
                self.events.log(LogLevel.ERROR, "Webhook token lookup failed; the delivery will be retried.")
                return web.json_response({"received": False, "error": "temporarily unavailable"}, status=503)
            # Whatever the Content-Type says: RunPod does not document the one it sends.
            check_declared_length(request.content_length, self.max_body_bytes)
            status = await self._read_status(request)
        except Rejected as rejected:
            self._record(token, accepted=False, job_id=None, detail=f"{rejected.status} {rejected.reason}")
            return web.json_response({"received": False, "error": rejected.reason}, status=rejected.status)
        self.deliveries += 1
        self.last_delivery_at = utc_now()
        self._record(token, accepted=True, job_id=status.id, detail=str(status.status))
        task = asyncio.get_running_loop().create_task(
            self._apply(token, status), name=f"webhook-delivery-{status.id[:40]}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"received": True})

    async def _read_status(self, request: web.Request) -> JobStatus:
        """Read and parse the body within `BODY_READ_TIMEOUT_S`; a large one holds a body slot, so
        at most `LARGE_BODY_SLOTS` large bodies are in memory at once, and is parsed off the loop."""
        try:
            async with asyncio.timeout(BODY_READ_TIMEOUT_S):
                declared = request.content_length
                if declared is not None and declared <= LARGE_BODY_BYTES:
                    return parse_delivery(await read_capped(request.content, self.max_body_bytes))
                async with self._large_bodies:  # large, or chunked (size unknown)
                    body = await read_capped(request.content, self.max_body_bytes)
                    if len(body) <= LARGE_BODY_BYTES:
                        return parse_delivery(body)
                    return await asyncio.to_thread(parse_delivery, body)
        except TimeoutError:
            raise Rejected(408, f"the body did not arrive within {BODY_READ_TIMEOUT_S:g} s") from None

    def _record(self, token: str, *, accepted: bool, job_id: str | None, detail: str) -> None:
        who = token_preview(token)
        if accepted:
            message = f"Webhook received for job {job_id}: {detail} (token {who})"
            if self._repeated(f"{job_id}\0{detail}"):  # a burst of copies: one line, not hundreds
                log.debug("%s (again)", message)
            else:
                log.info("%s", message)
                self.events.log(LogLevel.INFO, message)
        else:  # rate-limited: a flood of bad requests must not flood the log
            self.rejects.note(f"Webhook rejected: {detail} (token {who})", f"HTTP {detail.split(' ', 1)[0]}")
        self.events.emit(WebhookReceived(job_id=job_id, accepted=accepted, detail=detail))

    def _repeated(self, key: str, window_s: float = 10.0) -> bool:
        """Whether the same delivery (job and state) was logged in the last `window_s` seconds."""
        now = time.monotonic()
        last = self._recent.get(key)
        if last is not None and now - last < window_s:
            return True
        if len(self._recent) >= 256:
            self._recent.pop(next(iter(self._recent)))
        self._recent[key] = now
        return False

    async def _apply(self, token: str, status: JobStatus) -> None:
        try:
            await self._on_delivery(token, status)
        except asyncio.CancelledError:
            log.info("webhook processing for job %s cancelled", status.id)
            raise
        except Exception as exc:  # never let one delivery take the server down
            log.exception("webhook processing for job %s failed", status.id)
            self.events.log(LogLevel.ERROR, f"Webhook for job {status.id} could not be applied: {exc}")


# --- delivery test ------------------------------------------------------------------------------


async def test_delivery(public_base_url: str, server: WebhookServer, timeout_s: float = 10) -> float:
    """POST a probe through `public_base_url` and return the round trip in seconds.

    Raises `WebhookUnreachableError` when nothing answers, `WebhookWrongServerError` when something
    answers but the probe never reached `server` (a tunnel to the wrong port, another server).
    """
    nonce = secrets.token_urlsafe(16)
    base = public_base_url.rstrip("/")
    arrived = server.expect_probe(nonce)
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            answer = await client.post(
                f"{base}{PROBE_PATH}/{nonce}", json={"probe": nonce}, headers={"ngrok-skip-browser-warning": "1"}
            )
    except httpx.TimeoutException:
        raise WebhookUnreachableError(f"{base} did not answer within {timeout_s:g} s.", _UNREACHABLE_HINT) from None
    except httpx.HTTPError as exc:
        raise WebhookUnreachableError(
            f"{base} could not be reached ({type(exc).__name__}: {exc}).", _UNREACHABLE_HINT
        ) from None
    finally:
        reached = arrived.done() and not arrived.cancelled()
        server.forget_probe(nonce)
    elapsed = time.perf_counter() - started
    if reached and answer.status_code == 200:
        return elapsed
    ngrok_code = answer.headers.get("ngrok-error-code")
    if ngrok_code:
        message = (
            f"The tunnel at {base} answered, but could not reach this app's webhook server "
            f"({ngrok_code}, HTTP {answer.status_code})."
        )
    elif reached:
        message = f"The probe reached this app, but the answer came back as HTTP {answer.status_code}."
    else:
        message = f"{base} answered HTTP {answer.status_code}, but the request never reached this app's webhook server."
    raise WebhookWrongServerError(
        message,
        f"The public URL must forward to {server.local_url}: with ngrok, restart the tunnel; in "
        "“public URL” mode, fix the forwarding or the URL in Settings.",
    )


test_delivery.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name

_UNREACHABLE_HINT = (
    "Check that the tunnel is running (or, in “public URL” mode, that the URL is right and forwarded "
    "to this computer), then try again. Until then, polling still tracks jobs."
)
