"""The composition root below the GUI: build every service from a `Config`, start, stop.

Used by the CLI (`train --wait`, `status`, `reconcile`…) and by the GUI's AppContext. Start-up
order: storage → RunPod client (after the sandbox, when there are no credentials) → webhook
server → orchestrator → poller. Shutdown runs in reverse, each step awaited and bounded in time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import EventBus, LogLevel
from actor_trainer.core.library import Library
from actor_trainer.core.orchestrator import TrainingOrchestrator
from actor_trainer.core.preflight import WebhookNotReadyError
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.settings import Config, cache_dir, data_home
from actor_trainer.core.status_poller import StatusPoller
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.tunnel import TunnelService, TunnelState
from actor_trainer.core.webhook_server import WebhookServer

if TYPE_CHECKING:
    from actor_trainer.sandbox.server import SandboxEndpoint

log = logging.getLogger(__name__)

SANDBOX_TUNNEL_TOKEN = "sandbox-simulated-token"  # the stand-in agent wants one; it is not a secret


def sandbox_bucket_dir(library_root: Path) -> Path:
    """The sandbox's local "bucket", one per library (so two libraries' actor 0000 never mix)."""
    digest = hashlib.sha256(str(library_root.resolve()).encode()).hexdigest()[:10]
    return data_home() / "sandbox-bucket" / digest


def make_storage(config: Config) -> Storage:
    """The configured bucket, or the sandbox's local folder when none is configured."""
    from actor_trainer.core import storage

    s = config.storage
    if s is None:
        return storage.make_storage(local_root=sandbox_bucket_dir(config.data_dir))
    return storage.make_storage(
        bucket=s.bucket,
        prefix=s.prefix,
        endpoint_url=s.endpoint_url,
        region=s.region,
        access_key_id=s.access_key_id,
        secret_access_key=s.secret_access_key,
        url_style=s.url_style,
    )


