"""The tunnel service driving real pyngrok against the stand-in ngrok agent, through real forwarders."""

from __future__ import annotations

import asyncio
import http.server
import logging
import os
import signal
import socket
import threading
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pyngrok import conf, ngrok, process
from pyngrok.exception import PyngrokNgrokError, PyngrokNgrokInstallError, PyngrokNgrokURLError

from actor_trainer.core.events import Event, EventBus, LogEvent, LogLevel, TunnelChanged
from actor_trainer.core.tunnel import (
    TUNNEL_NAME,
    AgentUnavailableError,
    NoAuthTokenError,
    SessionLimitError,
    TunnelDroppedError,
    TunnelError,
    TunnelService,
    TunnelState,
    tunnel_error_from,
)
from tests.fixtures.ngrok import (  # noqa: F401  (fake_ngrok_fixture registers the fixture)
    FAIL_ENV,
    FakeNgrok,
    echo_upstream,
    fake_ngrok_fixture,
    make_fake_ngrok,
)
from tests.waits import wait_until


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        bus.subscribe(self.events.append)

    def tunnel_states(self) -> list[str]:
        return [e.state for e in self.events if isinstance(e, TunnelChanged)]

    def text(self) -> str:
        return "\n".join(repr(e) for e in self.events)


@pytest_asyncio.fixture
async def bus() -> EventBus:
    return EventBus()


@pytest_asyncio.fixture
async def service(fake_ngrok: FakeNgrok, bus: EventBus) -> AsyncIterator[TunnelService]:
    svc = TunnelService(
        bus,
        auth_token=fake_ngrok.token,
        ngrok_path=fake_ngrok.path,
        config_path=fake_ngrok.config_path,
        label="sandbox tunnel (simulated)",
    )
    try:
        yield svc
    finally:
        await svc.stop()


