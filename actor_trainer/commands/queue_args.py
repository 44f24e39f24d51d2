"""The `queue` command's sub-commands and flags (kept apart so building the parser imports nothing heavy)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def add_queue_commands(queue: argparse.ArgumentParser, handler: Handler) -> None:
    """`queue add|list|run|pause|resume|remove|clear|retry|move`, each run by `handler`."""
    sub = queue.add_subparsers(dest="queue_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        p.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    p = command("add", "queue actors for training (each with its remembered parameters; your flags apply to all)")
    p.add_argument("actors", metavar="ACTOR", nargs="+", help="id (0, 0000) or name; several at once")
    _add_param_flags(p)
    p.add_argument(
        "--auto",
        action="store_true",
        help="auto-adjust each actor's parameters from its image count (your flags are kept)",
    )
    p.add_argument(
        "--defaults", action="store_true", help="start from the default parameters, not each actor's remembered ones"
    )
    p.add_argument("--description", help="a note stored with each version")
    p.add_argument(
        "--force",
        action="store_true",
        help="submit even while the dataset doctor reports a blocking problem (recorded in the version as `forced`)",
    )

    p = command("list", "the queue's entries, in order, with their state")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--all", action="store_true", help="removed entries too")

    p = command(
        "run",
        "submit the queue's entries, at most N at once (without --wait: what may be submitted "
        "now, then return; the sandbox always waits)",
    )
    p.add_argument(
        "--max-concurrent", type=int, metavar="N", help="runs in flight at once (remembered in the queue; default 1)"
    )
    p.add_argument("--wait", action="store_true", help="follow every entry to its end; exit 1 if any failed")

    command("pause", "stop submitting (runs in flight go on)")
    command("resume", "submit again")
    p = command("remove", "remove an entry (or every entry of an actor) that is not in flight")
    p.add_argument("ref", metavar="ENTRY|ACTOR")
    command("clear", "remove every waiting entry")
    p = command("retry", "let failed entries (one, or all) wait again")
    p.add_argument("entry", metavar="ENTRY", nargs="?")
    p = command("move", "move an entry earlier (negative) or later in the queue")
    p.add_argument("entry", metavar="ENTRY")
    p.add_argument("offset", type=int, metavar="OFFSET", help="e.g. -1 (one place earlier) or 2")


def _add_param_flags(p: argparse.ArgumentParser) -> None:
    """The training parameters, as `train` names them (commands/train_args.py PARAM_FLAGS)."""
    flags: list[tuple[str, dict[str, Any]]] = [
        ("--steps", {"type": int, "help": "max_train_steps"}),
        ("--lr", {"type": float, "help": "learning rate"}),
        ("--dim", {"type": int, "help": "network_dim / rank"}),
        ("--alpha", {"type": float, "help": "network_alpha"}),
        ("--trigger", {"help": "trigger / class tokens (default: each actor's name)"}),
        ("--repeats", {"type": int, "help": "num_repeats"}),
        ("--batch-size", {"type": int, "dest": "batch_size"}),
        ("--scheduler", {"help": "lr_scheduler"}),
        ("--warmup", {"type": int, "help": "lr_warmup_steps"}),
        ("--optimizer", {"help": "optimizer_type"}),
        ("--dtype", {"help": "gradient_dtype: fp32, fp16, bf16"}),
    ]
    for flag, options in flags:
        p.add_argument(flag, **options)