class Services:
    """Every long-lived service of one open library. Construct, `await start()`, `await stop()`."""

    def __init__(self, config: Config, *, events: EventBus | None = None, library: Library | None = None) -> None:
        self.config = config
        self.events = events or EventBus()
        self.library = library or Library(config.data_dir)
        self.storage = make_storage(config)
        self.sandbox: SandboxEndpoint | None = None  # the simulated endpoint, in sandbox mode
        self.client: RunPodClient | None = None
        self.webhook_server: WebhookServer | None = None
        self.tunnel: TunnelService | None = None
        self.orchestrator: TrainingOrchestrator | None = None
        self.poller: StatusPoller | None = None

    # --- start ----------------------------------------------------------------------------------

    async def start(self, *, serve_webhooks: bool = True, poll: bool = True) -> None:
        cfg = self.config
        if cfg.sandbox:
            from actor_trainer.sandbox.server import SandboxEndpoint
            from actor_trainer.sandbox.worker import make_worker

            sandbox = SandboxEndpoint(make_worker(self.storage, duration_s=cfg.sandbox_duration_s))
            base_url = await sandbox.start()
            self.sandbox = sandbox
            self.client = RunPodClient(base_url, None)
            self.events.log(LogLevel.INFO, "SANDBOX mode: a simulated RunPod endpoint and a local bucket "
                            "(no credentials needed; LoRAs are random weights).")
        else:
            assert cfg.runpod_base_url is not None
            self.client = RunPodClient(cfg.runpod_base_url, cfg.runpod_api_key)
        self.tunnel = self._make_tunnel()
        self.orchestrator = TrainingOrchestrator(
            library=self.library,
            storage=self.storage,
            client=self.client,
            events=self.events,
            endpoint_label=cfg.endpoint_label,
            webhook_base=self.webhook_base_url,
            user_id=cfg.user_id,
            presign_urls=cfg.storage is not None and cfg.storage.url_style == "presigned",
            on_submitted=self._on_submitted,
        )
        if serve_webhooks and cfg.webhook_mode != "poll":
            orchestrator = self.orchestrator
            self.webhook_server = WebhookServer(
                is_known_token=orchestrator.is_known_token,
                on_delivery=orchestrator.handle_webhook,
                events=self.events,
                host=cfg.webhook_host,
                port=cfg.webhook_port,
            )
            await self.webhook_server.start()
        await self.orchestrator.load_token_index()
        self.poller = StatusPoller(
            self.orchestrator, self.library, self.events,
            interval_s=cfg.poll_seconds, live_interval_s=min(5.0, cfg.poll_seconds),
        )
        if poll:
            self.poller.start()

    def _make_tunnel(self) -> TunnelService:
        cfg = self.config
        ngrok_config = cache_dir() / "ngrok" / "ngrok.yml"
        ngrok_config.parent.mkdir(parents=True, exist_ok=True)
        if cfg.sandbox and cfg.ngrok_path is None and not cfg.ngrok_authtoken:
            # No credentials at all: the sandbox's stand-in agent forwards on loopback, so the whole
            # flow (start the tunnel, deliver through it) can be tried without an ngrok account.
            from actor_trainer.sandbox.ngrok_agent import write_agent_launcher

            agent = write_agent_launcher(cache_dir() / "sandbox-ngrok")
            return TunnelService(self.events, auth_token=SANDBOX_TUNNEL_TOKEN, ngrok_path=agent,
                                 config_path=ngrok_config, label="sandbox tunnel (simulated)")
        return TunnelService(self.events, auth_token=cfg.ngrok_authtoken, ngrok_path=cfg.ngrok_path,
                             config_path=ngrok_config, region=cfg.ngrok_region)

    def _on_submitted(self, actor_id: int, ref: str) -> None:
        if self.poller is not None:
            self.poller.watch(actor_id, ref)

    # --- the webhook's public address -----------------------------------------------------------

    def webhook_base_url(self) -> str | None:
        """Where RunPod should deliver, by mode; raises WebhookNotReadyError when it cannot."""
        cfg = self.config
        if cfg.webhook_mode == "poll":
            return None
        if self.webhook_server is None:
            raise WebhookNotReadyError(
                "The webhook server is not running.", "Restart the app, or switch to poll-only mode."
            )
        if cfg.webhook_mode == "public":
            return cfg.public_url
        if self.tunnel is not None and self.tunnel.state is TunnelState.RUNNING and self.tunnel.public_url:
            return self.tunnel.public_url
        if cfg.sandbox:
            # The simulated endpoint runs on this machine and reaches the server directly.
            return self.webhook_server.local_url
        raise WebhookNotReadyError(
            "The ngrok tunnel is not running, so RunPod could not deliver the webhook.",
            "Start the tunnel in the tunnel panel, or switch to poll-only mode (status is then checked every "
            f"{cfg.poll_seconds:g} s).",
        )

    async def start_tunnel(self) -> str:
        if self.tunnel is None or self.webhook_server is None:
            raise WebhookNotReadyError("The webhook server is not running (poll-only mode).",
                                       "Switch the webhook mode to ngrok in Settings.")
        return await self.tunnel.start(self.webhook_server.port)

    # --- stop -----------------------------------------------------------------------------------

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop in reverse order; each step bounded so a hung peer cannot keep the app open."""
        steps: list[tuple[str, Coroutine[Any, Any, None]]] = []
        if self.poller is not None:
            steps.append(("poller", self.poller.stop()))
        if self.webhook_server is not None:
            steps.append(("webhook server", self.webhook_server.stop()))
        if self.tunnel is not None:
            steps.append(("tunnel", self.tunnel.stop()))
        if self.sandbox is not None:
            steps.append(("sandbox", self.sandbox.stop()))
        if self.client is not None:
            steps.append(("HTTP client", self.client.aclose()))
        for name, coro in steps:
            try:
                await asyncio.wait_for(coro, timeout_s)
            except TimeoutError:
                log.warning("stopping the %s took longer than %.0f s; abandoned", name, timeout_s)
            except ActorTrainerError as exc:
                log.warning("stopping the %s: %s", name, exc)
            except Exception:
                log.exception("stopping the %s failed", name)

    # --- convenience for callers ----------------------------------------------------------------

    def require_orchestrator(self) -> TrainingOrchestrator:
        if self.orchestrator is None:
            raise RuntimeError("Services.start() was not awaited")
        return self.orchestrator
