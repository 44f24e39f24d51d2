"""What the webhook's public road looks like now, and what a test delivery through it measured.

Plain values handed out by `runtime.Services.tunnel_status()` / `test_delivery()`, so a caller (the
GUI's tunnel panel and status bar, the CLI) reads the tunnel and the webhook server without holding
either service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from actor_trainer.core.tunnel import TunnelState


@dataclass(frozen=True)
class TunnelStatus:
    """A snapshot of the webhook mode, the tunnel and the local webhook server."""

    mode: str  # "ngrok" | "public" | "poll"
    state: TunnelState = TunnelState.STOPPED
    label: str = "ngrok"  # the tunnel's name ("ngrok", or the sandbox's stand-in)
    public_url: str | None = None  # where RunPod reaches the webhook server now (by mode), if anywhere
    server_port: int | None = None  # the local webhook server's port; None: no server (poll-only)
    last_error: Exception | None = None  # why the tunnel is in ERROR (a TunnelError), if it is
    last_delivery_at: datetime | None = None  # when the last webhook was accepted

    @property
    def has_server(self) -> bool:
        return self.server_port is not None

    @property
    def simulated(self) -> bool:
        """A local stand-in forwards instead of ngrok (sandbox without an ngrok token)."""
        return self.mode == "ngrok" and self.label != "ngrok"


@dataclass(frozen=True)
class DeliveryResult:
    """A probe POSTed through `url` reached this app's webhook server in `seconds`."""

    url: str
    seconds: float
