"""Checks made before a training run costs money: the original web app's "Validation Errors" tree, typed.

Each failure is its own error class, so the GUI can show the reason under a disabled Start button
and the CLI can print it with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.library import TrainingDataScan, outside_message
from actor_trainer.core.models import Actor, TrainingParameters, TrainingVersion
from actor_trainer.core.storage.base import FileSyncState, SyncStatus


class TrainingValidationError(ActorTrainerError):
    """A run cannot start; nothing was written and nothing was sent."""

    code = "invalid"


class NoTrainingDataError(TrainingValidationError):
    code = "no_training_data"

    def __init__(self, actor: Actor, scan: TrainingDataScan) -> None:
        extra = f" ({len(scan.unsupported)} unsupported file(s) ignored)" if scan.unsupported else ""
        super().__init__(
            f"{actor.name} has no training images{extra}.",
            f"Add PNG, JPEG or WebP images to {scan.folder}.",
        )


class DataOutsideLibraryError(TrainingValidationError):
    """Training data that links out of the library: refused by preflight and by sync, never uploaded."""

    code = "outside_library"

    def __init__(self, scan: TrainingDataScan) -> None:
        super().__init__(*outside_message(scan))
        self.paths = scan.outside


class DataNotSyncedError(TrainingValidationError):
    code = "not_synced"

    def __init__(self, actor: Actor, status: SyncStatus) -> None:
        pending = status.count(FileSyncState.LOCAL_ONLY) + status.count(FileSyncState.CHANGED)
        super().__init__(
            f"{actor.name}: {pending} training file(s) are not in the bucket yet (or changed since the last sync).",
            f"Sync the training data first (Sync now, or `actor-trainer sync {actor.id}`).",
        )
        self.pending = pending


class WebhookNotReadyError(TrainingValidationError):
    code = "webhook_unreachable"


class RunInFlightError(TrainingValidationError):
    code = "run_in_flight"

    def __init__(self, actor: Actor, version: TrainingVersion | None) -> None:
        if version is None:
            message = f"A training request for {actor.name} is being sent right now."
        else:
            message = f"{actor.name} already has a run in flight: {version.name} ({version.status.label})."
        super().__init__(message, "Wait for it to finish, cancel it, or start anyway (--allow-concurrent).")
        self.version = version


class InvalidParametersError(TrainingValidationError):
    code = "invalid_parameters"


@dataclass(frozen=True)
class Preflight:
    """What validation found: everything the submission needs next."""

    actor: Actor
    params: TrainingParameters
    scan: TrainingDataScan
    sync: SyncStatus | None  # None when the sync check was skipped (dry run)
    webhook_base_url: str | None
    warnings: tuple[str, ...]
