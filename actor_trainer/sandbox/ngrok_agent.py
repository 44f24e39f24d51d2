"""A stand-in for the ngrok agent executable, speaking enough of it for pyngrok 9.x. Simulated.

It is what the app's sandbox mode runs (labelled "sandbox tunnel (simulated)") and what the tests
drive, so the real pyngrok code path is exercised without the internet:

- `ngrok --version` / `ngrok version`         -> `ngrok version 3.30.0-sandbox` (the first agent with
      `/api/endpoints`; `ACTOR_TRAINER_FAKE_NGROK_VERSION` makes it claim another, e.g. an old one)
- `ngrok config add-authtoken T [--config P]` -> writes `agent.authtoken` to P, prints `Authtoken saved`
- `ngrok start --none --log stdout [--config P] [--authtoken T] [--region R]`
      starts the agent's local HTTP API on 127.0.0.1:<free port> FIRST, then prints the logfmt lines
      pyngrok waits for (pyngrok blocks forever if the API is not up when the last one arrives).
- `ngrok update`                              -> `No update available`

The API implements what pyngrok calls: `GET/POST /api/endpoints`, `GET/DELETE /api/endpoints/{name}`
and the v2 `/api/tunnels` equivalents. Every endpoint is a REAL local forwarder: its "public URL" is
`http://127.0.0.1:<port>`, the token's dev domain (real ngrok gives an https URL on an ngrok domain),
and every request to it (method, path, query, headers, body) is proxied to the upstream
`http://localhost:<port>` and the upstream's answer returned, so tests exercise the full path
through the "tunnel".

Failure simulation: `ACTOR_TRAINER_FAKE_NGROK_FAIL` = `authtoken` (ERR_NGROK_4018), `invalid_authtoken`
(ERR_NGROK_107, which — like real ngrok — echoes the token) or `session_limit` (ERR_NGROK_108) makes
`start` print ngrok's real startup error lines and exit 1; `endpoint_online` makes creating an endpoint
answer as ngrok does when the account's domain is served by another agent (502, ERR_NGROK_334).
Each token has one stable dev domain (`ngrok_agent_api.dev_domain_for`); asking for another domain
is refused with ngrok's own ERR_NGROK_313 / 314 / 320.
Starting without any authtoken (no
`--authtoken`, no `NGROK_AUTHTOKEN`, none in the config) fails with ERR_NGROK_4018, as real ngrok does.

Use `write_agent_launcher(directory)` to get an executable `ngrok` that runs this module.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from actor_trainer.sandbox.ngrok_agent_api import Agent, dev_domain_for, log_line

FAIL_ENV = "ACTOR_TRAINER_FAKE_NGROK_FAIL"
AGENT_VERSION = "3.30.0-sandbox"
VERSION_ENV = "ACTOR_TRAINER_FAKE_NGROK_VERSION"
SIMULATED_LABEL = "sandbox tunnel (simulated)"

# ngrok's own error texts (as its agent prints them in `err="..."`), so error mapping is tested
# against what users really see.
_ERR_4018 = (
    "authentication failed: Usage of ngrok requires a verified account and authtoken.\n\n"
    "Sign up for an account: https://dashboard.ngrok.com/signup\n"
    "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\n"
    "ERR_NGROK_4018\r\n"
)
_ERR_107 = (
    "authentication failed: The authtoken you specified is properly formed, but it is invalid.\n"
    "Your authtoken: {token}\n"
    "This usually happens when:\n"
    "    - You reset your authtoken\n"
    "    - Your authtoken was for a team account that you were removed from\n"
    "    - You are using ngrok link and this credential was explicitly revoked\n"
    "Go to your ngrok dashboard and double check that your authtoken is correct:\n"
    "https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\n"
    "ERR_NGROK_107\r\n"
)
_ERR_108 = (
    "authentication failed: Your account is limited to 1 simultaneous ngrok agent sessions.\n"
    "Run multiple endpoints at the same time from a single agent by defining them in your agent "
    "configuration file and running `ngrok start --all`.\n"
    "Read more about the agent configuration file: https://ngrok.com/docs/agent/config/\n"
    "You can view your current agent sessions in the dashboard: https://dashboard.ngrok.com/agents\r\n\r\n"
    "ERR_NGROK_108\r\n"
)
STARTUP_FAILURES = {"authtoken": _ERR_4018, "invalid_authtoken": _ERR_107, "session_limit": _ERR_108}

# --- configuration --------------------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def _token_from_configs(paths: list[Path]) -> str | None:
    token: str | None = None
    for path in paths:  # later files override earlier ones, as with ngrok's repeated --config
        config = _read_config(path)
        agent = config.get("agent")
        # The v3 layout (agent.authtoken), then v2's top-level authtoken.
        found = (agent.get("authtoken") if isinstance(agent, dict) else None) or config.get("authtoken")
        if found:
            token = str(found)
    return token


def add_authtoken(token: str, config_path: Path | None) -> int:
    if config_path is None:
        # The stand-in never writes the user's real ~/.config/ngrok; nothing to remember then.
        print("Authtoken saved to configuration file: (none given; the sandbox agent keeps no default)")
        return 0
    config = _read_config(config_path)
    config.setdefault("version", "3")
    agent = config.get("agent")
    if not isinstance(agent, dict):
        agent = {}
        config["agent"] = agent
    agent["authtoken"] = token
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    print(f"Authtoken saved to configuration file: {config_path}")
    return 0


# --- `ngrok start` --------------------------------------------------------------------------------


async def run_agent(configs: list[Path], authtoken: str | None, region: str | None) -> int:
    """Serve the API, announce start-up like ngrok does, and run until killed (or SIGTERM/SIGINT)."""
    for path in configs:
        try:
            _read_config(path)
        except (OSError, yaml.YAMLError) as exc:
            log_line("crit", "command failed", err=f"failed to read agent configuration {path}: {exc}")
            return 1
    token = authtoken or os.environ.get("NGROK_AUTHTOKEN") or _token_from_configs(configs)
    agent = Agent(region or "us", dev_domain_for(token or "", [str(path) for path in configs]))
    runner = web.AppRunner(agent.api_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # the API is listening before we say so
    port = runner.addresses[0][1]
    try:
        if not configs:
            log_line("info", "no configuration paths supplied")
        for path in configs:
            log_line("info", "open config file", path=str(path), err="nil")
        log_line("info", "starting web service", obj="web", addr=f"127.0.0.1:{port}", allow_hosts="[]")
        failure = os.environ.get(FAIL_ENV, "").strip().lower() or None
        if failure == "endpoint_online":  # a fault of the API (creating an endpoint), not of start-up
            failure = None
        failure = failure or (None if token else "authtoken")
        if failure:
            template = STARTUP_FAILURES.get(failure, _ERR_4018)
            err = template.format(token=token or "")
            log_line("eror", "failed to reconnect session", obj="tunnels.session", err=err)
            log_line("eror", "session closing", obj="tunnels.session", err=err)
            log_line("eror", "terminating with error", obj="app", err=err)
            log_line("crit", "command failed", err=err)
            return 1
        log_line("info", "tunnel session started", obj="tunnels.session", region=agent.region, simulated="true")
        log_line("info", "client session established", obj="csess", id=secrets.token_hex(8))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows
                pass
        orphan_watch = loop.create_task(_stop_when_orphaned(stop), name="orphan-watch")
        await stop.wait()
        orphan_watch.cancel()
        return 0
    finally:
        await agent.close()
        await runner.cleanup()


async def _stop_when_orphaned(stop: asyncio.Event, interval_s: float = 1.0) -> None:
    """Unlike real ngrok, exit when the process that started us is gone (a crashed test run must
    not leave simulated agents behind)."""
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(interval_s)
        if os.getppid() != parent:
            stop.set()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ngrok", description=f"ngrok agent stand-in ({SIMULATED_LABEL})")
    parser.add_argument("--version", "-v", action="store_true")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version")
    sub.add_parser("update")
    config = sub.add_parser("config")
    config_sub = config.add_subparsers(dest="config_command")
    add = config_sub.add_parser("add-authtoken")
    add.add_argument("token")
    for p in (add,):
        p.add_argument("--config", action="append", type=Path, default=[])
        p.add_argument("--log", default="false")
    start = sub.add_parser("start")
    start.add_argument("names", nargs="*")
    start.add_argument("--none", action="store_true")
    start.add_argument("--all", action="store_true")
    start.add_argument("--log", default="false")
    start.add_argument("--log-format", default="logfmt")
    start.add_argument("--log-level", default="info")
    start.add_argument("--config", action="append", type=Path, default=[])
    start.add_argument("--authtoken")
    start.add_argument("--region")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version or args.command == "version":
        print(f"ngrok version {os.environ.get(VERSION_ENV) or AGENT_VERSION}")
        return 0
    if args.command == "update":
        print("No update available, this is the latest version (sandbox).")
        return 0
    if args.command == "config" and args.config_command == "add-authtoken":
        return add_authtoken(args.token, args.config[-1] if args.config else None)
    if args.command == "start":
        if args.names or args.all:
            print("ERROR:  the sandbox agent only supports `ngrok start --none`", file=sys.stderr)
            return 1
        return asyncio.run(run_agent(list(args.config), args.authtoken, args.region))
    print(
        "ERROR:  unknown command (the sandbox agent supports version, config add-authtoken, start --none)",
        file=sys.stderr,
    )
    return 1


#: `actor-trainer --ngrok-agent …` runs this agent (how a frozen build's launcher calls it).
FROZEN_AGENT_FLAG = "--ngrok-agent"


def write_agent_launcher(directory: Path) -> Path:
    """Write an executable `ngrok` in `directory` that runs this stand-in agent; return its path.

    The launcher runs the current interpreter (`sys.executable`) on this module, with the folder
    holding the `actor_trainer` package on PYTHONPATH so it works from any working directory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    package_root = Path(__file__).resolve().parents[2]
    # A frozen build (PyInstaller) has no `-m`: its own executable runs the agent instead.
    run_agent = (
        f"{shlex.quote(sys.executable)} {FROZEN_AGENT_FLAG}"
        if getattr(sys, "frozen", False)
        else f"{shlex.quote(sys.executable)} -m actor_trainer.sandbox.ngrok_agent"
    )
    if os.name == "nt":  # untested: Windows runs a .cmd through cmd.exe
        path = directory / "ngrok.cmd"
        path.write_text(
            f'@set "PYTHONPATH={package_root};%PYTHONPATH%"\r\n'
            f'@"{sys.executable}" -m actor_trainer.sandbox.ngrok_agent %*\r\n',
            encoding="utf-8",
        )
        return path
    path = directory / "ngrok"
    path.write_text(
        "#!/bin/sh\n"
        f"# ngrok agent stand-in: {SIMULATED_LABEL}. Written by actor_trainer.sandbox.ngrok_agent.\n"
        f'PYTHONPATH={shlex.quote(str(package_root))}"${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        "export PYTHONPATH\n"
        f'exec {run_agent} "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
