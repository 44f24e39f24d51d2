"""Following up trials ("Try this version") that nobody waited for (issue 12).

A trial sent without waiting (`actor-trainer try` without --wait, or an app closed before its Try
ended) is picked up later, the way training runs are: the app follows every unfinished trial again
at start-up (`TrialService.resume`), the CLI's `status` and `reconcile` check them once. Both take
the one road, `TrialService.check`: `/status`, the answer applied forward only, the images recorded
with the version's trial. When RunPod has forgotten the job (results are kept about 30 minutes), the
trial's images are looked for where the app told the worker to put them (their URLs are fixed before
`/run`, as a run's `output_url` is): all there → completed, else → expired.

This module holds what both faces need around that road: which trials need a follow-up, finding a
trial by its id, the image URLs of a trial, the pure rule for a trial found (or not) in the bucket,
and `follow_up`, which checks a list of trials once and fetches the images of finished ones into the
app's image cache (core/image_cache.py), where the app's gallery and Try panel read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.models import Actor, Sample, Trial, VersionError, VersionStatus, can_transition
from actor_trainer.core.request_builder import model_name_for
from actor_trainer.core.sample_keys import trial_image_key

if TYPE_CHECKING:
    from actor_trainer.core.image_cache import ImageCache
    from actor_trainer.core.library import Library
    from actor_trainer.core.storage.base import Storage

#: A 404 from /status this soon after a trial was written means "not registered yet", not "forgotten"
#: (the same grace as training runs: core/orchestrator.py NOT_REGISTERED_GRACE_S).
NOT_REGISTERED_GRACE_S = 120.0


def needs_follow_up(trial: Trial) -> bool:
    """Unfinished, or expired (its images may still turn up in the bucket)."""
    return not trial.status.is_terminal or trial.status is VersionStatus.EXPIRED


def was_sent(trial: Trial) -> bool:
    """Whether `/run` answered: the trial then holds RunPod's job id instead of the request id."""
    return trial.requestId is None or trial.id != trial.requestId


def sent_elsewhere(trial: Trial, endpoint_label: str) -> bool:
    """Whether the trial went to another endpoint than `endpoint_label` (None: files older than the field)."""
    return trial.endpoint is not None and trial.endpoint != endpoint_label


def age_s(trial: Trial, now: datetime | None = None) -> float:
    created = trial.createdAt if trial.createdAt.tzinfo else trial.createdAt.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - created).total_seconds()


def trial_image_urls(storage: Storage, actor: Actor, version_name: str, request_id: str, count: int) -> list[str]:
    """Where the worker writes the trial's images (the app decides every key: core/sample_keys.py)."""
    url_for_key: Callable[[str], str] = storage.url_for_key  # type: ignore[attr-defined]
    prefix: str = getattr(storage, "prefix", "")
    name = model_name_for(actor, version_name)
    return [url_for_key(trial_image_key(prefix, actor.id, name, request_id, i)) for i in range(count)]


def recovered_or_expired(t: Trial, images: list[Sample] | None) -> bool:
    """RunPod no longer knows the trial's job: its images were found in the bucket (`images`) or not
    (None). Forward only; True when the trial changed."""
    if images:
        if not can_transition(t.status, VersionStatus.COMPLETED):
            return False
        t.images, t.status, t.error = images, VersionStatus.COMPLETED, None
        return True
    if t.status is VersionStatus.EXPIRED or not can_transition(t.status, VersionStatus.EXPIRED):
        return False
    t.status = VersionStatus.EXPIRED
    t.error = VersionError(
        message=f"RunPod no longer knows job {t.id} (results are kept about 30 minutes) and its images "
        "are not in the bucket.",
        details={"kind": "expired"},
    )
    return True


# --- which trials ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRef:
    """A trial as the library held it when it was listed."""

    actor_id: int
    actor_name: str
    version_key: str
    version_name: str
    trial: Trial


def _every_trial(library: Library, actors: list[Actor]) -> Iterator[TrialRef]:
    """The trials of `actors`' versions (blocking: reads files). An unreadable versions file is passed
    over (the training commands name it)."""
    for actor in actors:
        try:
            versions = library.load_versions(actor.id)
        except ActorTrainerError:
            continue
        for version in versions:
            for trial in version.trials or []:
                yield TrialRef(actor.id, actor.name, version.key, version.name, trial)


def trials_to_follow(library: Library, actor_id: int | None = None, *, sent_only: bool = False) -> list[TrialRef]:
    """Every trial that needs a follow-up, of one actor or of the whole library (blocking)."""
    actors = [library.get_actor(actor_id)] if actor_id is not None else library.load_actors()
    return [
        ref
        for ref in _every_trial(library, actors)
        if needs_follow_up(ref.trial) and (was_sent(ref.trial) or not sent_only)
    ]


def find_trial(library: Library, ref: str) -> TrialRef | None:
    """The trial whose job id or request id is `ref`, in any actor (blocking), or None."""
    text = ref.strip()
    found = (t for t in _every_trial(library, library.load_actors()) if text in (t.trial.id, t.trial.requestId))
    return next(found, None)


# --- checking once ---------------------------------------------------------------------------------


class _Checks(Protocol):
    async def check(self, actor_id: int, version_ref: str, trial_id: str) -> Trial: ...


@dataclass(frozen=True)
class FollowedTrial:
    """One trial after its follow-up: `problem` when the check failed (then nothing changed), `files`
    each fetched image's (URL, file on this computer: the image cache), `missing` the images that
    could not be fetched and why."""

    ref: TrialRef
    trial: Trial
    problem: str | None = None
    files: tuple[tuple[str, Path], ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.trial.status is not self.ref.trial.status or self.trial.images != self.ref.trial.images


async def follow_up(service: _Checks, refs: list[TrialRef], *, cache: ImageCache | None = None) -> list[FollowedTrial]:
    """Check each trial once through `service.check` (TrialService: the app's road) and fetch the
    images of the completed ones into `cache`. A failed check is only a failed check: the trial is
    reported with the reason, unchanged, and the next follow-up tries again."""
    results: list[FollowedTrial] = []
    for ref in refs:
        try:
            trial = await service.check(ref.actor_id, ref.version_key, ref.trial.id)
        except ActorTrainerError as exc:
            results.append(FollowedTrial(ref, ref.trial, problem=exc.message))
            continue
        files: list[tuple[str, Path]] = []
        missing: list[str] = []
        if cache is not None and trial.status is VersionStatus.COMPLETED:
            for image in trial.images or []:
                try:
                    files.append((image.url, await cache.fetch(image.url)))
                except (ActorTrainerError, OSError) as exc:
                    missing.append(f"{image.url}: {getattr(exc, 'message', None) or exc}")
        results.append(FollowedTrial(ref, trial, files=tuple(files), missing=tuple(missing)))
    return results
