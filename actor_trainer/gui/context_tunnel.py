"""AppContext's tunnel and checks: one road each (runtime.Services, which the CLI calls too).

Widgets call these plain methods; the work runs through the task runner and the results come
back through callbacks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject

from actor_trainer.core.events import LogLevel
from actor_trainer.core.settings import StorageConfig
from actor_trainer.gui.context_parts import ContextParts
from actor_trainer.gui.i18n import tr

if TYPE_CHECKING:  # the window is built before the services' modules are needed (issue 11, item 3)
    from actor_trainer.core.runpod_health import EndpointHealth
    from actor_trainer.core.settings import Settings
    from actor_trainer.core.tunnel_status import DeliveryResult, TunnelStatus

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class TunnelActions(ContextParts):
    """Methods of AppContext (a mixin: no state of its own, no signals)."""

    if TYPE_CHECKING:
        settings: Settings  # AppContext's: the settings as loaded (and as Settings saves them)

    # --- tunnel and checks (one road each: runtime.Services, which the CLI calls too) -----------
    # Widgets call these and never await; results come back to `on_done` / `on_error` on the GUI
    # thread (skipped when `owner` was deleted meanwhile). Tunnel changes arrive as bridge signals.

    def tunnel_status(self) -> TunnelStatus:
        """The webhook mode, the tunnel and the webhook server now (read-only)."""
        return self.services.tunnel_status()

    async def _keeping_domain(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """`work()`, then the ngrok domain a tunnel start remembered copied into the settings the app
        holds, so that saving Settings later keeps it (Settings dialogs copy these when they open)."""
        try:
            return await work()
        finally:
            status = self.tunnel_status()
            if status.domain_kind in ("new", "replaced", "remembered") and status.domain:
                self.settings.ngrok_remembered_domain = status.domain

    def is_tunnel_busy(self, what: str) -> bool:
        """A tunnel "start", "stop" or "test-delivery" is under way."""
        return self.tasks.is_running(f"tunnel-{what}")

    def start_tunnel(
        self, *, on_error: Callable[[BaseException], None] | None = None, owner: QObject | None = None
    ) -> None:
        """Start the tunnel, watched (a tunnel that dies later turns ERROR instead of silently)."""
        if self.is_tunnel_busy("start"):
            return
        status = self.tunnel_status()
        if status.has_server:
            self.events.log(
                LogLevel.INFO,
                tr("{label}: starting a tunnel to localhost:{port}").format(
                    label=status.label, port=status.server_port
                ),
            )
        self.tasks.start(
            "tunnel-start",
            self._when_ready(lambda: self._keeping_domain(lambda: self.services.start_tunnel(watch=True))),
            on_error=on_error,
            owner=owner,
        )

    def stop_tunnel(
        self, *, on_error: Callable[[BaseException], None] | None = None, owner: QObject | None = None
    ) -> None:
        self.tasks.start("tunnel-stop", self.services.stop_tunnel(), on_error=on_error, owner=owner)

    def test_delivery(
        self,
        *,
        on_done: Callable[[DeliveryResult], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> None:
        """POST a probe through the running mode's public URL to this app's webhook server."""
        self.tasks.start(
            "tunnel-test-delivery",
            self._when_ready(lambda: self._keeping_domain(self.services.test_delivery)),
            on_done=on_done,
            on_error=on_error,
            owner=owner,
        )

    def check_delivery(
        self,
        public_url: str | None,
        *,
        on_done: Callable[[DeliveryResult], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> None:
        """Settings' test: deliver through `public_url`, or the tunnel (started first if it is not running)."""
        self.tasks.start(
            "check-delivery",
            self._when_ready(
                lambda: self._keeping_domain(lambda: self.services.test_delivery(public_url, start_tunnel=True))
            ),
            on_done=on_done,
            on_error=on_error,
            owner=owner,
        )

    def check_endpoint(
        self,
        endpoint_id: str | None,
        *,
        api_root: str,
        api_key: str | None,
        on_done: Callable[[EndpointHealth], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> None:
        """RunPod's /health of `endpoint_id` at `api_root` (None: the running endpoint)."""

        async def check() -> EndpointHealth:
            return await self.services.check_endpoint(endpoint_id, api_root=api_root, api_key=api_key)

        # The running endpoint needs the client (after the start); another endpoint is asked at once.
        self.tasks.start(
            "check-endpoint",
            check() if endpoint_id else self._when_ready(check),
            on_done=on_done,
            on_error=on_error,
            owner=owner,
        )

    def check_storage(
        self,
        storage: StorageConfig | None,
        *,
        on_done: Callable[[str], None],
        on_error: Callable[[BaseException], None],
        owner: QObject | None = None,
    ) -> None:
        """List the bucket `storage` describes (None: the running one)."""
        self.tasks.start(
            "check-storage", self.services.check_storage(storage), on_done=on_done, on_error=on_error, owner=owner
        )

    # --- end of tunnel and checks ---------------------------------------------------------------
