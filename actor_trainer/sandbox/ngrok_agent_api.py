"""The stand-in ngrok agent's local API and its endpoints, each a real loopback forwarder. Simulated.

See `ngrok_agent` for the command line. The API answers what pyngrok 9.x calls (`/api/endpoints` and
the v2 `/api/tunnels`); every endpoint's "public URL" is `http://127.0.0.1:<port>` (real ngrok gives
https on an ngrok domain) and proxies each request, unchanged, to its upstream.

Like a real account, every authtoken has one static dev domain: here the loopback address
`127.0.0.1:<port>` with a port derived from the token (and the agent's config file, so two
sandboxes or test workers on one machine do not share one), the same after an agent restart. An
endpoint started without a domain gets it; asking for it (`url`, `domain` or `hostname`) gets it
too; asking for any other domain is refused as ngrok refuses it on the free plan (502 "failed to
start tunnel" with ERR_NGROK_313, 314 or 320); a second endpoint while one holds the dev domain, or
the port held by another agent with the same token, is ERR_NGROK_334 ("already online").
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
# Real ngrok does not cap request bodies; the stand-in only guards its own memory.
_FORWARD_MAX_BODY = 256 * 1024 * 1024


# --- logfmt output --------------------------------------------------------------------------------


def _logfmt_value(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\\\n\r\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def log_line(lvl: str, msg: str, **fields: object) -> None:
    """Print one ngrok-style logfmt line on stdout and flush it.

    The write is deliberately blocking, like the real agent's logger: a parent that never drains
    the pipe stalls the agent once the pipe buffer is full, exactly as with real ngrok.
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    parts = [f"t={stamp}", f"lvl={lvl}", f"msg={_logfmt_value(msg)}"]
    parts += [f"{key}={_logfmt_value(value)}" for key, value in fields.items()]
    sys.stdout.write(" ".join(parts) + "\n")
    sys.stdout.flush()


# --- endpoints and their forwarders ---------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    upstream: str
    public_url: str = ""
    id: str = field(default_factory=lambda: "ep_" + secrets.token_hex(12))
    requests: int = 0
    runner: web.AppRunner | None = None

    def as_v3(self, region: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "uri": f"/api/endpoints/{quote(self.name, safe='')}",
            "url": self.public_url,
            "public_url": self.public_url,
            "proto": "http",
            "region": region,
            "upstream": {"url": self.upstream, "protocol": "http1"},
            "metrics": {"conns": {"count": self.requests}, "http": {"count": self.requests}},
            "simulated": True,
        }

    def as_v2(self, region: str) -> dict[str, Any]:
        return {
            "ID": self.id,
            "name": self.name,
            "uri": f"/api/tunnels/{quote(self.name, safe='')}",
            "public_url": self.public_url,
            "proto": "http",
            "region": region,
            "config": {"addr": self.upstream, "inspect": False},
            "metrics": {"conns": {"count": self.requests}, "http": {"count": self.requests}},
            "simulated": True,
        }


def _normalize_upstream(raw: str) -> str:
    raw = raw.strip()
    if raw.isdigit():
        return f"http://localhost:{raw}"
    if "://" not in raw:
        return f"http://{raw}"
    return raw


_ERR_334 = (
    "The endpoint '{url}' is already online. Either\n"
    "1. stop your existing endpoint first, or\n"
    "2. start both endpoints with `--pooling-enabled` to load balance between them.\r\n\r\n"
    "ERR_NGROK_334\r\n"
)
# ngrok's refusals of a domain the free plan may not use (texts as its agent reports them).
_ACCOUNT = "sandbox account (simulated)"
_ERR_313 = (
    "Custom subdomains are a feature on ngrok's paid plans.\n"
    "Failed to bind the custom subdomain '{domain}' for the account '{account}'.\n"
    "This account is on the 'Free' plan.\n"
    "Upgrade to a paid plan at: https://dashboard.ngrok.com/billing/subscription\r\n\r\n"
    "ERR_NGROK_313\r\n"
)
_ERR_314 = (
    "Only paid plans may create endpoints with custom hostnames.\n"
    "Failed to create an endpoint with the custom hostname '{domain}' for the account '{account}'.\n"
    "This account is on the 'Free' plan.\n\n"
    "Upgrade to a paid plan at: https://dashboard.ngrok.com/billing/choose-a-plan\r\n\r\n"
    "ERR_NGROK_314\r\n"
)
_ERR_320 = (
    "This domain is reserved for another account.\n"
    "Failed to create an endpoint with the domain '{domain}' for the account '{account}'.\n\n"
    "If you have reserved this name, make sure that you are using an\n"
    "authtoken credential for the appropriate account.\n\n"
    "Reserve a name on your dashboard: https://dashboard.ngrok.com/domains/new\r\n\r\n"
    "ERR_NGROK_320\r\n"
)
_NGROK_BASES = (".ngrok-free.app", ".ngrok-free.dev", ".ngrok.app", ".ngrok.dev", ".ngrok.io")
_DEV_PORTS = (20000, 32000)  # below the OS's ephemeral ports, which servers on port 0 get


