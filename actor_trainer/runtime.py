"""The composition root below the GUI: build every service from a `Config`, start, stop.

Used by the CLI (`train --wait`, `status`, `reconcile`…) and by the GUI's AppContext. Start-up
order: storage → RunPod client (after the sandbox, when there are no credentials) → webhook
server → orchestrator → poller. Shutdown runs in reverse, each step awaited and bounded in time.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import Event, EventBus, LogLevel, VersionChanged
from actor_trainer.core.library import Library
from actor_trainer.core.model_registry import ModelRegistry
from actor_trainer.core.models import RunOwner
from actor_trainer.core.preflight import WebhookNotReadyError
from actor_trainer.core.settings import Config, cache_dir
from actor_trainer.core.storage.base import Storage
from actor_trainer.core.storage.configured import storage_for
from actor_trainer.core.sync_service import SyncService
from actor_trainer.runtime_tunnel import TunnelAndChecks

# The running services' modules (the RunPod client and httpx, the webhook server and aiohttp, the
# orchestrator, the tunnel and pyngrok, the sandbox) are imported by `start()` and the methods that
# use them, not here: the app shows its window before they are needed (issue 11, item 3).
if TYPE_CHECKING:
    from actor_trainer.core.estimate import EstimateReport
    from actor_trainer.core.models import RunEstimate, TrainingParameters
    from actor_trainer.core.orchestrator import TrainingOrchestrator
    from actor_trainer.core.queue_runner import QueueRunner
    from actor_trainer.core.run_control import RunControl
    from actor_trainer.core.runpod_client import RunPodClient
    from actor_trainer.core.status_poller import StatusPoller
    from actor_trainer.core.trials import TrialService
    from actor_trainer.core.tunnel import TunnelService
    from actor_trainer.core.webhook_server import WebhookServer
    from actor_trainer.sandbox.server import SandboxEndpoint

log = logging.getLogger(__name__)

SANDBOX_TUNNEL_TOKEN = "sandbox-simulated-token"  # the stand-in agent wants one; it is not a secret


def make_storage(config: Config) -> Storage:
    """The configured bucket, or the sandbox's local folder when none is configured."""
    return storage_for(config)


SERVICE_MODULES = (
    "actor_trainer.core.orchestrator",
    "actor_trainer.core.queue_runner",
    "actor_trainer.core.run_control",
    "actor_trainer.core.runpod_client",
    "actor_trainer.core.status_poller",
    "actor_trainer.core.trials",
    "actor_trainer.core.webhook_server",
    "actor_trainer.core.tunnel",
    "actor_trainer.core.tunnel_status",
    "actor_trainer.core.contract_memory",
)
SANDBOX_MODULES = (
    "actor_trainer.sandbox.server",
    "actor_trainer.sandbox.worker",
    "actor_trainer.sandbox.demo_bucket",
    "actor_trainer.sandbox.ngrok_agent",
)


def _import_service_modules(sandbox: bool) -> None:
    import importlib

    for name in SERVICE_MODULES + (SANDBOX_MODULES if sandbox else ()):
        importlib.import_module(name)


