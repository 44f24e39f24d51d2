"""`doctor`: what is wrong with an actor's training pictures and captions (core/dataset_doctor.py).

Exit 1 when anything blocks training, else 0. `--json` prints one document on stdout:
{"actor", "assumed": {"steps", "resolution", "source", …}, "findings": [{"file", "code",
"severity", "message", "fix"}], "dismissed": [...], "summary"}.
"""

from __future__ import annotations

import argparse
from typing import Any

from actor_trainer.commands.common import open_context
from actor_trainer.commands.output import ProgressBar, print_json, say
from actor_trainer.core.dataset_doctor import (
    DatasetBlockedError,
    DismissRefusedError,
    DoctorReport,
    assumed_parameters,
    check_actor,
    dismiss,
    forced_reasons,
    undismiss,
)
from actor_trainer.core.library import Library
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.parameter_memory import ParameterMemory
from actor_trainer.core.settings import config_dir

# The file the desktop app remembers each actor's last parameters in (gui/context.py).
PARAMETER_MEMORY_FILE = "actor_parameters.json"


def report_document(report: DoctorReport, source: str) -> dict[str, Any]:
    p = report.params
    return {
        "actor": {"id": report.actor_id, "name": report.actor_name},
        "assumed": {
            "steps": p.max_train_steps,
            "resolution": p.resolution,
            "source": source,
            "batch_size": p.batch_size,
            "trigger": p.trigger or report.actor_name,
        },
        "findings": [f.to_json() for f in report.findings],
        "dismissed": [f.to_json() for f in report.dismissed],
        "summary": report.summary(),
    }


def print_report(report: DoctorReport, source: str) -> None:
    p = report.params
    say(f"{report.actor_name}: checked against {p.max_train_steps} steps at {p.resolution} px ({source} parameters).")
    for f in report.findings:
        label = "BLOCKS " if f.blocking else "warning"
        say(f"  {label} {f.file or '(whole set)'} [{f.code}]")
        say(f"          {f.message}")
    say(report.summary_text() + ".")
    if report.has_blocking:
        say("Training is refused until the blocking problems are fixed (or `train --force`).")


def _split(item: str) -> tuple[str, str]:
    file, sep, code = item.rpartition(":")
    if not sep or not file or not code:
        raise DismissRefusedError(f"{item!r} is not FILE:CODE.", "For example: --dismiss photo_03.png:too_small")
    return file, code


def cmd_doctor(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    library = ctx.library
    actor = library.get_actor(args.actor)
    remembered = ParameterMemory(config_dir() / PARAMETER_MEMORY_FILE).load(actor.id)
    params, source = assumed_parameters(remembered, steps=args.steps, resolution=args.resolution)

    bar = ProgressBar("checking", 0, unit=" pictures") if not args.json else None

    def progress(done: int, total: int, name: str) -> None:
        if bar is not None and bar.tty:
            bar.update(done, total, name)

    report = check_actor(library, actor, params, progress=progress)
    if bar is not None:
        bar.close()

    if args.dismiss or args.undismiss:
        for item in args.undismiss:
            file, code = _split(item)
            if not undismiss(library, actor.id, file, code):
                say(f"{file}: no dismissed {code} warning to show again.")
        for item in args.dismiss:
            file, code = _split(item)
            match = next((f for f in report.findings if f.file == file and f.code == code), None)
            if match is None:
                raise DismissRefusedError(
                    f"{report.actor_name} has no standing {code} finding about {file}.",
                    f"`actor-trainer doctor {actor.id}` lists the findings.",
                )
            dismiss(library, actor.id, match)
        actor = library.get_actor(actor.id)
        report = check_actor(library, actor, params)

    if args.json:
        print_json(report_document(report, source))
    else:
        print_report(report, source)
    return 1 if report.has_blocking else 0


def check_before_training(
    library: Library, actor: Actor, params: TrainingParameters, *, force: bool, dry_run: bool
) -> list[dict[str, Any]]:
    """The doctor's verdict before `train` submits: raises DatasetBlockedError while a blocking
    finding stands (unless `force`); returns the reasons `--force` overrode (to record in the
    version). A dry run sends nothing, so it only reports."""
    report = check_actor(library, actor, params)
    if report.warnings:
        say(
            f"doctor: {len(report.warnings)} warning(s) about {actor.name}'s training data "
            f"(`actor-trainer doctor {actor.id}` explains them)."
        )
    if not report.has_blocking:
        return []
    if dry_run:
        for f in report.blocking:
            say(f"doctor: would block a real run — {f.message}")
        return []
    if not force:
        raise DatasetBlockedError(report)
    for f in report.blocking:
        say(f"doctor: --force: starting despite — {f.message}")
    return forced_reasons(report)
