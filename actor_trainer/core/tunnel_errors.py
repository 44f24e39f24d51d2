"""Typed tunnel failures, and the one function that maps pyngrok's exceptions onto them.

Messages say what happened, hints what to do. The auth token never survives into a message: ngrok
itself echoes a rejected token in its error output, so every text passes `redact` first.
"""

from __future__ import annotations

import json
import logging
import re

from pyngrok.exception import PyngrokNgrokError, PyngrokNgrokInstallError, PyngrokNgrokURLError

from actor_trainer.core.errors import ActorTrainerError

TOKEN_URL = "https://dashboard.ngrok.com/get-started/your-authtoken"


# --- errors -------------------------------------------------------------------------------------


class TunnelError(ActorTrainerError):
    """The tunnel could not be started, or stopped working."""


class NoAuthTokenError(TunnelError):
    """ngrok has no auth token, or refused the one it was given."""


class AgentUnavailableError(TunnelError):
    """No ngrok agent binary is installed and none could be downloaded."""


class SessionLimitError(TunnelError):
    """Another agent already holds this account's only session (ERR_NGROK_108)."""


class EndpointOnlineError(TunnelError):
    """The public address is already served by another agent (ERR_NGROK_334)."""


class AgentTooOldError(TunnelError):
    """The ngrok agent is older than the one this app needs (3.30: `/api/endpoints`)."""


class TunnelDroppedError(TunnelError):
    """A running tunnel stopped working."""


class DomainRefusedError(TunnelError):
    """ngrok refused the domain the tunnel asked for (not this account's, or a paid-plan feature)."""

    def __init__(self, message: str, hint: str = "", *, code: str, reason: str) -> None:
        super().__init__(message, hint)
        self.code = code
        self.reason = reason  # ngrok's own first sentence


TOKEN_HINT = (
    f"Get your auth token at {TOKEN_URL} and store it in Settings → Tunnel "
    "(or set the NGROK_AUTHTOKEN environment variable), then start the tunnel again."
)
AGENT_HINT = (
    "Install ngrok (https://ngrok.com/download) and set its path in Settings → Tunnel, or switch the "
    "webhook mode to “public URL” (a URL you already expose) or “poll only” (no webhook)."
)


AGENTS_URL = "https://dashboard.ngrok.com/agents"
DOMAINS_URL = "https://dashboard.ngrok.com/domains"
_CODE = re.compile(r"ERR_NGROK_\d+")
#: ngrok's refusals of a requested domain when an endpoint starts: 313 custom subdomains are a paid
#: feature, 314 custom hostnames are a paid feature, 320 the domain is reserved for another account,
#: 354 nested subdomains must be reserved first, 15000 the plan may not use subdomains of that base.
DOMAIN_REFUSALS = frozenset({"ERR_NGROK_313", "ERR_NGROK_314", "ERR_NGROK_320", "ERR_NGROK_354", "ERR_NGROK_15000"})


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced (ngrok echoes a rejected token in its errors)."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "[redacted]")
    return text


def tunnel_error_from(
    exc: BaseException, *, secret: str | None = None, label: str = "ngrok", domain: str | None = None
) -> TunnelError:
    """The one place where pyngrok's and the OS's failures become typed, actionable errors
    (`domain`: the one the start asked ngrok for, named when ngrok refuses it)."""
    if isinstance(exc, TunnelError):
        return exc
    text = redact(str(exc), secret)
    detail = text.replace("\\r", "").replace("\\n", " ").replace("\r", "").replace("\n", " ").strip()
    code = exc.ngrok_error_code if isinstance(exc, PyngrokNgrokError) else None
    if not code:  # an agent API error (PyngrokNgrokHTTPError) carries the code in its body only
        found = _CODE.search(f"{text} {getattr(exc, 'body', '') or ''}")
        code = found.group() if found else None
    lowered = detail.lower()
    if isinstance(exc, PyngrokNgrokInstallError):
        return AgentUnavailableError(
            f"{label}: the ngrok agent is not installed here and could not be downloaded ({detail}).", AGENT_HINT
        )
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        return AgentUnavailableError(f"{label}: the agent could not be run ({detail}).", AGENT_HINT)
    if code in {"ERR_NGROK_108", "ERR_NGROK_348"} or "simultaneous ngrok agent session" in lowered:
        return SessionLimitError(
            f"{label}: your ngrok account's agent sessions are all in use ({code or 'ERR_NGROK_108'}): another "
            "copy of this app, or an ngrok agent left running, on this computer or another one.",
            f"Close the other copy of the app or stop that agent ({AGENTS_URL} lists the running ones and can "
            "stop them), then start the tunnel again. The free plan allows one agent at a time.",
        )
    if code == "ERR_NGROK_334" or "is already online" in lowered:
        return EndpointOnlineError(
            f"{label}: the public address is already online elsewhere (ERR_NGROK_334): another copy of this "
            "app, or a stale ngrok agent, serves your account's domain (the free plan has one, shared by "
            "all your agents).",
            f"Close the other copy of the app or stop that agent ({AGENTS_URL}), then start the tunnel "
            "again. Only one agent at a time can serve the domain.",
        )
    if code in DOMAIN_REFUSALS:
        reason = ngrok_reason(exc, secret) or detail
        return DomainRefusedError(
            f"{label}: ngrok refused the domain {domain or 'the tunnel asked for'} ({code}): {reason}",
            "Check the ngrok domain in Settings → Tunnel (it must be reserved on this ngrok account: "
            f"{DOMAINS_URL}), or clear it to use your account's free dev domain.",
            code=code,
            reason=reason,
        )
    if code == "ERR_NGROK_324":
        return SessionLimitError(
            f"{label}: this ngrok session already runs as many endpoints as your plan allows (ERR_NGROK_324).",
            "Stop the agent's other endpoints (or the other program using this agent), then start the tunnel again.",
        )
    if code == "ERR_NGROK_4018" or "requires a verified account and authtoken" in lowered:
        return NoAuthTokenError(f"{label}: an auth token is required to start a tunnel (ERR_NGROK_4018).", TOKEN_HINT)
    if code in {"ERR_NGROK_105", "ERR_NGROK_106", "ERR_NGROK_107"} or "authtoken" in lowered:
        return NoAuthTokenError(
            f"{label}: the auth token was rejected ({code or 'authentication failed'}).", TOKEN_HINT
        )
    if "ngrok binary was not found" in lowered:
        return AgentUnavailableError(f"{label}: the agent binary was not found.", AGENT_HINT)
    if isinstance(exc, PyngrokNgrokURLError) or isinstance(exc, ConnectionError):
        return TunnelError(
            f"{label}: the agent's local API did not answer ({detail}).",
            "Restart the tunnel; if it keeps failing, stop any other ngrok agent.",
        )
    return TunnelError(
        f"{label}: the tunnel failed ({detail or type(exc).__name__}).",
        "Restart the tunnel. If it keeps failing, check the log for the agent's own message.",
    )


def ngrok_reason(exc: BaseException, secret: str | None = None) -> str:
    """ngrok's own first sentence from an agent API error's body (`details.err`), or ""."""
    body = getattr(exc, "body", None)
    try:
        err = json.loads(body).get("details", {}).get("err", "") if isinstance(body, str) else ""
    except (ValueError, AttributeError):
        err = ""
    first = str(err).replace("\r", "").strip().split("\n", 1)[0].strip()
    return redact(first, secret)


class RedactFilter(logging.Filter):
    """Removes the auth token from pyngrok's log records (they include the agent's raw output)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg = redact(message, self.secret)
            record.args = None
        return True
