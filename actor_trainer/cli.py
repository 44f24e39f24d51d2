"""`actor-trainer`: the GUI with no command, headless commands otherwise (README, "Headless use").

Exit codes: 0 success, 1 a failure the user must act on, 2 bad usage. JSON goes to stdout,
everything human to stderr. Headless commands never import Qt.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from actor_trainer import APP_NAME, __version__
from actor_trainer.core.errors import ActorTrainerError

Handler = Callable[[argparse.Namespace], int]


def _lazy(module: str, name: str) -> Handler:
    """Import a command's module only when it runs (start-up stays fast, Qt stays out)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        handler: Handler = getattr(importlib.import_module(module), name)
        return handler(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actor-trainer",
        description=f"{APP_NAME}: train, track and validate LoRA models of actors. "
        "With no command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"actor-trainer {__version__}")
    parser.add_argument("--data-dir", metavar="DIR", help="the library folder to open")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        p.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    p = command(
        "actors",
        "list the actors: images (local/remote), sync state, validated version",
        _lazy("actor_trainer.commands.library_cmds", "cmd_actors"),
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--search", metavar="TEXT", help="only actors whose name, id or description contains TEXT")
    p.add_argument("--local", action="store_true", help="skip the bucket listing (remote state shows as unknown)")

    p = command(
        "versions",
        "the actor's training versions, newest first",
        _lazy("actor_trainer.commands.library_cmds", "cmd_versions"),
    )
    p.add_argument("actor", metavar="ACTOR", help="id (0, 0000) or name")
    p.add_argument("--json", action="store_true")

    p = command(
        "mark-good",
        "record a completed version as the actor's validated model (idempotent)",
        _lazy("actor_trainer.commands.library_cmds", "cmd_mark_good"),
    )
    p.add_argument("actor", metavar="ACTOR")
    p.add_argument(
        "version_id", metavar="VERSION_ID", help="the version's job id (or its name, e.g. V2; a checkpoint: V2@1500)"
    )
    p.add_argument(
        "--unmark",
        action="store_true",
        help="take the good mark off this version instead (the actor then has no validated model)",
    )

    # --- issue 12: what a version draws (commands/samples_cmds.py) ---
    p = command(
        "samples",
        "list (or download) a version's samples, checkpoints and tries",
        _lazy("actor_trainer.commands.samples_cmds", "cmd_samples"),
    )
    p.add_argument("actor", metavar="ACTOR")
    p.add_argument("version", metavar="VERSION", help="job id, request id or name (V2); a checkpoint: V2@1500")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--out", metavar="DIR", help="download the images into DIR")

    p = command(
        "try",
        "generate images with a version's LoRA (a 'generate' job on the endpoint)",
        _lazy("actor_trainer.commands.samples_cmds", "cmd_try"),
    )
    p.add_argument("actor", metavar="ACTOR")
    p.add_argument("version", metavar="VERSION", help="job id, request id or name (V2); a checkpoint: V2@1500")
    p.add_argument("--prompt", required=True, help="what to draw; {trigger} is replaced by the trigger word")
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--seed", type=int, help="default: a random one (printed)")
    p.add_argument("--count", type=int, default=1, help="images (1-8, default 1)")
    p.add_argument("--strength", type=float, default=1.0, help="LoRA strength (default 1.0)")
    p.add_argument("--wait", action="store_true", help="wait for the images")
    p.add_argument("--out", metavar="DIR", help="download the images into DIR (implies --wait)")
    p.add_argument("--json", action="store_true", help="the finished try as JSON on stdout")
    p.add_argument("--dry-run", action="store_true", help="print the exact /run body; send and write nothing")

    p = command(
        "compare",
        "write a contact sheet of versions' samples: rows = versions, columns = prompts",
        _lazy("actor_trainer.commands.samples_cmds", "cmd_compare"),
    )
    p.add_argument("actor", metavar="ACTOR")
    p.add_argument(
        "versions", metavar="VERSION", nargs="+", help="two or more (repeats allowed); V2@1500 for a checkpoint"
    )
    p.add_argument("--out", metavar="FILE", required=True, help="the PNG to write")
    p.add_argument("--json", action="store_true", help="describe the sheet as JSON on stdout")

    p = command(
        "sync",
        "upload the actor's training data to the bucket (only what is missing or changed)",
        _lazy("actor_trainer.commands.sync_cmd", "cmd_sync"),
    )
    p.add_argument("actor", metavar="ACTOR", nargs="?")
    p.add_argument("--all", action="store_true", help="every actor")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded; upload nothing")
    p.add_argument("--json", action="store_true", help="a JSON report on stdout")

    from actor_trainer.commands.train_args import add_train_arguments

    p = command("train", "validate and submit a training run", _lazy("actor_trainer.commands.run_cmds", "cmd_train"))
    add_train_arguments(p)

    p = command(
        "status",
        "ask RunPod now about an actor's runs in flight (or a job) and apply the answer",
        _lazy("actor_trainer.commands.run_cmds", "cmd_status"),
    )
    p.add_argument("target", metavar="ACTOR|JOB_ID")
    p.add_argument("--json", action="store_true")

    p = command(
        "cancel", "cancel a run at RunPod (a real /cancel)", _lazy("actor_trainer.commands.run_cmds", "cmd_cancel")
    )
    p.add_argument("job_id", metavar="JOB_ID")

    p = command(
        "retry",
        "retry a failed run (/retry while RunPod has it, else a new version)",
        _lazy("actor_trainer.commands.run_cmds", "cmd_retry"),
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--wait", action="store_true")

    p = command(
        "reconcile",
        "bring every version in flight up to date",
        _lazy("actor_trainer.commands.run_cmds", "cmd_reconcile"),
    )
    p.add_argument("--json", action="store_true")

    p = command(
        "doctor",
        "check the actor's training pictures and captions before paying for a run "
        "(exit 1 when something blocks training)",
        _lazy("actor_trainer.commands.doctor_cmd", "cmd_doctor"),
    )
    p.add_argument("actor", metavar="ACTOR", help="id (0, 0000) or name")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--steps", type=int, help="check against these steps (default: the actor's remembered ones)")
    p.add_argument("--resolution", type=int, help="training resolution in px (default: the remembered one)")
    p.add_argument(
        "--dismiss",
        metavar="FILE:CODE",
        action="append",
        default=[],
        help="accept a warning about one file (remembered in the library); repeatable",
    )
    p.add_argument(
        "--undismiss",
        metavar="FILE:CODE",
        action="append",
        default=[],
        help="show a dismissed warning again; repeatable",
    )

    from actor_trainer.commands.queue_args import add_queue_commands

    p = command(
        "queue",
        "train many actors one after another: add, list, run, pause, resume, remove, clear",
        _lazy("actor_trainer.commands.queue_cmds", "cmd_queue"),
    )
    add_queue_commands(p, _lazy("actor_trainer.commands.queue_cmds", "cmd_queue"))

    p = command(
        "sandbox",
        "run the local RunPod-compatible endpoint alone",
        _lazy("actor_trainer.commands.remote_cmds", "cmd_sandbox"),
    )
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1")

    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from actor_trainer.commands.output import TerminalFilter
    from actor_trainer.core.redact import RedactingFilter

    for handler in logging.getLogger().handlers:  # no secret in any line (core/redact.py),
        handler.addFilter(RedactingFilter())  # and no control character a server or a file name put there
        handler.addFilter(TerminalFilter())
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore", "pyngrok"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--ngrok-agent"]:  # the sandbox's stand-in agent, in a frozen build
        from actor_trainer.sandbox.ngrok_agent import main as agent_main

        return agent_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        from actor_trainer.app import run_gui

        return run_gui(args)
    _configure_logging(args.verbose)
    from actor_trainer.commands.output import report_error

    try:
        result: int = args.handler(args)
        return result
    except ActorTrainerError as exc:
        report_error(exc)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `actor-trainer actors --json | head -1`: the reader has gone, stop quietly
        _quiet_stdout()
        return 141  # what a shell reports for SIGPIPE (128 + 13)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not raise again (Python docs,
    "Note on SIGPIPE")."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
