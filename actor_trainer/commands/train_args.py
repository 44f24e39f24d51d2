"""The `train` command's flags (kept apart so building the parser imports nothing heavy)."""

from __future__ import annotations

import argparse

# CLI flag → TrainingParameters field (what the user typed is never changed by --auto).
PARAM_FLAGS = {
    "steps": "max_train_steps",
    "lr": "learning_rate",
    "dim": "network_dim",
    "alpha": "network_alpha",
    "trigger": "trigger",
    "repeats": "num_repeats",
    "batch_size": "batch_size",
    "scheduler": "lr_scheduler",
    "warmup": "lr_warmup_steps",
    "optimizer": "optimizer_type",
    "dtype": "gradient_dtype",
}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("actor", metavar="ACTOR")
    p.add_argument("--steps", type=int, help="max_train_steps (default 2000)")
    p.add_argument("--lr", type=float, help="learning rate (default 0.0004)")
    p.add_argument("--dim", type=int, help="network_dim / rank (default 8)")
    p.add_argument("--alpha", type=float, help="network_alpha (default 1)")
    p.add_argument("--trigger", help="trigger / class tokens (default: the actor's name)")
    p.add_argument("--repeats", type=int, help="num_repeats")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument(
        "--scheduler", help="lr_scheduler: constant, cosine, cosine_with_restarts, polynomial, constant_with_warmup"
    )
    p.add_argument("--warmup", type=int, help="lr_warmup_steps")
    p.add_argument("--optimizer", help="optimizer_type (e.g. adamw8bit)")
    p.add_argument("--dtype", help="gradient_dtype: fp32, fp16, bf16")
    p.add_argument("--auto", action="store_true", help="auto-adjust from the image count (your flags are kept)")
    p.add_argument("--description", help="a note stored with the version")
    p.add_argument("--dry-run", action="store_true", help="print the /run request body (JSON) and send nothing")
    p.add_argument(
        "--wait",
        action="store_true",
        help="serve the webhook, poll, show progress; exit 0 only when the version completed",
    )
    p.add_argument("--allow-concurrent", action="store_true", help="start even if the actor has a run in flight")
    p.add_argument(
        "--force",
        action="store_true",
        help="start even though a check says the run would fail, "
        "train on garbage (the dataset doctor's blocking findings) or cost more than usual (a value "
        "outside the realistic range: rank 1-128, alpha <= rank, learning rate 1e-5 to 1e-3, steps "
        "by image count); the reasons are recorded in the version as `forced`",
    )
