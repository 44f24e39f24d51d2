"""Try this version in the sandbox (issue 12, item 5): a generate job, kept with the version as a trial."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from actor_trainer.core.models import VersionStatus
from actor_trainer.core.storage.local import path_from_file_url
from actor_trainer.core.trials import TrialRefusedError, parse_version_ref
from actor_trainer.sandbox.worker import make_worker
from tests.integration.e2e_support import FAST_PARAMS, running, wait_terminal
from tests.waits import wait_until


def test_version_refs_with_a_checkpoint() -> None:
    assert parse_version_ref("V2@1500") == ("V2", 1500)
    assert parse_version_ref("V2") == ("V2", None)
    assert parse_version_ref("job-abc") == ("job-abc", None)


@pytest.mark.asyncio
async def test_a_try_with_a_new_prompt_returns_images_kept_with_the_version(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=0.3) as (services, _rec):
        assert services.endpoint_speaks_v2()
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        done = await wait_terminal(services, 0, version.id)
        assert done.status is VersionStatus.COMPLETED
        trials = services.trials
        assert trials is not None

        prepared = await trials.prepare(0, done.name, prompt="{trigger} on a beach at sunset", seed=77, count=2)
        generate = prepared.body["input"]["generate"]
        assert prepared.body["input"]["task"] == "generate"
        trigger = done.parameters.trigger_for(services.library.get_actor(0))
        assert generate["prompt"] == f"{trigger} on a beach at sunset" and generate["seed"] == 77
        assert len(generate["image_urls"]) == 2
        assert all(f"/actors/0000/trials/actor_0000_{done.name}/" in u for u in generate["image_urls"])
        assert services.library.load_versions(0)[0].trials is None  # prepare writes nothing

        trial = await trials.submit(
            0, done.name, prompt="{trigger} on a beach at sunset", seed=77, count=2, follow=False
        )
        assert trial.id != trial.requestId  # RunPod's job id adopted
        trial = await trials.wait(0, done.name, trial.id, timeout_s=20)
        assert trial.status is VersionStatus.COMPLETED, trial.error
        assert [i.seed for i in trial.images or []] == [77, 78]
        for image in trial.images or []:
            assert Image.open(path_from_file_url(image.url)).format == "PNG"
        stored = services.library.load_versions(0)[0]
        assert stored.trials is not None and stored.trials[0].id == trial.id
        assert stored.trials[0].images == trial.images

        # A checkpoint that was not kept is refused with a sentence.
        with pytest.raises(TrialRefusedError, match="no checkpoint at step 20"):
            await trials.prepare(0, f"{done.name}@20", prompt="x")


@pytest.mark.asyncio
async def test_a_try_can_be_cancelled_like_training(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=0.3) as (services, _rec):
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        done = await wait_terminal(services, 0, version.id)
        trials, sandbox = services.trials, services.sandbox
        assert trials is not None and sandbox is not None
        sandbox.worker = make_worker(services.storage, duration_s=600.0)  # a slow generate job (3 s per image)
        trial = await trials.submit(0, done.name, prompt="{trigger} reading", seed=1, count=2, follow=False)
        assert not trial.status.is_terminal
        cancelled = await trials.cancel(0, done.name, trial.id)
        if not cancelled.status.is_terminal:  # /cancel answered before the worker stopped
            cancelled = await trials.wait(0, done.name, trial.id, timeout_s=20)
        assert cancelled.status is VersionStatus.CANCELLED
        assert services.library.load_versions(0)[0].trials[0].status is VersionStatus.CANCELLED  # type: ignore[index]
        # A version that never completed has nothing to try.
        failed = await services.require_orchestrator().submit(0, FAST_PARAMS)
        await services.require_runs().cancel(0, failed.id)
        stopped = await wait_terminal(services, 0, failed.id)
        with pytest.raises(TrialRefusedError, match="no LoRA"):
            await trials.prepare(0, stopped.name, prompt="x")


@pytest.mark.asyncio
async def test_unfinished_tries_are_followed_again_after_a_restart(tmp_path: Path) -> None:
    async with running(tmp_path, poll_seconds=0.3) as (services, _rec):
        version = await services.require_orchestrator().submit(0, FAST_PARAMS)
        done = await wait_terminal(services, 0, version.id)
        trials = services.trials
        assert trials is not None
        sent = await trials.submit(0, done.name, prompt="{trigger} at the sea", seed=3, follow=False)
        assert not sent.status.is_terminal  # nobody follows it: as if the app had closed here
        assert await trials.resume() == 1

        def finished() -> bool:
            stored = services.library.load_versions(0)[0].trials or []
            return bool(stored) and stored[0].status is VersionStatus.COMPLETED

        await wait_until(finished)
