"""runtime.Services' tunnel and checks: start, stop and test the public webhook address, apply a
webhook mode at once, ask an endpoint's /health, list a bucket — one road each, which the GUI
(through AppContext) and the CLI both take.

The ngrok tunnel's domain is kept across restarts (issue 9, item 9): the domain ngrok gives the
first start is remembered in the settings file (`ngrok_remembered_domain`) and asked for again at
every later start, so the webhook URL — and the webhook of a job submitted before a restart — stays
valid. A domain the user typed (`ngrok_domain`) is asked for instead and never replaced. When ngrok
refuses the remembered domain (the account changed), the start falls back once to no domain, says
so, and remembers the new one. The sandbox's simulated tunnel keeps no memory."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import EventBus, LogLevel, TunnelChanged
from actor_trainer.core.preflight import WebhookNotReadyError
from actor_trainer.core.settings import RUNPOD_API_ROOT, Config, Settings, StorageConfig
from actor_trainer.core.storage.base import Storage

# The running services' modules (the RunPod client and httpx, the webhook server and aiohttp, the
# orchestrator, the tunnel and pyngrok, the sandbox) are imported by `start()` and the methods that
# use them, not here: the app shows its window before they are needed (issue 11, item 3).
if TYPE_CHECKING:
    from actor_trainer.core.orchestrator import TrainingOrchestrator
    from actor_trainer.core.runpod_client import RunPodClient
    from actor_trainer.core.runpod_health import EndpointHealth
    from actor_trainer.core.status_poller import StatusPoller
    from actor_trainer.core.tunnel import TunnelService
    from actor_trainer.core.tunnel_status import DeliveryResult, TunnelStatus
    from actor_trainer.core.webhook_server import WebhookServer
    from actor_trainer.sandbox.server import SandboxEndpoint


log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _DomainChoice:
    """How the running tunnel's domain was chosen (tunnel_status.DOMAIN_KINDS)."""

    domain: str
    kind: str
    refused: str | None = None


def _load_settings(events: EventBus) -> Settings | None:
    """The saved settings (blocking), or None when they cannot be read: then nothing is remembered
    (and the file is not rewritten over what the user may want to repair)."""
    try:
        return Settings.load()
    except (ActorTrainerError, OSError) as exc:
        events.log(LogLevel.WARNING, f"ngrok: the settings could not be read, so no domain is remembered ({exc})")
        return None


def _remember_domain(domain: str, events: EventBus) -> bool:
    """Write `domain` as the remembered ngrok domain into the settings file (blocking, atomic)."""
    settings = _load_settings(events)
    if settings is None:
        return False
    settings.ngrok_remembered_domain = domain
    try:
        settings.save()
    except OSError as exc:
        events.log(LogLevel.WARNING, f"ngrok: could not remember the domain {domain} in the settings ({exc})")
        return False
    return True


