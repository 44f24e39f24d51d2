"""Fuzzing the webhook server over real HTTP: whatever arrives, it answers 4xx (or 200 for a valid
delivery to a known token), never 5xx, never crashes, and never applies a rejected delivery.

One server per test runs on its own event loop in a thread; hypothesis drives plain sync examples
through one httpx.Client.
"""

from __future__ import annotations

import asyncio
import json
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from actor_trainer.core.contract import JobStatus
from actor_trainer.core.events import EventBus
from actor_trainer.core.models import JobState
from actor_trainer.core.webhook_server import (
    Rejected,
    WebhookServer,
    parse_json,
    parse_status,
)
from actor_trainer.core.webhook_tokens import new_webhook_token, token_matches, webhook_token_hash

MAX_BODY = 4096
STANDARD_METHODS = ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Running:
    server: WebhookServer
    client: httpx.Client
    token: str
    delivered: list[JobStatus] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(
        self, token: str, content: bytes, content_type: str | None = "application/json", method: str = "POST"
    ) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        return self.client.request(method, f"/api/training-webhook/{token}", content=content, headers=headers)

    def applied(self) -> int:
        with self.lock:
            return len(self.delivered)

    def still_works(self) -> None:
        before = self.applied()
        body = {"id": f"probe-{before}", "status": "COMPLETED", "output": {"loraUrl": "s3://b/k"}}
        answer = self.post(self.token, json.dumps(body).encode())
        assert answer.status_code == 200
        wait_until(lambda: self.applied() == before + 1)


def wait_until(predicate: Any, within_s: float = 5) -> None:
    event = threading.Event()
    for _ in range(int(within_s / 0.005)):
        if predicate():
            return
        event.wait(0.005)
    raise AssertionError("condition not met in time")


@pytest.fixture
def running() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="webhook-fuzz-loop", daemon=True)
    thread.start()
    token = new_webhook_token()
    digests = [webhook_token_hash(token)]
    holder: list[Running] = []

    async def on_delivery(tok: str, status: JobStatus) -> None:
        assert tok == token
        with holder[0].lock:
            holder[0].delivered.append(status)

    server = WebhookServer(
        is_known_token=lambda t: token_matches(t, digests),
        on_delivery=on_delivery,
        events=EventBus(),
        max_body_bytes=MAX_BODY,
    )
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    client = httpx.Client(base_url=server.local_url, timeout=10)
    run = Running(server=server, client=client, token=token)
    holder.append(run)
    try:
        yield run
        run.still_works()
    finally:
        client.close()
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def is_valid_delivery(content: bytes, content_type: str | None) -> bool:
    """The oracle: what a correct server must accept (everything else is a 4xx). The Content-Type
    does not matter: RunPod documents none, so the body is read as JSON whatever it says."""
    if len(content) > MAX_BODY:
        return False
    try:
        parse_status(parse_json(content))
    except Rejected:
        return False
    return True


def check_answer(run: Running, answer: httpx.Response, *, acceptable: bool, before: int) -> None:
    """`before` is the count of applied deliveries taken before the request was sent."""
    event(f"HTTP {answer.status_code}")
    assert answer.status_code < 500, answer.text
    if acceptable:
        assert answer.status_code == 200 and answer.json() == {"received": True}
        wait_until(lambda: run.applied() == before + 1)
    else:
        assert 400 <= answer.status_code < 500, answer.text
        assert run.applied() == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
states = st.sampled_from([s.value for s in JobState]) | st.text(max_size=12)
status_like = st.fixed_dictionaries(
    {"id": st.text(max_size=20), "status": states},
    optional={"output": json_values, "error": json_values, "delayTime": json_values, "input": json_values},
)
valid_status = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=20), "status": st.sampled_from([s.value for s in JobState])},
    optional={
        "output": json_values,
        "error": json_values,
        "delayTime": st.integers(0, 10**9) | st.none(),
        "input": json_values,
        "workerId": st.text(max_size=10),
    },
)
header_text = st.text(alphabet=string.ascii_letters + string.digits + "/+;=-_. ", max_size=40).map(str.strip)
content_types = (
    st.just("application/json")
    | st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "APPLICATION/JSON",
            "application/problem+json",
        ]
    )
    | header_text
)