async def listed_endpoints(svc: TunnelService) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{svc.agent_api_url}/api/endpoints")
    answer.raise_for_status()
    endpoints: list[dict[str, object]] = answer.json()["endpoints"]
    return endpoints


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def refused(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            await client.get(url)
    except httpx.ConnectError:
        return True
    return False


@pytest.mark.asyncio
async def test_start_publishes_a_url_that_forwards_everything_to_the_local_server(
    service: TunnelService, bus: EventBus
) -> None:
    recorder = Recorder(bus)
    async with echo_upstream(status=201) as upstream:
        url = await service.start(upstream.port)

        assert url.startswith("http://127.0.0.1:")
        assert service.state is TunnelState.RUNNING and service.public_url == url
        assert service.local_port == upstream.port
        assert recorder.tunnel_states() == ["starting", "running"]
        assert [e for e in recorder.events if isinstance(e, TunnelChanged)][-1].public_url == url

        async with httpx.AsyncClient() as client:
            answer = await client.put(
                f"{url}/api/training-webhook/abc?x=1&y=%2F",
                content=b"\x00payload\xff",
                headers={"Content-Type": "application/octet-stream", "X-Test": "42"},
            )
        assert answer.status_code == 201
        assert answer.headers["X-Upstream"] == "echo"
        seen = upstream.seen[-1]
        assert seen["method"] == "PUT"
        assert seen["path_qs"] == "/api/training-webhook/abc?x=1&y=%2F"
        assert seen["headers"]["X-Test"] == "42"
        assert seen["body"] == b"\x00payload\xff".decode("latin-1")
        assert await service.check() is True

        listed = await listed_endpoints(service)
        assert [(e["name"], e["public_url"]) for e in listed] == [(TUNNEL_NAME, url)]


@pytest.mark.asyncio
async def test_restart_reuses_the_tunnel_and_replaces_one_with_another_upstream(service: TunnelService) -> None:
    async with echo_upstream() as first, echo_upstream() as second:
        url = await service.start(first.port)
        pid = service.agent_pid
        assert await service.start(first.port) == url  # same agent, same tunnel
        assert service.agent_pid == pid
        assert len(await listed_endpoints(service)) == 1

        new_url = await service.start(second.port)
        listed = await listed_endpoints(service)
        assert len(listed) == 1
        assert listed[0]["public_url"] == new_url == service.public_url
        assert listed[0]["upstream"] == {"url": f"http://localhost:{second.port}", "protocol": "http1"}
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{new_url}/hello")).status_code == 200
        assert second.seen and not first.seen
        # Like ngrok's free plan: the replacement gets the account's one dev domain again.
        assert new_url == url


@pytest.mark.asyncio
async def test_start_reuses_a_tunnel_to_our_port_opened_by_someone_else(
    service: TunnelService, fake_ngrok: FakeNgrok
) -> None:
    async with echo_upstream() as upstream:
        config = conf.PyngrokConfig(
            ngrok_path=str(fake_ngrok.path), config_path=str(fake_ngrok.config_path), auth_token=fake_ngrok.token
        )
        existing = await asyncio.to_thread(
            ngrok.connect, f"http://localhost:{upstream.port}", name="opened-earlier", pyngrok_config=config
        )
        assert await service.start(upstream.port) == existing.public_url
        assert [e["name"] for e in await listed_endpoints(service)] == ["opened-earlier"]


@pytest.mark.asyncio
async def test_stop_kills_the_agent_and_a_new_start_reads_a_fresh_url(service: TunnelService, bus: EventBus) -> None:
    recorder = Recorder(bus)
    async with echo_upstream() as upstream:
        url = await service.start(upstream.port)
        pid = service.agent_pid
        assert pid is not None and pid_alive(pid)

        await service.stop()
        assert not pid_alive(pid)
        assert service.state is TunnelState.STOPPED and service.public_url is None
        assert recorder.tunnel_states()[-1] == "stopped"
        assert await refused(url)

        new_url = await service.start(upstream.port)
        assert service.agent_pid not in (None, pid)
        assert [e["public_url"] for e in await listed_endpoints(service)] == [new_url]
        async with httpx.AsyncClient() as client:
            assert (await client.get(new_url)).status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fault", "error_type", "code"),
    [
        ("authtoken", NoAuthTokenError, "ERR_NGROK_4018"),
        ("invalid_authtoken", NoAuthTokenError, "ERR_NGROK_107"),
        ("session_limit", SessionLimitError, "ERR_NGROK_108"),
    ],
)
async def test_agent_startup_failures_become_typed_errors_without_the_token(
    service: TunnelService,
    fake_ngrok: FakeNgrok,
    bus: EventBus,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    error_type: type[Exception],
    code: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder(bus)
    monkeypatch.setenv(FAIL_ENV, fault)
    with pytest.raises(error_type) as raised:
        await service.start(8)
    error = raised.value
    assert code in str(error)
    assert error.hint  # type: ignore[attr-defined]
    assert service.state is TunnelState.ERROR and service.last_error is error
    assert recorder.tunnel_states() == ["starting", "error"]
    assert not process.is_process_running(str(fake_ngrok.path))
    # ngrok echoes a rejected token in its error output: it must not travel any further.
    if fault == "invalid_authtoken":
        assert "Your authtoken: [redacted]" in caplog.text
    assert fake_ngrok.token not in str(error)
    assert fake_ngrok.token not in caplog.text
    assert fake_ngrok.token not in recorder.text()
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.asyncio
async def test_no_token_anywhere_is_ngroks_own_4018_and_a_saved_token_is_used(
    fake_ngrok: FakeNgrok, bus: EventBus
) -> None:
    svc = TunnelService(bus, auth_token=None, ngrok_path=fake_ngrok.path, config_path=fake_ngrok.config_path)
    try:
        with pytest.raises(NoAuthTokenError, match="ERR_NGROK_4018") as raised:
            await svc.start(8)
        assert "dashboard.ngrok.com" in raised.value.hint

        # `ngrok config add-authtoken` (what Settings would run) makes the next start work.
        config = conf.PyngrokConfig(ngrok_path=str(fake_ngrok.path), config_path=str(fake_ngrok.config_path))
        await asyncio.to_thread(ngrok.set_auth_token, fake_ngrok.token, config)
        async with echo_upstream() as upstream:
            url = await svc.start(upstream.port)
            assert svc.state is TunnelState.RUNNING and svc.last_error is None
            async with httpx.AsyncClient() as client:
                assert (await client.get(url)).status_code == 200
    finally:
        await svc.stop()


@pytest.mark.asyncio
async def test_a_missing_explicit_agent_path_is_reported_and_nothing_is_downloaded(
    tmp_path: Path, bus: EventBus
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    svc = TunnelService(bus, auth_token="tok_abcdef", ngrok_path=empty / "ngrok", config_path=tmp_path / "ngrok.yml")
    with pytest.raises(AgentUnavailableError) as raised:
        await svc.start(8)
    assert "poll only" in raised.value.hint
    assert svc.state is TunnelState.ERROR
    assert list(empty.iterdir()) == []


@pytest.mark.asyncio
async def test_no_agent_installed_and_no_download_possible(
    tmp_path: Path, bus: EventBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing on PATH, an empty default install folder, and a proxy that refuses: the download fails
    # at once whether or not this machine has internet.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for name in ("PYNGROK_NGROK_PATH", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    svc = TunnelService(bus, auth_token="tok_abcdef", config_path=tmp_path / "ngrok.yml", install_timeout_s=5)
    with pytest.raises(AgentUnavailableError, match="could not be downloaded"):
        await asyncio.wait_for(svc.start(8), timeout=30)
    assert not (tmp_path / "xdg" / "ngrok" / "ngrok").exists()


@pytest.mark.asyncio
async def test_watch_notices_a_killed_agent(service: TunnelService, bus: EventBus) -> None:
    recorder = Recorder(bus)
    dropped = asyncio.Event()
    bus.subscribe(lambda e: dropped.set() if isinstance(e, TunnelChanged) and e.state == "error" else None)
    async with echo_upstream() as upstream:
        await service.start(upstream.port)
        # Count the watch's checks (the real ones run): two healthy rounds leave the tunnel up.
        verdicts: list[str | None] = []
        diagnose = service._diagnose

        async def counted(probe_public_url: bool) -> str | None:
            verdicts.append(await diagnose(probe_public_url))
            return verdicts[-1]

        service._diagnose = counted  # type: ignore[method-assign]
        service.start_watch(interval_s=0.1)
        await wait_until(lambda: len(verdicts) >= 2)
        assert verdicts[:2] == [None, None]
        assert service.state is TunnelState.RUNNING  # a healthy tunnel stays up

        pid = service.agent_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await asyncio.wait_for(dropped.wait(), timeout=10)

        assert service.state is TunnelState.ERROR
        assert isinstance(service.last_error, TunnelDroppedError)
        assert "exited" in str(service.last_error)
        last = [e for e in recorder.events if isinstance(e, TunnelChanged)][-1]
        assert last.error == str(service.last_error)
        assert any(isinstance(e, LogEvent) and e.level is LogLevel.ERROR for e in recorder.events)
        assert await service.check() is False


@pytest.mark.asyncio
async def test_check_and_watch_notice_a_tunnel_removed_behind_our_back(service: TunnelService) -> None:
    async with echo_upstream() as upstream:
        await service.start(upstream.port)
        service.start_watch(interval_s=0.1)
        async with httpx.AsyncClient() as client:
            answer = await client.delete(f"{service.agent_api_url}/api/endpoints/{TUNNEL_NAME}")
        assert answer.status_code == 204
        await wait_until(lambda: service.state is TunnelState.ERROR)
        assert isinstance(service.last_error, TunnelDroppedError)
        assert "no longer lists" in str(service.last_error)


@pytest.mark.asyncio
async def test_two_services_with_their_own_agents_do_not_interfere(
    service: TunnelService, tmp_path: Path, bus: EventBus
) -> None:
    other = make_fake_ngrok(tmp_path / "second")
    second = TunnelService(bus, auth_token=other.token, ngrok_path=other.path, config_path=other.config_path)
    try:
        async with echo_upstream() as a, echo_upstream() as b:
            url_a = await service.start(a.port)
            url_b = await second.start(b.port)
            assert service.agent_pid != second.agent_pid
            await service.stop()
            assert await refused(url_a)
            assert await second.check() is True
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{url_b}/still-here")).status_code == 200
            assert b.seen[-1]["path_qs"] == "/still-here"
    finally:
        await second.stop()
        process.kill_process(str(other.path))


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _get_many(url: str, count: int) -> int:
    done = 0
    for i in range(count):
        with urllib.request.urlopen(f"{url}/n/{i}", timeout=3) as answer:
            done += answer.status == 200
    return done


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_agent_keeps_forwarding_after_hundreds_of_requests(service: TunnelService) -> None:
    # The agent logs a line per request; unless its stdout is drained it blocks after ~600 (64 KiB).
    # A threaded upstream and a plain client in a thread keep this fast.
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        url = await service.start(upstream.server_address[1])
        assert await asyncio.to_thread(_get_many, url, 900) == 900
    finally:
        upstream.shutdown()
        upstream.server_close()


@pytest.mark.parametrize(
    ("exc", "expected", "words"),
    [
        (
            PyngrokNgrokInstallError("An error occurred while downloading ngrok: <urlopen error [Errno -3]>"),
            AgentUnavailableError,
            "could not be downloaded",
        ),
        (PermissionError(13, "Permission denied"), AgentUnavailableError, "could not be run"),
        (
            PyngrokNgrokURLError("ngrok client exception, URLError: timed out", "timed out"),
            TunnelError,
            "local API did not answer",
        ),
        (
            PyngrokNgrokError("The ngrok process errored on start: x.", [], "failed: ERR_NGROK_108"),
            SessionLimitError,
            "ERR_NGROK_108",
        ),
        (PyngrokNgrokError("boom with tok_secret_value inside"), TunnelError, "[redacted]"),
    ],
)
def test_every_pyngrok_failure_maps_to_one_typed_error(exc: Exception, expected: type[TunnelError], words: str) -> None:
    error = tunnel_error_from(exc, secret="tok_secret_value", label="ngrok")
    assert type(error) is expected
    assert words in str(error) and error.hint
    assert "tok_secret_value" not in str(error)