class TunnelAndChecks:
    """Methods of Services (a mixin: the state is Services')."""

    if TYPE_CHECKING:  # what the mixin uses of Services
        config: Config
        events: EventBus
        storage: Storage
        client: RunPodClient | None
        tunnel: TunnelService | None
        webhook_server: WebhookServer | None
        orchestrator: TrainingOrchestrator | None
        poller: StatusPoller | None
        sandbox: SandboxEndpoint | None

    _domain_choice: _DomainChoice | None = None  # of the running ngrok tunnel (set by start_tunnel)

    # --- tunnel and checks: one road each, for the GUI and the CLI ------------------------------

    def tunnel_status(self) -> TunnelStatus:
        """The webhook mode, the tunnel and the webhook server as they are now."""
        from actor_trainer.core.tunnel import TunnelState
        from actor_trainer.core.tunnel_status import TunnelStatus

        cfg, tunnel, server = self.config, self.tunnel, self.webhook_server
        state = tunnel.state if tunnel is not None else TunnelState.STOPPED
        url: str | None = None
        domain: str | None = None
        if cfg.webhook_mode == "public":
            url = cfg.public_url
        elif cfg.webhook_mode == "ngrok" and tunnel is not None and state is TunnelState.RUNNING:
            url, domain = tunnel.public_url, tunnel.domain
        choice = self._domain_choice if self._domain_choice and self._domain_choice.domain == domain else None
        return TunnelStatus(
            mode=cfg.webhook_mode,
            state=state,
            label=tunnel.label if tunnel is not None else "ngrok",
            public_url=url,
            server_port=server.port if server is not None else None,
            last_error=tunnel.last_error if tunnel is not None else None,
            last_delivery_at=server.last_delivery_at if server is not None else None,
            domain=domain,
            domain_kind=choice.kind if choice else None,
            refused_domain=choice.refused if choice else None,
        )

    async def start_tunnel(self, *, watch: bool = False) -> str:
        """Publish the webhook server through the tunnel; return the public URL the agent reports.
        With `watch`, a tunnel that dies later turns ERROR (a TunnelChanged event), not silently."""
        if self.tunnel is None or self.webhook_server is None:
            raise WebhookNotReadyError(
                "The webhook server is not running (poll-only mode).", "Switch the webhook mode to ngrok in Settings."
            )
        from actor_trainer.core.tunnel_agent import normalize_domain

        tunnel = self.tunnel
        settings = await asyncio.to_thread(_load_settings, self.events) if tunnel.label == "ngrok" else None
        typed = normalize_domain(settings.ngrok_domain) if settings else None
        remembered = normalize_domain(settings.ngrok_remembered_domain) if settings else None
        self._domain_choice = None
        url = await tunnel.start(self.webhook_server.port, domain=typed or remembered, fallback=typed is None)
        if watch:
            tunnel.start_watch()
        if settings is not None and tunnel.domain:
            self._domain_choice = await self._note_domain(tunnel.domain, typed, remembered)
        return url

    async def _note_domain(self, got: str, typed: str | None, remembered: str | None) -> _DomainChoice:
        """Say which domain the tunnel runs on and remember it for the next start."""
        assert self.tunnel is not None
        label, refused = self.tunnel.label, self.tunnel.refused
        if typed:
            self.events.log(LogLevel.INFO, f"{label}: webhook domain {got} (yours, from Settings)")
            return _DomainChoice(got, "typed")
        if got == remembered:
            self.events.log(LogLevel.INFO, f"{label}: webhook domain {got}, the same as at the last start (remembered)")
            return _DomainChoice(got, "remembered")
        saved = await asyncio.to_thread(_remember_domain, got, self.events)
        later = "later starts ask ngrok for it again" if saved else "it could not be remembered"
        if refused is not None and remembered:
            self.events.log(
                LogLevel.WARNING,
                f"{label}: ngrok refused the remembered domain {remembered} ({refused.code}: {refused.reason}), "
                f"probably because the ngrok account changed; the tunnel runs on {got} instead and {later}. "
                f"Webhooks of runs sent to {remembered} before now cannot arrive; polling still follows those runs.",
            )
            return _DomainChoice(got, "replaced" if saved else "unsaved", remembered)
        self.events.log(LogLevel.INFO, f"{label}: webhook domain {got}, remembered: {later}")
        return _DomainChoice(got, "new" if saved else "unsaved")

    async def stop_tunnel(self) -> None:
        """Stop the tunnel and its watch. Idempotent."""
        if self.tunnel is not None:
            await self.tunnel.stop()

    async def test_delivery(self, base_url: str | None = None, *, start_tunnel: bool = False) -> DeliveryResult:
        """POST a probe through `base_url` (default: the public URL of the running mode) to this
        app's webhook server. With `start_tunnel`, a stopped ngrok tunnel is started (and watched) first."""
        from actor_trainer.core.tunnel_status import DeliveryResult
        from actor_trainer.core.webhook_server import test_delivery

        server = self.webhook_server
        if server is None:
            raise WebhookNotReadyError("Webhooks are off (poll-only mode).", "Choose another mode and restart.")
        url = base_url or self.tunnel_status().public_url
        if not url and start_tunnel and self.config.webhook_mode == "ngrok":
            url = await self.start_tunnel(watch=True)
        if not url:
            raise WebhookNotReadyError(
                "There is no public URL to deliver through: the tunnel is not running.",
                "Start the tunnel in the tunnel panel.",
            )
        return DeliveryResult(url, await test_delivery(url, server))

    async def apply_webhook_mode(self, mode: str, public_url: str | None = None) -> None:
        """Switch the webhook mode now (issue 10, item 9): poll only stops the tunnel and the
        webhook server; public URL stops the tunnel and makes sure the server listens; ngrok tunnel
        makes sure the server listens (the tunnel is started from the tunnel panel, as at start-up).
        Runs already sent keep the webhook address they were given; the poller follows them all."""
        from actor_trainer.core.tunnel import TunnelState
        from actor_trainer.core.webhook_server import WebhookServer

        if mode not in ("ngrok", "public", "poll"):
            raise ValueError(f"unknown webhook mode {mode!r}; expected ngrok, public or poll")
        old = self.config.webhook_mode
        url = public_url if public_url is not None else self.config.public_url
        if mode == "public" and not url:
            raise WebhookNotReadyError("Public URL mode needs a public URL.", "Set the public URL in Settings first.")
        self.config = dataclasses.replace(self.config, webhook_mode=mode, public_url=url)  # type: ignore[arg-type]
        if mode != "ngrok" and self.tunnel is not None and self.tunnel.state is not TunnelState.STOPPED:
            await self.tunnel.stop()
        if mode == "poll" and self.webhook_server is not None:
            server, self.webhook_server = self.webhook_server, None
            await server.stop()
        elif mode != "poll" and self.webhook_server is None and self.orchestrator is not None:
            orchestrator = self.orchestrator
            server = WebhookServer(
                is_known_token=orchestrator.is_known_token,
                on_delivery=orchestrator.handle_webhook,
                events=self.events,
                host=self.config.webhook_host,
                port=self.config.webhook_port,
            )
            await server.start()
            self.webhook_server = server
        status = self.tunnel_status()
        self.events.log(
            LogLevel.INFO,
            f"Webhook mode: {old} → {mode}, applied now"
            + (
                f" (webhook server on port {status.server_port})"
                if status.server_port
                else f" (no webhook server; status is checked every {self.config.poll_seconds:g} s)"
            ),
        )
        self.events.emit(TunnelChanged(state=status.state.value, public_url=status.public_url))

    async def check_endpoint(
        self, endpoint_id: str | None = None, *, api_root: str = RUNPOD_API_ROOT, api_key: str | None = None
    ) -> EndpointHealth:
        """RunPod's `GET /health`: of the running endpoint, or of `endpoint_id` at `api_root` with
        `api_key` (e.g. settings being typed, not yet saved)."""
        from actor_trainer.core.runpod_client import RunPodClient

        if not endpoint_id:
            if self.client is None:
                raise ActorTrainerError("The sandbox is not running.")
            return await self.client.health()
        async with RunPodClient(f"{api_root.rstrip('/')}/{endpoint_id}", api_key, max_attempts=2, timeout=15) as client:
            return await client.health()

    async def check_storage(self, storage: StorageConfig | None = None) -> str:
        """List the bucket (a one-line summary): the running one, or `storage` (e.g. settings being
        typed, not yet saved). Raises StorageError."""
        if storage is None:
            return await self.storage.check()
        from actor_trainer.core.storage import make_storage as make_backend

        backend = make_backend(
            bucket=storage.bucket,
            prefix=storage.prefix,
            endpoint_url=storage.endpoint_url,
            region=storage.region,
            access_key_id=storage.access_key_id,
            secret_access_key=storage.secret_access_key,
            url_style=storage.url_style,
        )
        return await backend.check()
