"""The ngrok agent as a program on disk and as a process: its version, how the auth token reaches
it (the environment, never the command line), and how its `/api/endpoints` answers are read.
Helpers of core/tunnel.py's TunnelService; blocking where they run the agent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pyngrok.process import NgrokProcess

#: The first agent with `/api/endpoints` (pyngrok 9 calls it; `/api/tunnels` is deprecated).
MIN_AGENT_VERSION = (3, 30)
_VERSION = re.compile(r"version\s+v?(\d+)\.(\d+)(?:\.(\d+))?")
# Setting NGROK_AUTHTOKEN for one agent start at a time (the environment is the process's).
_env_lock = threading.Lock()
# Agent versions already checked: (path, mtime) → version.
_checked_versions: dict[tuple[str, float], tuple[int, ...]] = {}


def exited_within(proc: NgrokProcess, seconds: float) -> bool:
    try:
        proc.proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def token_digest(token: str | None) -> str:
    return hashlib.sha256((token or "").encode()).hexdigest()


@contextlib.contextmanager
def token_in_environment(token: str | None) -> Iterator[None]:
    """NGROK_AUTHTOKEN set (or left as it is when no token is given) while an agent starts: the
    agent reads it, and it never appears on the agent's command line."""
    with _env_lock:
        before = os.environ.get("NGROK_AUTHTOKEN")
        if token:
            os.environ["NGROK_AUTHTOKEN"] = token
        try:
            yield
        finally:
            if token:
                if before is None:
                    os.environ.pop("NGROK_AUTHTOKEN", None)
                else:
                    os.environ["NGROK_AUTHTOKEN"] = before


def agent_version(path: Path, timeout_s: float = 15.0) -> tuple[int, ...] | None:
    """The agent's version from `ngrok --version` (None when it does not say). Blocking; cached
    per binary and modification time."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return None
    if key in _checked_versions:
        return _checked_versions[key]
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _VERSION.search(out or "")
    if found is None:
        return None
    version = tuple(int(part) for part in found.groups() if part is not None)
    _checked_versions[key] = version
    return version


def runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def port_of(url: str | None) -> int | None:
    if not url:
        return None
    if url.isdigit():
        return int(url)
    try:
        return urlsplit(url if "://" in url else f"http://{url}").port
    except ValueError:
        return None


def upstream_of(endpoint: dict[str, Any]) -> str | None:
    upstream = endpoint.get("upstream")
    if isinstance(upstream, dict) and upstream.get("url"):
        return str(upstream["url"])
    config = endpoint.get("config")
    if isinstance(config, dict) and config.get("addr"):
        return str(config["addr"])
    return None


def public_url_of(endpoint: dict[str, Any]) -> str | None:
    url = endpoint.get("public_url") or endpoint.get("url")
    return str(url) if url else None


def same_upstream(a: str | None, b: str) -> bool:
    return a is not None and a.rstrip("/").lower() == b.rstrip("/").lower()


def domain_of(url: str | None) -> str | None:
    """The domain of a public URL as the app remembers it: the host, and the port when the URL has
    one (`abc-1234.ngrok-free.app`; the stand-in agent's loopback `127.0.0.1:23456`)."""
    if not url:
        return None
    try:
        netloc = urlsplit(url if "://" in url else f"https://{url}").netloc
    except ValueError:
        return None
    return netloc.rsplit("@", 1)[-1].lower() or None


def normalize_domain(text: str | None) -> str | None:
    """A domain as typed ("https://x.ngrok.app/", " X.ngrok.app ") → "x.ngrok.app"; "" → None."""
    return domain_of(text.strip()) if text and text.strip() else None


def url_for_domain(domain: str) -> str:
    """What the agent API's `url` option asks for: an https endpoint on `domain` (ngrok's form,
    `https://example.ngrok.app`)."""
    return f"https://{domain}"
