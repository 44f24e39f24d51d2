"""Webhook delivery the way RunPod does it (docs/runpod.md, "Webhooks").

One POST of the job's status object (plus `input` and `webhook`) when the job ends. Success is an
HTTP 200 within the timeout; otherwise it is retried, up to `attempts` deliveries in all,
`retry_interval_s` apart. No signature, no auth header. Faults can lose or duplicate deliveries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from actor_trainer.sandbox.faults import Faults
from actor_trainer.sandbox.jobs import SandboxJob, WebhookDelivery

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(
        self,
        faults: Callable[[], Faults],
        *,
        timeout_s: float,
        retry_interval_s: float,
        attempts: int,
    ) -> None:
        self._faults = faults
        self.timeout_s = timeout_s
        self.retry_interval_s = retry_interval_s
        self.attempts = max(1, attempts)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "actor-trainer-sandbox"})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, job: SandboxJob, body: dict[str, Any]) -> None:
        """Deliver one terminal event of `job`, with retries; every attempt lands in `job.deliveries`."""
        faults = self._faults()
        url = job.webhook
        if not url:
            return
        if faults.lose_webhooks > 0:
            faults.lose_webhooks -= 1
            log.info("sandbox: webhook for job %s (%s) lost on purpose", job.id, body["status"])
            job.deliveries.append(WebhookDelivery(job.id, body["status"], attempt=0, http_status=None, lost=True))
            return
        if faults.echo_padding_bytes > 0:
            body = {**body, "input": {**(body.get("input") or {}), "padding": "p" * faults.echo_padding_bytes}}
        copies = 1 + max(0, faults.duplicate_webhooks)
        if faults.webhook_burst:
            await asyncio.gather(
                *(self._deliver_with_retries(job, url, body, duplicate=copy > 0) for copy in range(copies))
            )
            return
        for copy in range(copies):
            await self._deliver_with_retries(job, url, body, duplicate=copy > 0)

    async def _deliver_with_retries(self, job: SandboxJob, url: str, body: dict[str, Any], *, duplicate: bool) -> None:
        for attempt in range(1, self.attempts + 1):
            status, error = await self._post(url, body)
            job.deliveries.append(
                WebhookDelivery(job.id, body["status"], attempt, status, error=error, duplicate=duplicate)
            )
            if status == 200:
                log.info("sandbox: webhook for job %s (%s) delivered", job.id, body["status"])
                return
            log.info(
                "sandbox: webhook for job %s failed (attempt %d of %d): %s",
                job.id,
                attempt,
                self.attempts,
                error or f"HTTP {status}",
            )
            if attempt < self.attempts:
                await asyncio.sleep(self.retry_interval_s)

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int | None, str | None]:
        if self._session is None:
            return None, "the endpoint is stopped"
        content_type = self._faults().webhook_content_type
        if content_type is None:
            content_type = "application/json"
        # "" sends no Content-Type at all (aiohttp would add application/octet-stream).
        headers = {"Content-Type": content_type} if content_type else {}
        skip = () if content_type else ("Content-Type",)
        try:
            async with self._session.post(
                url,
                data=json.dumps(body).encode(),
                headers=headers,
                skip_auto_headers=skip,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as response:
                await response.read()
                return response.status, None
        except TimeoutError:
            return None, f"no answer within {self.timeout_s:g} s"
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {exc}"