@pytest.mark.timeout(300)
@FUZZ
@given(content=st.binary(max_size=600))
@example(content=b"[" * 2000 + b"]" * 2000)  # nested past Python's recursion limit, under the cap
@example(content=b'{"id": "x", "status": "COMPLETED", "output": ' + b"[" * 1500 + b"]" * 1500 + b"}")
@example(content=b'{"id": "x", "status": "COMPLETED"}')
def test_random_bytes_never_break_the_server(running: Running, content: bytes) -> None:
    before = running.applied()
    answer = running.post(running.token, content)
    check_answer(running, answer, acceptable=is_valid_delivery(content, "application/json"), before=before)


@pytest.mark.timeout(300)
@FUZZ
@given(
    value=valid_status | status_like | json_values,
    known=st.sampled_from([True, True, False]),
    content_type=content_types,
)
def test_random_json_and_content_types(running: Running, value: Any, known: bool, content_type: str) -> None:
    content = json.dumps(value).encode()
    token = running.token if known else new_webhook_token()
    before = running.applied()
    answer = running.post(token, content, content_type or None)
    acceptable = known and is_valid_delivery(content, content_type or None)
    check_answer(running, answer, acceptable=acceptable, before=before)
    if not known:
        assert answer.status_code == 404


@pytest.mark.timeout(300)
@FUZZ
@given(size=st.integers(min_value=MAX_BODY - 64, max_value=MAX_BODY * 64), chunked=st.booleans())
def test_huge_bodies_are_413(running: Running, size: int, chunked: bool) -> None:
    body = {"id": "big", "status": "COMPLETED", "output": "x" * size}
    content = json.dumps(body).encode()
    before = running.applied()
    if chunked:
        answer = running.client.post(
            f"/api/training-webhook/{running.token}",
            content=iter([content[i : i + 8192] for i in range(0, len(content), 8192)]),
            headers={"Content-Type": "application/json"},
        )
    else:
        answer = running.post(running.token, content)
    if len(content) > MAX_BODY:
        assert answer.status_code == 413
        assert running.applied() == before
    else:
        check_answer(running, answer, acceptable=True, before=before)


@pytest.mark.timeout(300)
@FUZZ
@given(
    method=st.sampled_from(STANDARD_METHODS) | st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=12),
    valid_body=st.booleans(),
)
def test_random_methods(running: Running, method: str, valid_body: bool) -> None:
    content = json.dumps({"id": "m", "status": "COMPLETED"}).encode() if valid_body else b"?"
    before = running.applied()
    answer = running.post(running.token, content, method=method)
    if method == "POST":
        check_answer(running, answer, acceptable=valid_body, before=before)
    elif method in STANDARD_METHODS:
        assert answer.status_code == 405, (method, answer.status_code)
    else:  # unknown verbs (CONNECT, made-up ones) may also be refused by the HTTP parser itself
        assert answer.status_code in (400, 405, 501), (method, answer.status_code)
    assert running.applied() == before + (method == "POST" and valid_body)


@pytest.mark.timeout(300)
@FUZZ
@given(raw_token=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200), valid_body=st.booleans())
def test_random_tokens_are_404(running: Running, raw_token: str, valid_body: bool) -> None:
    content = json.dumps({"id": "t", "status": "FAILED"}).encode() if valid_body else b"{}"
    before = running.applied()
    answer = running.post(quote(raw_token, safe=""), content)
    if raw_token == running.token:  # pragma: no cover - 256 random bits
        return
    assert 400 <= answer.status_code < 500, (raw_token, answer.status_code)
    assert running.applied() == before
