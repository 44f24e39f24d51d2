"""The ngrok tunnel that makes the webhook server public, as a supervised service.

pyngrok manages the agent; every pyngrok call blocks, so each runs in a worker thread. The public
URL is always read back from the running agent, never remembered from an earlier run. Failures
become typed errors in one place (`tunnel_error_from`), and every state change is a `TunnelChanged`
event. The auth token never reaches a log, an event or an error message, nor the agent's command
line (`ps` shows that to every user): it is handed over in the agent's environment
(`NGROK_AUTHTOKEN`). The agent must be 3.30 or newer (`/api/endpoints`, which pyngrok 9 calls).

A start may ask for a domain (the agent API's `url` option): every ngrok account, free ones too,
has one static dev domain, which an endpoint started without a domain gets anyway; asking for it by
name keeps the webhook URL the same across restarts. With `fallback`, a domain ngrok refuses
(`DomainRefusedError`: another account's, or a paid-plan feature) is dropped once and the tunnel
opens on whatever ngrok gives; `refused` then says why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pyngrok import installer, ngrok
from pyngrok.conf import PyngrokConfig
from pyngrok.exception import PyngrokError, PyngrokNgrokInstallError
from pyngrok.process import NgrokProcess

from actor_trainer.core.events import EventBus, LogLevel, TunnelChanged
from actor_trainer.core.tunnel_agent import (
    MIN_AGENT_VERSION,
    agent_version,
    domain_of,
    exited_within,
    port_of,
    public_url_of,
    runnable,
    same_upstream,
    token_digest,
    token_in_environment,
    upstream_of,
    url_for_domain,
)
from actor_trainer.core.tunnel_errors import (
    AGENT_HINT,
    AgentTooOldError,
    AgentUnavailableError,
    DomainRefusedError,
    NoAuthTokenError,
    RedactFilter,
    SessionLimitError,
    TunnelDroppedError,
    TunnelError,
    redact,
    tunnel_error_from,
)

log = logging.getLogger(__name__)

TUNNEL_NAME = "actor-trainer-webhook"
# Codes ngrok's edge puts in `ngrok-error-code` when the endpoint itself is gone.
_OFFLINE_CODES = frozenset({"ERR_NGROK_3200"})
_PYNGROK_LOGGERS = ("pyngrok.process.ngrok", "pyngrok.process", "pyngrok.ngrok")
# The token each running agent (by binary path, as pyngrok keys them) was started with, as a digest.
_started_with: dict[str, tuple[int | None, str | None]] = {}


class TunnelState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    ERROR = "error"


# --- the service --------------------------------------------------------------------------------


class TunnelService:
    """Start, stop, check and watch one ngrok tunnel to the local webhook server.

    `state`, `public_url`, `local_port` and `last_error` describe the tunnel now; each change is
    emitted as a `TunnelChanged` event. Methods are meant for one event loop; calls are serialized.
    Two services with different `ngrok_path`s run independent agents (pyngrok keys its processes
    by path); two services sharing a path share one agent, so `stop()` on one stops both.
    """

    def __init__(
        self,
        events: EventBus,
        *,
        auth_token: str | None,
        ngrok_path: Path | None = None,
        config_path: Path,
        region: str | None = None,
        label: str = "ngrok",
        install_timeout_s: float = 20.0,
    ) -> None:
        self.events = events
        self.label = label
        self.state = TunnelState.STOPPED
        self.public_url: str | None = None
        self.local_port: int | None = None
        self.last_error: TunnelError | None = None
        #: the running tunnel's domain (`domain_of(public_url)`), and the domain the last start
        #: asked for but ngrok refused, so that it fell back to none (only with `fallback`)
        self.domain: str | None = None
        self.refused: DomainRefusedError | None = None
        self._auth_token = auth_token
        self._ngrok_path = ngrok_path
        self._config_path = config_path
        self._region = region
        self._install_timeout_s = install_timeout_s
        self._config: PyngrokConfig | None = None
        self._process: NgrokProcess | None = None
        self._filter: RedactFilter | None = None
        self._lock = asyncio.Lock()
        self._watch_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- public API --

    @property
    def agent_pid(self) -> int | None:
        """The pid of the running agent process, if any."""
        return self._process.proc.pid if self._process is not None else None

    @property
    def agent_api_url(self) -> str | None:
        """The running agent's local API (ngrok's inspector), for diagnostics."""
        return self._process.api_url if self._process is not None else None

    async def start(
        self, port: int, *, host: str = "localhost", domain: str | None = None, fallback: bool = False
    ) -> str:
        """Publish `http://{host}:{port}`; return the public URL as the running agent reports it.

        With `domain`, ask ngrok for the endpoint on that domain; with `fallback` too, a domain
        ngrok refuses is dropped once (`refused` says why) instead of failing the start.
        An existing tunnel to the same upstream (and domain, when one is asked for) is reused; one
        with our name or our port but another upstream is replaced. Raises a `TunnelError`
        subclass (state becomes ERROR).
        """
        async with self._lock:
            self.public_url = self.domain = self.refused = None  # until the agent tells us again
            self._set_state(TunnelState.STARTING)
            config: PyngrokConfig | None = None
            opening: asyncio.Future[tuple[str, NgrokProcess, DomainRefusedError | None]] | None = None
            try:
                config = await self._make_config()
                upstream = f"http://{host}:{port}"
                opening = asyncio.ensure_future(
                    asyncio.to_thread(self._open_trying, config, upstream, domain, fallback)
                )
                url, proc, refused = await asyncio.shield(opening)
            except BaseException as exc:
                if opening is not None and not opening.done():
                    # The worker thread cannot be interrupted: let it finish, then kill what it started.
                    await asyncio.wait([opening])
                started = config or self._config  # an agent from an earlier start may be running
                if started is not None:
                    await asyncio.to_thread(ngrok.kill, started)
                self._process = None
                if not isinstance(exc, Exception):  # cancelled (or interrupted): no error to report
                    self._set_state(TunnelState.STOPPED)
                    raise
                error = tunnel_error_from(exc, secret=self._secret(), label=self.label)
                self._fail(error)
                raise error from None  # the cause may hold the token
            self._process = proc
            self.public_url, self.domain, self.refused = url, domain_of(url), refused
            self.local_port = port
            self.last_error = None
            self._set_state(TunnelState.RUNNING)
            self.events.log(LogLevel.SUCCESS, f"{self.label}: {url} → {host}:{port}")
            return url

    async def stop(self) -> None:
        """Stop the watch and kill our agent process (which removes its tunnels). Idempotent."""
        await self.stop_watch()
        async with self._lock:
            if self._config is not None:
                await asyncio.to_thread(ngrok.kill, self._config)
            self._process = None
            self.public_url = self.domain = None
            self.local_port = None
            self.last_error = None
            self._remove_filter()
            if self.state is not TunnelState.STOPPED:
                self._set_state(TunnelState.STOPPED)
                self.events.log(LogLevel.INFO, f"{self.label}: tunnel stopped")

    async def check(self, *, probe_public_url: bool = True) -> bool:
        """Is our agent alive, our tunnel still listed by it, and (if asked) its public URL answering?

        Probing the public URL sends one request through ngrok; the periodic watch skips it because
        ngrok's free plan counts every request against a monthly quota.
        """
        async with self._lock:
            return await self._diagnose(probe_public_url) is None

    def start_watch(self, interval_s: float = 15.0) -> None:
        """Check the tunnel every `interval_s`; a dead one turns ERROR with a `TunnelDroppedError`.

        Starting a watch replaces the previous one. The watch survives restarts and ends with `stop()`.
        """
        self._cancel_watch()
        task = asyncio.get_running_loop().create_task(self._watch(interval_s), name="tunnel-watch")
        self._watch_task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop_watch(self) -> None:
        self._cancel_watch()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=5)

    # -- internals --

    def _secret(self) -> str | None:
        return self._auth_token or os.environ.get("NGROK_AUTHTOKEN")

    def _set_state(self, state: TunnelState) -> None:
        self.state = state
        self.events.emit(
            TunnelChanged(
                state=str(state),
                public_url=self.public_url,
                error=str(self.last_error) if state is TunnelState.ERROR and self.last_error else None,
            )
        )

    def _fail(self, error: TunnelError) -> None:
        self.last_error = error
        self.public_url = None
        self._set_state(TunnelState.ERROR)
        self.events.log(LogLevel.ERROR, str(error))

    async def _make_config(self) -> PyngrokConfig:
        path = await self._agent_path()
        await self._check_version(path)
        config = PyngrokConfig(
            # No auth_token here: pyngrok would put it on the agent's command line. It goes through
            # the agent's environment instead (`_open_blocking`).
            ngrok_path=str(path),
            config_path=str(self._config_path),
            auth_token=None,
            region=self._region,
            # Must stay True: with no reader, the agent's stdout pipe fills after a few hundred
            # requests and the agent blocks on its next log line (measured with the stand-in).
            monitor_thread=True,
            log_event_callback=None,
        )
        self._config = config
        self._install_filter(self._secret())
        return config

    async def _check_version(self, path: Path) -> None:
        version = await asyncio.to_thread(agent_version, path)
        if version is not None and version[:2] < MIN_AGENT_VERSION:
            shown = ".".join(str(part) for part in version)
            needed = ".".join(str(part) for part in MIN_AGENT_VERSION)
            raise AgentTooOldError(
                f"{self.label}: the ngrok agent at {path} is version {shown}; this app needs {needed} or newer "
                "(its local API must offer /api/endpoints).",
                f"Update it: run `{path} update` in a terminal (or download the current agent from "
                "https://ngrok.com/download and set its path in Settings → Tunnel), then start the tunnel again.",
            )

    async def _agent_path(self) -> Path:
        """The agent binary to run. An explicit path must exist; otherwise look on PATH and in
        pyngrok's default place, and as a last resort let pyngrok download it (bounded in time)."""
        if self._ngrok_path is not None:
            if runnable(self._ngrok_path):
                return self._ngrok_path
            raise AgentUnavailableError(f"{self.label}: there is no runnable agent at {self._ngrok_path}.", AGENT_HINT)
        default = Path(installer.get_default_ngrok_dir()) / installer.get_ngrok_bin()
        for candidate in (os.environ.get("PYNGROK_NGROK_PATH"), shutil.which("ngrok"), str(default)):
            if candidate and runnable(Path(candidate)):
                return Path(candidate)
        self.events.log(LogLevel.INFO, f"{self.label}: agent not found, trying to download it to {default}")
        try:
            await asyncio.wait_for(
                asyncio.to_thread(
                    installer.install_ngrok, str(default), ngrok_version="3", timeout=self._install_timeout_s
                ),
                timeout=self._install_timeout_s + 5,
            )
        except TimeoutError:
            raise AgentUnavailableError(
                f"{self.label}: the ngrok agent is not installed here and downloading it timed out.", AGENT_HINT
            ) from None
        except Exception as exc:
            raise tunnel_error_from(PyngrokNgrokInstallError(str(exc)), label=self.label) from None
        return default

    def _install_filter(self, secret: str | None) -> None:
        self._remove_filter()
        if secret:
            self._filter = RedactFilter(secret)
            for name in _PYNGROK_LOGGERS:
                logging.getLogger(name).addFilter(self._filter)

    def _remove_filter(self) -> None:
        if self._filter is not None:
            for name in _PYNGROK_LOGGERS:
                logging.getLogger(name).removeFilter(self._filter)
            self._filter = None

    def _open_trying(
        self, config: PyngrokConfig, upstream: str, domain: str | None, fallback: bool
    ) -> tuple[str, NgrokProcess, DomainRefusedError | None]:
        """Runs in a worker thread: `_open_blocking` on `domain`, and once more on none when ngrok
        refuses that domain and `fallback` allows it."""
        try:
            return (*self._open_blocking(config, upstream, domain), None)
        except PyngrokError as exc:
            error = tunnel_error_from(exc, secret=self._secret(), label=self.label, domain=domain)
            if not isinstance(error, DomainRefusedError):
                raise
            if domain is None or not fallback:
                raise error from None  # the cause may hold the token
        return (*self._open_blocking(config, upstream, None), error)

    def _open_blocking(self, config: PyngrokConfig, upstream: str, domain: str | None) -> tuple[str, NgrokProcess]:
        """Runs in a worker thread: start (or reuse) the agent, then reuse/replace/create our tunnel."""
        token = self._auth_token
        with token_in_environment(token):
            wanted = token_digest(token or os.environ.get("NGROK_AUTHTOKEN"))
            proc = ngrok.get_ngrok_process(config)
            started_pid, started_token = _started_with.get(config.ngrok_path, (None, None))
            running = proc.pyngrok_config
            if started_pid == proc.proc.pid and (started_token, running.region, running.config_path) != (
                wanted,
                config.region,
                config.config_path,
            ):
                ngrok.kill(config)  # an agent from other settings holds this path: start ours instead
                proc = ngrok.get_ngrok_process(config)
            _started_with[config.ngrok_path] = (proc.proc.pid, wanted)
        api = proc.api_url
        port = port_of(upstream)
        keep: dict[str, Any] | None = None
        for endpoint in self._list_blocking(api, config):
            current = upstream_of(endpoint)
            if endpoint.get("name") != TUNNEL_NAME and port_of(current) != port:
                continue  # somebody else's tunnel
            url = public_url_of(endpoint)
            if keep is None and same_upstream(current, upstream) and url and domain in (None, domain_of(url)):
                keep = endpoint
                continue
            uri = endpoint.get("uri") or f"/api/endpoints/{quote(str(endpoint.get('name')), safe='')}"
            ngrok.api_request(f"{api}{uri}", method="DELETE", timeout=config.request_timeout)
        options = {"url": url_for_domain(domain)} if domain else {}  # the agent API's `url` (v3 endpoints)
        name = (
            str(keep.get("name"))
            if keep is not None
            else (ngrok.connect(addr=upstream, name=TUNNEL_NAME, pyngrok_config=config, **options).name or TUNNEL_NAME)
        )
        # Read the URL back from the agent rather than trusting what we were told earlier.
        for endpoint in self._list_blocking(api, config):
            url = public_url_of(endpoint)
            if endpoint.get("name") == name and same_upstream(upstream_of(endpoint), upstream) and url:
                return url, proc
        raise TunnelError(f"{self.label}: the agent does not list the tunnel it just opened.", "Restart the tunnel.")

    @staticmethod
    def _list_blocking(api: str | None, config: PyngrokConfig) -> list[dict[str, Any]]:
        answer = ngrok.api_request(f"{api}/api/endpoints", method="GET", timeout=config.request_timeout)
        items = answer.get("endpoints") or answer.get("tunnels") or []
        return [item for item in items if isinstance(item, dict)]

    async def _diagnose(self, probe_public_url: bool) -> str | None:
        """None when healthy, else why the tunnel is not working (in words for the user)."""
        proc, config, url = self._process, self._config, self.public_url
        if self.state is not TunnelState.RUNNING or proc is None or config is None or url is None:
            return "the tunnel is not running"
        if proc.proc.poll() is not None:
            return f"the agent process exited (code {proc.proc.returncode})"
        try:
            listed = await asyncio.to_thread(self._list_blocking, proc.api_url, config)
        except (PyngrokError, OSError) as exc:
            if await asyncio.to_thread(exited_within, proc, 1.0):  # dying: say so, not "no answer"
                return f"the agent process exited (code {proc.proc.returncode})"
            return f"the agent's local API did not answer ({redact(str(exc), self._secret())})"
        if not any(public_url_of(e) == url and port_of(upstream_of(e)) == self.local_port for e in listed):
            return f"the agent no longer lists the tunnel {url}"
        if probe_public_url:
            import httpx  # here, not at import: the app's window opens before httpx is needed (issue 11)

            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    answer = await client.get(url, headers={"ngrok-skip-browser-warning": "1"})
            except httpx.HTTPError as exc:
                return f"{url} did not answer ({type(exc).__name__})"
            if answer.headers.get("ngrok-error-code") in _OFFLINE_CODES:
                return f"{url} is offline ({answer.headers['ngrok-error-code']})"
        return None

    async def _watch(self, interval_s: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    async with self._lock:
                        if self.state is not TunnelState.RUNNING:
                            continue
                        reason = await self._diagnose(probe_public_url=False)
                        if reason is not None:
                            self._fail(
                                TunnelDroppedError(
                                    f"{self.label}: the tunnel stopped working because {reason}.",
                                    "Webhooks cannot arrive until it runs again (polling still tracks jobs). "
                                    "Restart the tunnel from the tunnel panel.",
                                )
                            )
                except Exception as exc:  # the watch must outlive any single failed check
                    log.exception("tunnel watch check failed")
                    self.events.log(
                        LogLevel.WARNING, f"{self.label}: tunnel check failed: {redact(str(exc), self._secret())}"
                    )
        except asyncio.CancelledError:
            log.debug("tunnel watch cancelled")
            raise

    def _cancel_watch(self) -> None:
        if self._watch_task is not None and not self._watch_task.done():
            self._watch_task.cancel()
        self._watch_task = None


__all__ = [
    "TUNNEL_NAME",
    "AgentUnavailableError",
    "DomainRefusedError",
    "NoAuthTokenError",
    "SessionLimitError",
    "TunnelDroppedError",
    "TunnelError",
    "TunnelService",
    "TunnelState",
    "redact",
    "tunnel_error_from",
]
