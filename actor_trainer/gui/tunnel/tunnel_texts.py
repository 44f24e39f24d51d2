"""What the tunnel panel says: the state in a word and a tone, the tunnel's name, the failure and
what to do about it, the last webhook in a long and a short form. Words only; no widgets.
"""

from __future__ import annotations

from datetime import datetime

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.events import WebhookReceived
from actor_trainer.core.tunnel import NoAuthTokenError, TunnelState
from actor_trainer.core.tunnel_status import TunnelStatus
from actor_trainer.gui.i18n import tr

#: The one name of each webhook mode, used by Settings, the tunnel panel, the status bar and the
#: user guide alike (issue 10, item 9). Untranslated; shown through `mode_word`.
MODE_WORDS = {"ngrok": "ngrok tunnel", "public": "public URL", "poll": "poll only"}


def mode_word(mode: str) -> str:
    """ "ngrok tunnel", "public URL" or "poll only"."""
    return tr(MODE_WORDS.get(mode, mode))


STATE_LOOK = {  # state → (word, tone)
    TunnelState.STOPPED: ("Stopped", "neutral"),
    TunnelState.STARTING: ("Starting…", "info"),
    TunnelState.RUNNING: ("Running", "success"),
    TunnelState.ERROR: ("Error", "error"),
}


def badge_look(status: TunnelStatus, *, starting: bool) -> tuple[str, str]:
    """The state badge's word and tone for the running webhook mode."""
    if status.mode == "poll":
        return tr("Webhooks off"), "neutral"
    if status.mode == "public":
        return tr("Public URL"), "info"
    word, tone = STATE_LOOK[TunnelState.STARTING if starting else status.state]
    return tr(word), tone


def name_text(status: TunnelStatus) -> str:
    """The bold name next to the badge."""
    if status.mode in ("poll", "public"):
        return mode_word(status.mode)
    return status.label


def start_text(state: TunnelState, *, starting: bool) -> str:
    if starting:
        return tr("Starting…")
    return tr("Restart") if state is TunnelState.ERROR else tr("Start")


def forwarding_text(port: int | None) -> str:
    if port is None:
        return tr("No webhook server is running (poll-only mode).")
    return tr("Forwarding to localhost:{port}").format(port=port)


def domain_text(status: TunnelStatus) -> str | None:
    """The running tunnel's domain and whether the webhook URL stays the same after a restart
    (issue 9, item 9); None when no tunnel runs."""
    domain, kind = status.domain, status.domain_kind
    if domain is None:
        return None
    if status.simulated:
        return tr("{domain} (simulated: the same for this computer's sandbox at every start)").format(domain=domain)
    if kind == "typed":
        return tr("{domain} — your domain from Settings; the webhook URL stays the same after a restart").format(
            domain=domain
        )
    if kind == "remembered":
        return tr(
            "{domain} — your stable dev domain (remembered): the webhook URL stays the same after a restart"
        ).format(domain=domain)
    if kind == "new":
        return tr(
            "{domain} — remembered now: the app asks ngrok for it at every start, so the webhook URL stays "
            "the same after a restart"
        ).format(domain=domain)
    if kind == "replaced":
        return tr(
            "{domain} — remembered now; ngrok refused the domain remembered before ({old}), probably because "
            "the ngrok account changed"
        ).format(domain=domain, old=status.refused_domain)
    if kind == "unsaved":
        return tr("{domain} — could not be remembered: the webhook URL may change after a restart").format(
            domain=domain
        )
    return domain  # while the start is still choosing


def sandbox_note(label: str) -> str:
    return tr(
        "{label}: no ngrok token is configured, so a local forwarder stands in for ngrok; its URL "
        "works on this computer only. Add an ngrok auth token in Settings for a real tunnel."
    ).format(label=label)


def error_text(exc: BaseException) -> tuple[str, str]:
    """(message, hint) of a failure, with the way out for a missing ngrok token."""
    message = exc.message if isinstance(exc, ActorTrainerError) else f"{type(exc).__name__}: {exc}"
    hint = exc.hint if isinstance(exc, ActorTrainerError) else ""
    if isinstance(exc, NoAuthTokenError):
        hint = tr("Add your ngrok auth token in Settings.") + (f" {hint}" if hint else "")
    return message, hint


def summary_text(port: int | None, last_webhook_short: str) -> str:
    """The compact row's one line: where the tunnel forwards, and the last webhook."""
    parts = [f"→ localhost:{port}"] if port is not None else []
    if last_webhook_short:
        parts.append(last_webhook_short)
    return " · ".join(parts)


def _clock(at: datetime) -> str:
    return at.astimezone().strftime("%H:%M:%S")


def accepted_webhook_lines(at: datetime) -> tuple[str, str]:
    """(details line, short line) for a webhook accepted at `at`, before this panel listened."""
    clock = _clock(at)
    return tr("{at} · accepted").format(at=clock), tr("last webhook {at} ✓").format(at=clock)


def webhook_lines(event: WebhookReceived) -> tuple[str, str]:
    """(details line, short line) for a webhook that just arrived."""
    at = _clock(event.at)
    verdict = tr("accepted") if event.accepted else tr("rejected")
    job = tr("job {id}").format(id=event.job_id) if event.job_id else tr("no job id")
    detail = f" ({event.detail})" if event.detail else ""
    mark = "✓" if event.accepted else "✗ " + tr("rejected")
    return f"{at} · {job} · {verdict}{detail}", tr("last webhook {at} {mark}").format(at=at, mark=mark)
