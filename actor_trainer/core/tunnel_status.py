"""What the webhook's public road looks like now, and what a test delivery through it measured.

Plain values handed out by `runtime.Services.tunnel_status()` / `test_delivery()`, so a caller (the
GUI's tunnel panel and status bar, the CLI) reads the tunnel and the webhook server without holding
either service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from actor_trainer.core.tunnel import TunnelState

#: How the running tunnel's domain was chosen: "typed" (the user's, from Settings), "remembered"
#: (the one ngrok gave before, asked for again and given), "new" (given by ngrok now, remembered from
#: now on), "replaced" (ngrok refused the remembered one; the one it gave instead is remembered now).
#: "unsaved": given by ngrok, but the settings could not be written, so it may change at a restart.
DOMAIN_KINDS = ("typed", "remembered", "new", "replaced")


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
    domain: str | None = None  # the running tunnel's domain (host, and port if any), if it runs
    #: how that domain was chosen (DOMAIN_KINDS or "unsaved"); None: not known (yet), or the
    #: simulated tunnel, which keeps no memory
    domain_kind: str | None = None
    refused_domain: str | None = None  # the remembered domain ngrok refused at this start ("replaced")

    @property
    def stable_domain(self) -> bool:
        """The webhook URL stays the same across app restarts: ngrok is asked for this domain again."""
        return self.domain is not None and self.domain_kind in DOMAIN_KINDS

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