def dev_domain_for(token: str, config_paths: list[str]) -> str:
    """The static dev domain of the "account" this token stands for: `127.0.0.1:<port>`."""
    seed = "\0".join(["sandbox-dev-domain", token, *config_paths]).encode()
    low, high = _DEV_PORTS
    return f"127.0.0.1:{low + int.from_bytes(hashlib.sha256(seed).digest()[:4], 'big') % (high - low)}"


def _domain_of(text: str) -> str:
    return urlsplit(text if "://" in text else f"https://{text}").netloc.lower()


def _asked_domain(data: dict[str, Any]) -> str | None:
    """The domain an endpoint request asks for: v3 `url`, v2 `domain` / legacy `hostname`,
    or a `subdomain` (of an ngrok base domain)."""
    for key in ("url", "domain", "hostname"):
        value = data.get(key)
        if isinstance(value, str) and value.strip() and value.strip().lower() not in ("http://", "https://"):
            return _domain_of(value.strip())
    sub = data.get("subdomain")
    return f"{sub}.ngrok-free.app".lower() if isinstance(sub, str) and sub.strip() else None


def _refusal(domain: str) -> web.Response:
    host = domain.rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost"):  # another token's dev domain
        template = _ERR_320
    elif host.endswith(_NGROK_BASES):
        template = _ERR_313
    else:
        template = _ERR_314
    return _api_error(502, "failed to start tunnel", template.format(domain=domain, account=_ACCOUNT))


def _api_error(status: int, msg: str, err: str) -> web.Response:
    return web.json_response(
        {"error_code": 100 + status % 100, "status_code": status, "msg": msg, "details": {"err": err}},
        status=status,
    )


