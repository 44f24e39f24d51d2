"""Which process runs a sandbox job, and whether it still does (docs/architecture.md, "Sandbox").

The sandbox's simulated endpoint and worker live inside the process that started the run (the app
or `train --wait`). Each sandbox endpoint has an owner identity — the pid, a random token, and its
loopback base URL — written into every version it runs (`TrainingVersion.owner`). Another process
(a second app, `actor-trainer cancel` or `status`) reaches such a run through the owner's endpoint
at that URL, with the same RunPod protocol; a run whose owner is gone is marked interrupted, at once.

Liveness: a pid that no longer exists means gone (POSIX); otherwise the owner's endpoint is asked
(`GET /health`, which a sandbox endpoint answers with its owner token). Nothing listening there, or
another token, means gone; no answer in time means unknown, and an unknown run is left alone.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum

from actor_trainer.core.models import RunOwner

INTERRUPTED_KIND = "SandboxInterrupted"


class OwnerState(StrEnum):
    MINE = "mine"  # this process's own sandbox runs it
    ALIVE = "alive"  # another live process's sandbox runs it: reach it through owner.url
    GONE = "gone"  # the process (or its sandbox) is gone, and the simulated worker with it
    UNKNOWN = "unknown"  # could not tell: leave the run alone


def interrupted_message(owner: RunOwner | None) -> str:
    who = f" (process {owner.pid})" if owner is not None else ""
    return (
        f"Interrupted: the sandbox stopped with the app{who}. The simulated worker ran inside it; "
        "train again to make a new version."
    )


def pid_exists(pid: int) -> bool | None:
    """True/False on POSIX; None where it cannot be asked safely (on Windows, os.kill terminates)."""
    if pid <= 0 or sys.platform == "win32":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    except OSError:
        return None
    return True


async def owner_state(owner: RunOwner, me: RunOwner | None, *, timeout_s: float = 2.0) -> OwnerState:
    """Whether the sandbox that runs a job is this one, another live one, or gone."""
    if me is not None and owner.token == me.token:
        return OwnerState.MINE
    if pid_exists(owner.pid) is False:
        return OwnerState.GONE
    import httpx  # here, not at import: the app's window opens before httpx is needed (issue 11)

    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            answer = await client.get(f"{owner.url.rstrip('/')}/health")
    except httpx.ConnectError:
        return OwnerState.GONE  # nothing listens there any more
    except httpx.HTTPError:
        return OwnerState.UNKNOWN
    if answer.status_code != 200:
        return OwnerState.GONE
    try:
        said = answer.json().get("owner")
    except (ValueError, AttributeError):
        return OwnerState.GONE
    return OwnerState.ALIVE if said == owner.token else OwnerState.GONE
