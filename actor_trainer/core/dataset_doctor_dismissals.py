"""Dismissed dataset-doctor warnings (on the actor's record) and what `--force` overrode (in the version).

Split from core/dataset_doctor.py, which re-exports everything here.
"""

from __future__ import annotations

from typing import Any

from actor_trainer.core.dataset_doctor_report import DISMISSED_FIELD, DoctorReport, Finding
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.library import Library
from actor_trainer.core.models import Actor, utc_now
from actor_trainer.core.preflight import TrainingValidationError


class DismissRefusedError(ActorTrainerError):
    pass


def dismissal_keys(actor: Actor) -> set[tuple[str, str, str | None]]:
    raw = (actor.model_extra or {}).get(DISMISSED_FIELD)
    keys: set[tuple[str, str, str | None]] = set()
    if not isinstance(raw, list):
        return keys
    for entry in raw:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("code"), str):
            sha = entry.get("sha256")
            keys.add((entry["file"], entry["code"], sha if isinstance(sha, str) else None))
    return keys


def is_dismissed(finding: Finding, keys: set[tuple[str, str, str | None]]) -> bool:
    if not finding.dismissable or finding.file is None:
        return False
    return (finding.file, finding.code, finding.sha256) in keys or (finding.file, finding.code, None) in keys


def dismiss(library: Library, actor_id: int, finding: Finding) -> Actor:
    """Remember that the user accepts this warning about this file (as it is now)."""
    if not finding.dismissable or finding.file is None:
        raise DismissRefusedError(
            f"{finding.code} cannot be dismissed: "
            + ("it blocks training." if finding.blocking else "it is about the whole set, not one file."),
            "Fix it instead; a blocking problem can only be overridden for one run (--force).",
        )
    entry = {"file": finding.file, "code": finding.code, "sha256": finding.sha256, "at": utc_now().isoformat()}

    def change(actor: Actor) -> None:
        current = [
            e for e in _raw_dismissals(actor) if not (e.get("file") == finding.file and e.get("code") == finding.code)
        ]
        setattr(actor, DISMISSED_FIELD, [*current, entry])

    saved, _ = library.update_actor(actor_id, change)
    return saved


def undismiss(library: Library, actor_id: int, file: str, code: str) -> bool:
    """Forget a dismissal; True when there was one."""

    def change(actor: Actor) -> bool:
        current = _raw_dismissals(actor)
        kept = [e for e in current if not (e.get("file") == file and e.get("code") == code)]
        if len(kept) == len(current):
            return False
        setattr(actor, DISMISSED_FIELD, kept)
        return True

    _, removed = library.update_actor(actor_id, change)
    return removed


def _raw_dismissals(actor: Actor) -> list[dict[str, Any]]:
    raw = (actor.model_extra or {}).get(DISMISSED_FIELD)
    return [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []


# --- before a run -------------------------------------------------------------------------------


class DatasetBlockedError(TrainingValidationError):
    """The doctor found problems that make the run fail or train on garbage; nothing was sent."""

    code = "dataset_blocked"

    def __init__(self, report: DoctorReport) -> None:
        lines = "; ".join(f"{f.file or 'the set'}: {f.code}" for f in report.blocking)
        super().__init__(
            f"{report.actor_name}'s training data has {len(report.blocking)} problem(s) that block training ({lines}).",
            f"See `actor-trainer doctor {report.actor_id}` for what each one means and how to fix it; "
            "--force starts anyway (recorded in the version).",
        )
        self.report = report


#: The version field that records what a run was started despite (`--force`), one dict per reason.
FORCED_FIELD = "forced"


def forced_reasons(report: DoctorReport) -> list[dict[str, Any]]:
    """What `--force` overrode, as recorded in the version."""
    return [{"check": "dataset_doctor", "code": f.code, "file": f.file, "message": f.message} for f in report.blocking]


def record_forced(library: Library, actor_id: int, version_ref: str, reasons: list[dict[str, Any]]) -> None:
    """Append `reasons` to the version's `forced` list (other checks may have added theirs)."""
    if not reasons:
        return

    def change(version: Any) -> None:
        existing = (version.model_extra or {}).get(FORCED_FIELD)
        current = list(existing) if isinstance(existing, list) else []
        setattr(version, FORCED_FIELD, [*current, *(r for r in reasons if r not in current)])

    library.update_version(actor_id, version_ref, change)