class Agent:
    """The agent's local API plus one forwarder per endpoint."""

    def __init__(self, region: str, dev_domain: str) -> None:
        self.region = region
        self.dev_domain = dev_domain  # `127.0.0.1:<port>`: this token's one static domain
        self.endpoints: dict[str, Endpoint] = {}
        self._session: aiohttp.ClientSession | None = None

    def api_app(self) -> web.Application:
        app = web.Application()
        for segment, v2 in (("endpoints", False), ("tunnels", True)):
            app.router.add_get(f"/api/{segment}", self._make_list(v2))
            app.router.add_post(f"/api/{segment}", self._make_create(v2))
            app.router.add_get(f"/api/{segment}/{{name}}", self._make_get(v2))
            app.router.add_delete(f"/api/{segment}/{{name}}", self._delete)
        return app

    def _view(self, endpoint: Endpoint, v2: bool) -> dict[str, Any]:
        return endpoint.as_v2(self.region) if v2 else endpoint.as_v3(self.region)

    def _make_list(self, v2: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            key = "tunnels" if v2 else "endpoints"
            items = [self._view(ep, v2) for ep in self.endpoints.values()]
            return web.json_response({key: items, "uri": f"/api/{key}"})

        return handler

    def _make_get(self, v2: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            endpoint = self.endpoints.get(request.match_info["name"])
            if endpoint is None:
                return _api_error(404, "endpoint not found", f"no endpoint named {request.match_info['name']!r}")
            return web.json_response(self._view(endpoint, v2))

        return handler

    def _make_create(self, v2: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                data = await request.json()
            except ValueError:
                return _api_error(400, "invalid tunnel configuration", "the request body is not JSON")
            if not isinstance(data, dict):
                return _api_error(400, "invalid tunnel configuration", "the request body is not an object")
            name = str(data.get("name") or f"endpoint-{secrets.token_hex(4)}")
            online = _api_error(502, "failed to start tunnel", _ERR_334.format(url=f"http://{self.dev_domain}"))
            if os.environ.get("ACTOR_TRAINER_FAKE_NGROK_FAIL", "").strip().lower() == "endpoint_online":
                # What ngrok answers when another agent already serves the account's (dev) domain.
                return online
            if name in self.endpoints:
                return _api_error(
                    400, "invalid tunnel configuration", f"A tunnel with the name '{name}' already exists."
                )
            upstream = data.get("upstream", {}).get("url") if isinstance(data.get("upstream"), dict) else None
            upstream = upstream or data.get("addr")
            proto = str(data.get("proto") or "http")
            if not upstream:
                return _api_error(400, "invalid tunnel configuration", "no upstream url given")
            if proto not in ("http", "https") or str(upstream).startswith(("tcp://", "tls://")):
                return _api_error(
                    400, "invalid tunnel configuration", "the sandbox agent simulates http endpoints only"
                )
            asked = _asked_domain(data)
            if asked is not None and asked != self.dev_domain:
                return _refusal(asked)
            if any(_domain_of(ep.public_url) == self.dev_domain for ep in self.endpoints.values()):
                return online  # the free plan's one domain is served by another endpoint already
            endpoint = Endpoint(name=name, upstream=_normalize_upstream(str(upstream)))
            try:
                await self._open_forwarder(endpoint, int(self.dev_domain.rsplit(":", 1)[1]))
            except OSError:  # another agent with this token (or another program) holds the address
                return online
            self.endpoints[name] = endpoint
            log_line(
                "info", "started tunnel", obj="tunnels", name=name, addr=endpoint.upstream, url=endpoint.public_url
            )
            return web.json_response(self._view(endpoint, v2), status=201)

        return handler

    async def _delete(self, request: web.Request) -> web.Response:
        endpoint = self.endpoints.pop(request.match_info["name"], None)
        if endpoint is None:
            return _api_error(404, "endpoint not found", f"no endpoint named {request.match_info['name']!r}")
        if endpoint.runner is not None:
            await endpoint.runner.cleanup()
        log_line("info", "stopped tunnel", obj="tunnels", name=endpoint.name)
        return web.Response(status=204)

    async def _open_forwarder(self, endpoint: Endpoint, port: int) -> None:
        app = web.Application(client_max_size=_FORWARD_MAX_BODY)

        async def forward(request: web.Request) -> web.StreamResponse:
            return await self._forward(endpoint, request)

        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError:
            await runner.cleanup()
            raise
        endpoint.runner = runner
        # A loopback address stands in for ngrok's public https://<dev domain> URL.
        endpoint.public_url = f"http://127.0.0.1:{port}"

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                # Forward only what the caller sent, not aiohttp's own defaults.
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            )
        return self._session

    async def _forward(self, endpoint: Endpoint, request: web.Request) -> web.StreamResponse:
        endpoint.requests += 1
        peer = request.remote or "unknown"
        log_line(
            "info",
            "join connections",
            obj="join",
            id=secrets.token_hex(4),
            l=endpoint.upstream.split("://", 1)[-1],
            r=peer,
        )
        body = await request.read()
        headers: CIMultiDict[str] = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        headers["X-Forwarded-For"] = peer
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = "http"  # real ngrok: https
        target = URL(endpoint.upstream.rstrip("/") + request.raw_path, encoded=True)
        session = await self._client()
        try:
            async with session.request(
                request.method, target, headers=headers, data=body or None, allow_redirects=False
            ) as upstream_response:
                payload = await upstream_response.read()
                out: CIMultiDict[str] = CIMultiDict(
                    (k, v) for k, v in upstream_response.headers.items() if k.lower() not in _HOP_BY_HOP
                )
                return web.Response(
                    status=upstream_response.status, reason=upstream_response.reason, body=payload, headers=out
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log_line("warn", "failed to dial upstream", obj="join", addr=endpoint.upstream, err=str(exc))
            text = (
                "Traffic was successfully tunneled to the ngrok agent, but the agent failed to establish "
                f"a connection to the upstream web service at {endpoint.upstream}. ({exc})\n\n"
                "ERR_NGROK_8012\n"
            )
            return web.Response(status=502, text=text, headers={"ngrok-error-code": "ERR_NGROK_8012"})

    async def close(self) -> None:
        for endpoint in list(self.endpoints.values()):
            if endpoint.runner is not None:
                await endpoint.runner.cleanup()
        self.endpoints.clear()
        if self._session is not None:
            await self._session.close()