class Services(TunnelAndChecks):
    """Every long-lived service of one open library. Construct, `await start()`, `await stop()`."""

    def __init__(self, config: Config, *, events: EventBus | None = None, library: Library | None = None) -> None:
        self.config = config
        self.events = events or EventBus()
        self.library = library or Library(config.data_dir)
        self.storage = make_storage(config)
        #: the one road for each action the GUI and the CLI share (see docs/architecture.md)
        self.sync = SyncService(self.library, self.storage, self.events)
        self.registry = ModelRegistry(self.library, self.events)
        self.runs: RunControl | None = None  # check / cancel / retry, once the client exists
        self.sandbox: SandboxEndpoint | None = None  # the simulated endpoint, in sandbox mode
        self.client: RunPodClient | None = None
        self.webhook_server: WebhookServer | None = None
        self.tunnel: TunnelService | None = None
        self.orchestrator: TrainingOrchestrator | None = None
        self.poller: StatusPoller | None = None
        self.queue: QueueRunner | None = None  # the training queue's runner (core/queue_runner.py), not started
        self.trials: TrialService | None = None  # "Try this version" jobs (core/trials.py), once the client exists
        #: "new" (start() not called yet), "starting", "ready" or "failed" (start_error says why);
        #: the app shows its window while they start (issue 11, item 3)
        self.state = "new"
        self.start_error: BaseException | None = None
        self._ready = asyncio.Event()  # set when start() ended, well or not
        # The highest worker contract a run of this endpoint stated, remembered per endpoint (issue 12).
        self._contract_noted = 0
        self.events.subscribe(self._on_contract_seen)

    # --- start ----------------------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """start() has finished: the client, orchestrator, webhook server and poller exist."""
        return self.state == "ready"

    def starting_soon(self) -> None:
        """Say that start() is on its way (called before it runs), so callers wait instead of failing."""
        if self.state == "new":
            self.state = "starting"

    async def wait_ready(self) -> None:
        """Return once start() has finished; raise why it failed, or RuntimeError if it was never called."""
        if self.state == "new":
            raise RuntimeError("Services.start() was not awaited")
        await self._ready.wait()
        if self.start_error is not None:
            raise self.start_error

    async def start(self, *, serve_webhooks: bool = True, poll: bool = True) -> None:
        self.state = "starting"
        try:
            # Their modules (aiohttp, httpx, boto3, the sandbox…) are imported on a worker thread:
            # a GUI's loop keeps painting meanwhile (issue 11, item 3).
            await asyncio.to_thread(_import_service_modules, self.config.sandbox)
            # The ngrok token, if the app left it for now (the keyring, off the loop and after the paint).
            self.config = await asyncio.to_thread(self.config.with_ngrok_token)
            await self._start(serve_webhooks=serve_webhooks, poll=poll)
        except BaseException as exc:
            self.state = "failed"
            self.start_error = exc if isinstance(exc, Exception) else RuntimeError("the start was interrupted")
            self._ready.set()
            raise
        self.state = "ready"
        self._ready.set()

    async def _start(self, *, serve_webhooks: bool, poll: bool) -> None:
        from actor_trainer.core.orchestrator import TrainingOrchestrator
        from actor_trainer.core.queue import QueueStore
        from actor_trainer.core.queue_runner import QueueRunner
        from actor_trainer.core.run_control import RunControl
        from actor_trainer.core.runpod_client import RunPodClient
        from actor_trainer.core.status_poller import StatusPoller
        from actor_trainer.core.trials import TrialService
        from actor_trainer.core.webhook_server import WebhookServer

        cfg = self.config
        owner: RunOwner | None = None
        if cfg.sandbox:
            from actor_trainer.sandbox.server import SandboxEndpoint
            from actor_trainer.sandbox.worker import make_worker

            sandbox = SandboxEndpoint(
                make_worker(self.storage, duration_s=cfg.sandbox_duration_s, timing=cfg.sandbox_timing)
            )
            base_url = await sandbox.start()
            self.sandbox = sandbox
            self.client = RunPodClient(base_url, None)
            # Every run this sandbox starts records it, so other processes reach or settle it (core/run_owner.py).
            owner = RunOwner(pid=os.getpid(), token=sandbox.owner_token, url=base_url)
            self.events.log(
                LogLevel.INFO,
                "SANDBOX mode: a simulated RunPod endpoint and a local bucket "
                "(no credentials needed; LoRAs are random weights).",
            )
            # The demo library's completed versions get real (simulated) LoRAs in this bucket (issue 10, item 6).
            from actor_trainer.sandbox.demo_bucket import seed_demo_bucket

            seeded = await asyncio.to_thread(seed_demo_bucket, self.library, self.storage)
            if seeded.files_written:
                self.events.log(
                    LogLevel.INFO,
                    f"Demo library: {seeded.files_written} LoRA file(s) placed in the "
                    "sandbox bucket; the demo's versions point at them.",
                )
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
            owner=owner,
        )
        self.orchestrator.estimator = self.estimate_record
        self.orchestrator.contract_version = self._contract_version  # v2: runs sample (issue 12)
        self.runs = RunControl(self.orchestrator, self.client, self.events)
        self.trials = TrialService(
            library=self.library,
            storage=self.storage,
            client=self.client,
            events=self.events,
            endpoint_label=cfg.endpoint_label,
            speaks_v2=self.endpoint_speaks_v2,
            note_contract=self._note_contract,
            poll_interval_s=min(2.0, cfg.poll_seconds),
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
            self.orchestrator,
            self.library,
            self.events,
            interval_s=cfg.poll_seconds,
            live_interval_s=min(5.0, cfg.poll_seconds),
        )
        if poll:
            self.poller.start()
        self.queue = QueueRunner(
            store=QueueStore(self.library.root),
            library=self.library,
            sync=self.sync,
            runs=self.runs,
            events=self.events,
            watch=self._on_submitted,
            follow_interval_s=min(5.0, cfg.poll_seconds),
        )

    def _make_tunnel(self) -> TunnelService:
        from actor_trainer.core.tunnel import TunnelService

        cfg = self.config
        ngrok_config = cache_dir() / "ngrok" / "ngrok.yml"
        ngrok_config.parent.mkdir(parents=True, exist_ok=True)
        if cfg.sandbox and cfg.ngrok_path is None and not cfg.ngrok_authtoken:
            # No credentials at all: the sandbox's stand-in agent forwards on loopback, so the whole
            # flow (start the tunnel, deliver through it) can be tried without an ngrok account.
            from actor_trainer.sandbox.ngrok_agent import write_agent_launcher

            agent = write_agent_launcher(cache_dir() / "sandbox-ngrok")
            return TunnelService(
                self.events,
                auth_token=SANDBOX_TUNNEL_TOKEN,
                ngrok_path=agent,
                config_path=ngrok_config,
                label="sandbox tunnel (simulated)",
            )
        return TunnelService(
            self.events,
            auth_token=cfg.ngrok_authtoken,
            ngrok_path=cfg.ngrok_path,
            config_path=ngrok_config,
            region=cfg.ngrok_region,
        )

    def endpoint_speaks_v2(self) -> bool:
        """Whether samples and Try are offered: the endpoint speaks worker contract v2 (the sandbox
        always does; the setting overrides; core/contract_memory.py)."""
        from actor_trainer.core.contract_memory import ContractMemory

        return ContractMemory(override=self.config.worker_contract).speaks_v2(self.config.endpoint_label)

    def _contract_version(self) -> int:
        from actor_trainer.core.contract_memory import ContractMemory

        return ContractMemory(override=self.config.worker_contract).version_for(self.config.endpoint_label)

    def _note_contract(self, payload: Any) -> None:
        from actor_trainer.core.contract_memory import ContractMemory

        ContractMemory(override=self.config.worker_contract).note_payload(self.config.endpoint_label, payload)

    def _on_contract_seen(self, event: Event) -> None:
        if not isinstance(event, VersionChanged):
            return
        version = event.version
        stated = version.contractVersion or 0
        if stated <= self._contract_noted or version.endpoint != self.config.endpoint_label:
            return
        self._contract_noted = stated
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        payload = {"contract_version": stated}
        loop.run_in_executor(None, self._note_contract, payload)  # a small file write, off the loop

    def _on_submitted(self, actor_id: int, ref: str) -> None:
        if self.poller is not None:
            self.poller.watch(actor_id, ref)

    # --- the webhook's public address -----------------------------------------------------------

    def estimate(self, params: TrainingParameters) -> EstimateReport:
        """What a run with `params` will take and cost on this endpoint (blocking: reads the library)."""
        from actor_trainer.core.estimate import estimate_with_config

        return estimate_with_config(self.library, self.config, params)

    def estimate_record(self, params: TrainingParameters) -> RunEstimate:
        return self.estimate(params).estimate.to_record()

    def webhook_base_url(self) -> str | None:
        """Where RunPod should deliver, by mode; raises WebhookNotReadyError when it cannot."""
        from actor_trainer.core.tunnel import TunnelState

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

    # --- stop -----------------------------------------------------------------------------------

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop in reverse order; each step bounded so a hung peer cannot keep the app open."""
        steps: list[tuple[str, Coroutine[Any, Any, None]]] = []
        if self.trials is not None:
            steps.append(("trials", self.trials.stop()))
        if self.queue is not None:
            steps.append(("queue runner", self.queue.stop()))
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

    def _not_started(self) -> RuntimeError:
        if self.state == "starting":
            return RuntimeError("The services are still starting")
        return RuntimeError("Services.start() was not awaited")

    def require_runs(self) -> RunControl:
        if self.runs is None:
            raise self._not_started()
        return self.runs

    def require_orchestrator(self) -> TrainingOrchestrator:
        if self.orchestrator is None:
            raise self._not_started()
        return self.orchestrator
