"""Per-job webhook tokens: made, hashed, put in the webhook URL, and looked up when RunPod calls.

RunPod signs nothing (docs/runpod.md, "Webhooks"), so each job's webhook URL carries an
unguessable token, `<public base>/api/training-webhook/<token>`. The token is the one secret of a
job: it lives only in that URL; the version stores its sha256 (`webhookTokenHash`), and the
in-memory `TokenIndex` maps those hashes to the versions still in flight. Lookups compare every
known hash in constant time. At most a token's first 4 characters may appear in a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actor_trainer.core.errors import ActorTrainerError

if TYPE_CHECKING:
    from actor_trainer.core.library import Library

#: The webhook route of the app's server; a job's URL is `<base><WEBHOOK_PATH>/<token>`.
WEBHOOK_PATH = "/api/training-webhook"
#: What a token of ours looks like (`new_webhook_token` makes 43 of these characters).
TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{16,128}")


class WebhookAddressError(ActorTrainerError):
    """The public base URL given for the webhook is not an http(s) URL."""


def new_webhook_token() -> str:
    """An unguessable per-job token for the webhook URL (RunPod signs nothing)."""
    return secrets.token_urlsafe(32)


def webhook_token_hash(token: str) -> str:
    """The sha256 hex digest of a webhook token: what is stored instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def webhook_url(base_url: str, token: str) -> str:
    """`<base>/api/training-webhook/<token>`; the base is the public URL of the app's server."""
    base = base_url.strip().rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise WebhookAddressError(
            f"The webhook address {base_url!r} is not an http(s) URL.",
            "Start the tunnel, set a public URL, or switch to poll-only mode.",
        )
    return f"{base}{WEBHOOK_PATH}/{token}"


def token_matches(token: str, digests: Iterable[str]) -> bool:
    """Whether `token` hashes to one of `digests`, comparing every one in constant time."""
    candidate = webhook_token_hash(token)
    found = False
    for digest in digests:
        found |= hmac.compare_digest(candidate, digest)
    return found


def token_preview(token: str) -> str:
    """The most of a token that may appear in a log line."""
    return f"{token[:4]}…"


# --- the index ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRef:
    """The version a token belongs to."""

    actor_id: int
    request_id: str


class TokenIndex:
    """sha256(token) → the version it was made for, for the versions still in flight."""

    def __init__(self) -> None:
        self._refs: dict[str, TokenRef] = {}

    def __len__(self) -> int:
        return len(self._refs)

    def add(self, token: str, actor_id: int, request_id: str) -> None:
        """Remember a token just made for a version."""
        self._refs[webhook_token_hash(token)] = TokenRef(actor_id, request_id)

    def load(self, library: Library) -> int:
        """Learn the token hashes of every version still in flight (after a restart). Blocking.

        Returns how many tokens the index knows now."""
        for actor, version in library.in_flight_versions():
            if version.webhookTokenHash:
                self._refs[version.webhookTokenHash] = TokenRef(actor.id, version.requestId or version.id)
        return len(self._refs)

    def is_known(self, token: str) -> bool:
        """Constant-time comparison of the token's hash with every known hash."""
        return token_matches(token, self._refs)

    def lookup(self, token: str) -> TokenRef | None:
        """The version `token` was made for, or None."""
        digest = webhook_token_hash(token)
        for known, ref in self._refs.items():
            if hmac.compare_digest(digest, known):
                return ref
        return None
