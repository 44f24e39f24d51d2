"""Trials nobody waited for, followed up later (issue 12; core/trial_followup.py): RunPod answers 404
for a job it never had or has forgotten (the sandbox endpoint, real HTTP). Within the not-registered
grace nothing changes; past it the trial's images are looked for in the bucket: all there → completed
with them, else → expired, which a later look can still turn into completed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from actor_trainer.core.models import TrainingVersion, Trial, VersionStatus
from actor_trainer.core.trial_followup import follow_up, trials_to_follow
from tests.integration.e2e_support import FAST_PARAMS, running, wait_terminal


def _add(services, key: str, trial: Trial) -> None:  # type: ignore[no-untyped-def]
    def change(v: TrainingVersion) -> None:
        v.trials = [*(v.trials or []), trial]

    services.library.update_version(0, key, change)


def _stored(services, trial_id: str) -> Trial:  # type: ignore[no-untyped-def]
    version = services.library.load_versions(0)[0]
    return next(t for t in version.trials or [] if t.id == trial_id)


@pytest.mark.asyncio
async def test_forgotten_trials_are_found_in_the_bucket_or_expire(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=0.3) as (services, _rec):
        done = await wait_terminal(services, 0, (await services.require_orchestrator().submit(0, FAST_PARAMS)).id)
        trials = services.trials
        assert trials is not None and done.status is VersionStatus.COMPLETED
        # A real try, whose images are now in the bucket.
        sent = await trials.submit(0, done.name, prompt="{trigger} at the sea", seed=5, count=2, follow=False)
        real = await trials.wait(0, done.name, sent.id, timeout_s=20)
        assert real.status is VersionStatus.COMPLETED and real.requestId

        long_ago = datetime.now(UTC) - timedelta(hours=2)
        # Its job forgotten by RunPod (an id the endpoint never had), an hour after it ran: the bucket has it.
        forgotten = real.model_copy(
            update={"id": "job-forgotten", "status": VersionStatus.IN_PROGRESS, "images": None, "createdAt": long_ago}
        )
        # Another forgotten one whose worker never wrote its images.
        lost_id = uuid.uuid4().hex
        lost = Trial(
            id="job-lost", requestId=lost_id, prompt="x", seed=1, status=VersionStatus.QUEUED, createdAt=long_ago
        )
        # A fresh one RunPod has not registered yet: left alone.
        fresh = Trial(id="job-fresh", requestId=uuid.uuid4().hex, prompt="y", seed=2, status=VersionStatus.QUEUED)
        for trial in (forgotten, lost, fresh):
            _add(services, done.key, trial)

        refs = await asyncio.to_thread(trials_to_follow, services.library, 0)
        assert {r.trial.id for r in refs} == {"job-forgotten", "job-lost", "job-fresh"}  # the finished one is not
        results = {r.trial.id: r for r in await follow_up(trials, refs)}

        found = results["job-forgotten"].trial
        assert found.status is VersionStatus.COMPLETED and found.error is None
        assert [(i.url, i.seed, i.index) for i in found.images or []] == [
            (i.url, i.seed, i.index) for i in real.images or []
        ]
        assert _stored(services, "job-forgotten").images == found.images

        expired = results["job-lost"]
        assert expired.trial.status is VersionStatus.EXPIRED and expired.changed and expired.problem is None
        assert expired.trial.error is not None and "no longer knows job job-lost" in expired.trial.error.message
        assert _stored(services, "job-lost").status is VersionStatus.EXPIRED

        assert results["job-fresh"].trial.status is VersionStatus.QUEUED and not results["job-fresh"].changed

        # The expired trial's images turn up later (a slow upload): the next look completes it.
        for index in range(lost.count):
            source = real.images[0].url  # type: ignore[index]
            data = await services.storage.read_url(source)
            target = source.replace(f"{real.requestId}_00", f"{lost_id}_{index:02d}")
            await services.storage.write_url(target, data)
        again = await trials.check(0, done.key, "job-lost")
        assert again.status is VersionStatus.COMPLETED and again.error is None and len(again.images or []) == 1


@pytest.mark.asyncio
async def test_a_try_sent_to_another_endpoint_is_left_for_that_endpoint(tmp_path: Path) -> None:
    """A try records the endpoint it went to; while another endpoint is chosen it is neither asked
    about (this endpoint would answer 404) nor expired, and the app's resume does not follow it."""
    async with running(tmp_path, poll_seconds=0.3) as (services, _rec):
        done = await wait_terminal(services, 0, (await services.require_orchestrator().submit(0, FAST_PARAMS)).id)
        trials = services.trials
        assert trials is not None
        sent = await trials.submit(0, done.name, prompt="{trigger} in the rain", seed=3, follow=False)
        assert sent.endpoint == trials.endpoint_label == "SANDBOX"

        long_ago = datetime.now(UTC) - timedelta(hours=2)
        other = Trial(
            id="job-elsewhere",
            requestId=uuid.uuid4().hex,
            prompt="z",
            seed=4,
            status=VersionStatus.IN_PROGRESS,
            createdAt=long_ago,
            endpoint="abc123xyz",
        )
        _add(services, done.key, other)
        assert (await trials.check(0, done.key, "job-elsewhere")).status is VersionStatus.IN_PROGRESS
        assert (await trials.wait(0, done.key, "job-elsewhere", timeout_s=5)).status is VersionStatus.IN_PROGRESS
        assert _stored(services, "job-elsewhere").status is VersionStatus.IN_PROGRESS  # not expired
        await trials.wait(0, done.key, sent.id, timeout_s=20)
        assert await trials.resume() == 0  # the other endpoint's try is not followed here
