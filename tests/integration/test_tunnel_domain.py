"""The tunnel's stable domain (issue 9, item 9), through the stand-in ngrok agent as real processes
over real HTTP: every token has one dev domain, the same after an agent restart; the app remembers
the domain ngrok gave in its settings and asks for it again at the next start, so a webhook URL
handed out before a restart still reaches the app after it; a remembered domain ngrok refuses (the
account changed) falls back once, says so, and is replaced; a domain the user typed is asked for
and never replaced; ngrok's refusals keep ngrok's own codes and words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pyngrok import conf, ngrok

from actor_trainer.core.events import EventBus
from actor_trainer.core.settings import Settings
from actor_trainer.core.tunnel import DomainRefusedError, TunnelService, TunnelState
from actor_trainer.core.tunnel_agent import domain_of
from actor_trainer.core.tunnel_errors import EndpointOnlineError
from tests.fixtures.ngrok import FakeNgrok, echo_upstream, fake_ngrok_fixture, make_fake_ngrok  # noqa: F401
from tests.integration.e2e_support import running


@pytest_asyncio.fixture
async def service(fake_ngrok: FakeNgrok) -> AsyncIterator[TunnelService]:
    svc = TunnelService(
        EventBus(), auth_token=fake_ngrok.token, ngrok_path=fake_ngrok.path, config_path=fake_ngrok.config_path
    )
    try:
        yield svc
    finally:
        await svc.stop()


def ngrok_overrides(fake: FakeNgrok, token: str | None = None) -> dict[str, object]:
    """Services in ngrok mode with the stand-in as *the* agent (label "ngrok", not the simulated one)."""
    return {"webhook_mode": "ngrok", "ngrok_path": fake.path, "ngrok_authtoken": token or fake.token}


def agent_command_line(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")


# --- the stand-in agent behaves like ngrok --------------------------------------------------------


@pytest.mark.asyncio
async def test_each_token_has_one_dev_domain_that_survives_an_agent_restart(
    service: TunnelService, fake_ngrok: FakeNgrok, tmp_path: Path
) -> None:
    async with echo_upstream() as upstream:
        url = await service.start(upstream.port)
        first_pid = service.agent_pid
        assert service.domain == domain_of(url) and service.refused is None
        await service.stop()

        # A new agent process, no domain asked: the same dev domain.
        assert await service.start(upstream.port) == url
        assert service.agent_pid not in (None, first_pid)
        await service.stop()

        # Asked for by name: the same again, and traffic really goes through it.
        assert await service.start(upstream.port, domain=service_domain(url)) == url
        async with httpx.AsyncClient() as client:
            assert (await client.post(f"{url}/api/training-webhook/x", content=b"{}")).status_code == 200
        assert upstream.seen[-1]["path_qs"] == "/api/training-webhook/x"

        # Another token is another account: another dev domain.
        other = make_fake_ngrok(tmp_path / "other")
        second = TunnelService(EventBus(), auth_token=other.token, ngrok_path=other.path, config_path=other.config_path)
        try:
            assert domain_of(await second.start(upstream.port)) != domain_of(url)
        finally:
            await second.stop()


def service_domain(url: str) -> str:
    domain = domain_of(url)
    assert domain is not None
    return domain


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("domain", "code", "words"),
    [
        ("someone-else.ngrok-free.app", "ERR_NGROK_313", "Custom subdomains are a feature on ngrok's paid plans."),
        ("hooks.example.com", "ERR_NGROK_314", "Only paid plans may create endpoints with custom hostnames."),
        ("127.0.0.1:1", "ERR_NGROK_320", "This domain is reserved for another account."),
    ],
)
async def test_another_domain_is_refused_with_ngroks_code_and_words(
    service: TunnelService, fake_ngrok: FakeNgrok, domain: str, code: str, words: str
) -> None:
    async with echo_upstream() as upstream:
        with pytest.raises(DomainRefusedError) as raised:
            await service.start(upstream.port, domain=domain)
    error = raised.value
    assert (error.code, error.reason) == (code, words)
    assert code in str(error) and words in str(error) and "Settings → Tunnel" in error.hint
    assert fake_ngrok.token not in str(error)
    assert service.state is TunnelState.ERROR and service.public_url is None


@pytest.mark.asyncio
async def test_with_fallback_a_refused_domain_is_dropped_once(service: TunnelService) -> None:
    async with echo_upstream() as upstream:
        url = await service.start(upstream.port, domain="127.0.0.1:1", fallback=True)
        assert service.state is TunnelState.RUNNING and service.domain == domain_of(url)
        assert service.refused is not None and service.refused.code == "ERR_NGROK_320"
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/after-fallback")).status_code == 200
        # The next start that asks for the dev domain gets it, and nothing was refused.
        assert await service.start(upstream.port, domain=service.domain, fallback=True) == url
        assert service.refused is None


@pytest.mark.asyncio
async def test_a_second_endpoint_while_the_dev_domain_is_served_is_already_online(
    service: TunnelService, fake_ngrok: FakeNgrok
) -> None:
    async with echo_upstream() as theirs, echo_upstream() as ours:
        config = conf.PyngrokConfig(
            ngrok_path=str(fake_ngrok.path), config_path=str(fake_ngrok.config_path), auth_token=fake_ngrok.token
        )
        await asyncio.to_thread(
            ngrok.connect, f"http://localhost:{theirs.port}", name="someone-elses", pyngrok_config=config
        )
        with pytest.raises(EndpointOnlineError) as raised:
            await service.start(ours.port)
    assert "ERR_NGROK_334" in str(raised.value)


# --- the app remembers the domain (runtime.Services, the road of the GUI and the CLI) ----------------


@pytest.mark.asyncio
async def test_the_first_start_remembers_the_domain_and_the_next_app_start_gets_the_same_url(
    tmp_path: Path, fake_ngrok: FakeNgrok
) -> None:
    assert Settings.load().ngrok_remembered_domain is None
    async with running(tmp_path / "first", sync=False, **ngrok_overrides(fake_ngrok)) as (services, recorder):
        first_url = await services.start_tunnel()
        status = services.tunnel_status()
        assert (status.domain, status.domain_kind, status.stable_domain) == (domain_of(first_url), "new", True)
        assert Settings.load().ngrok_remembered_domain == status.domain
        assert any(f"webhook domain {status.domain}, remembered" in line for line in recorder.logs())
        first_port = services.webhook_server.port  # type: ignore[union-attr]

    # The app starts again (new services, new agent process, another webhook server port).
    async with running(tmp_path / "second", sync=False, **ngrok_overrides(fake_ngrok)) as (services, recorder):
        assert await services.start_tunnel() == first_url
        status = services.tunnel_status()
        assert (status.domain_kind, status.refused_domain) == ("remembered", None)
        assert any("the same as at the last start" in line for line in recorder.logs())
        pid = services.tunnel.agent_pid  # type: ignore[union-attr]
        assert pid is not None
        command_line = await asyncio.to_thread(agent_command_line, pid)
        assert fake_ngrok.token.encode() not in command_line  # asked for the domain, token still hidden
        # A webhook URL handed out before the restart reaches this app's new server (the probe
        # must arrive at this very server, or test_delivery raises).
        assert services.webhook_server is not None and services.webhook_server.port != first_port
        assert (await services.test_delivery(first_url)).url == first_url


@pytest.mark.asyncio
async def test_a_refused_remembered_domain_falls_back_once_says_so_and_is_replaced(
    tmp_path: Path, fake_ngrok: FakeNgrok
) -> None:
    async with running(tmp_path / "first", sync=False, **ngrok_overrides(fake_ngrok)) as (services, _recorder):
        old_domain = domain_of(await services.start_tunnel())

    # The user switched to another ngrok account (another token): its dev domain is another one.
    new_token = make_fake_ngrok(tmp_path / "account-b").token
    async with running(tmp_path / "second", sync=False, **ngrok_overrides(fake_ngrok, new_token)) as (
        services,
        recorder,
    ):
        new_url = await services.start_tunnel()
        status = services.tunnel_status()
        assert status.state is TunnelState.RUNNING and status.domain == domain_of(new_url) != old_domain
        assert (status.domain_kind, status.refused_domain) == ("replaced", old_domain)
        assert Settings.load().ngrok_remembered_domain == status.domain
        warning = next(line for line in recorder.logs() if "refused the remembered domain" in line)
        assert f"{old_domain} (ERR_NGROK_320: This domain is reserved for another account.)" in warning
        assert f"the tunnel runs on {status.domain} instead" in warning
        assert new_token not in warning and fake_ngrok.token not in warning
        result = await services.test_delivery()
        assert result.url == new_url


@pytest.mark.asyncio
async def test_a_typed_domain_is_asked_for_and_never_replaced(tmp_path: Path, fake_ngrok: FakeNgrok) -> None:
    Settings(ngrok_domain="hooks.example.com").save()
    async with running(tmp_path / "paid", sync=False, **ngrok_overrides(fake_ngrok)) as (services, _recorder):
        with pytest.raises(DomainRefusedError) as raised:
            await services.start_tunnel()
        assert raised.value.code == "ERR_NGROK_314" and "hooks.example.com" in str(raised.value)
        assert services.tunnel_status().state is TunnelState.ERROR
        assert Settings.load().ngrok_remembered_domain is None  # nothing fell back, nothing remembered

        # The account's own dev domain typed in (as a URL, as users paste it) is asked for and given.
        dev = await asyncio.to_thread(_dev_domain_of, fake_ngrok, tmp_path)
        Settings(ngrok_domain=f"https://{dev}/").save()
        url = await services.start_tunnel()
        status = services.tunnel_status()
        assert (domain_of(url), status.domain_kind) == (dev, "typed")
        assert Settings.load().ngrok_remembered_domain is None


def _dev_domain_of(fake: FakeNgrok, tmp_path: Path) -> str:
    """The dev domain the stand-in gives `fake`'s token with the app's agent config file."""
    from actor_trainer.core.settings import cache_dir
    from actor_trainer.sandbox.ngrok_agent_api import dev_domain_for

    return dev_domain_for(fake.token, [str(cache_dir() / "ngrok" / "ngrok.yml")])


@pytest.mark.asyncio
async def test_the_simulated_sandbox_tunnel_keeps_no_memory(tmp_path: Path) -> None:
    async with running(tmp_path, sync=False, webhook_mode="ngrok") as (services, _recorder):
        url = await services.start_tunnel()
        status = services.tunnel_status()
        assert status.simulated and status.domain == domain_of(url) and status.domain_kind is None
        assert not Settings.path().exists()


def test_a_domain_refusal_from_the_agent_api_keeps_ngroks_first_sentence() -> None:
    from pyngrok.exception import PyngrokNgrokHTTPError

    from actor_trainer.core.tunnel import tunnel_error_from

    body = (
        '{"error_code":103,"status_code":502,"msg":"failed to start tunnel","details":{"err":'
        "\"Custom subdomains are a feature on ngrok's paid plans.\\nFailed to bind the custom subdomain "
        "'x' for the account 'y'.\\r\\n\\r\\nERR_NGROK_313\\r\\n\"}}"
    )
    error = tunnel_error_from(PyngrokNgrokHTTPError(f"API returned 502: {body}", "u", 502, None, {}, body))
    assert isinstance(error, DomainRefusedError)
    assert (error.code, error.reason) == ("ERR_NGROK_313", "Custom subdomains are a feature on ngrok's paid plans.")
