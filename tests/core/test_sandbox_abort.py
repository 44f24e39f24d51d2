"""Abort stops the work (issue 10, item 3): a cancelled sandbox job's worker stops computing — its
task ends, and the LoRA build running in a thread stops within one module instead of finishing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from actor_trainer.core.models import JobState
from actor_trainer.core.runpod_client import RunPodClient
from actor_trainer.core.storage.local import path_from_file_url
from actor_trainer.sandbox import lora as lora_module
from actor_trainer.sandbox.lora import LoraBuildStopped, lora_module_names, make_lora_bytes
from actor_trainer.sandbox.server import SandboxEndpoint
from actor_trainer.sandbox.worker import make_worker
from tests.core.test_sandbox_worker import Bucket
from tests.waits import tasks_named, wait_until


def test_lora_build_stops_when_asked_before_the_next_module() -> None:
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(LoraBuildStopped):
        make_lora_bytes(network_dim=4, network_alpha=4, metadata={}, seed=1, should_stop=should_stop)
    assert len(asked) == 3 < len(lora_module_names(2))  # two modules built, then it stopped


@pytest.fixture
def bucket(tmp_path: Path) -> Bucket:
    bucket = Bucket(tmp_path / "bucket")
    bucket.add_images(3)
    return bucket


@pytest.mark.asyncio
async def test_cancel_over_http_ends_the_worker_task_mid_training(bucket: Bucket) -> None:
    endpoint = SandboxEndpoint(make_worker(bucket.storage, duration_s=60.0))
    base_url = await endpoint.start()
    try:
        async with RunPodClient(base_url, None, max_attempts=1) as client:
            job = await client.run({"input": bucket.job_input(steps=2000)})
            record = endpoint.jobs[job.id]
            await wait_until(
                lambda: (
                    (record.last_progress or {}).get("phase") == "training" and record.last_progress.get("step", 0) > 0
                )
            )
            assert record.worker_task is not None and not record.worker_task.done()

            answer = await client.cancel(job.id)
            assert answer.status is JobState.CANCELLED
            await wait_until(lambda: record.worker_task is not None and record.worker_task.done())
            assert tasks_named(f"sandbox-worker-{job.id}") == []
            step_at_cancel = record.progress_reports
            # The job's own task (queue → worker → record) is over too: nothing runs for it.
            await wait_until(lambda: tasks_named(f"sandbox-job-{job.id}") == [])
            assert record.progress_reports == step_at_cancel
            assert (await client.status(job.id)).status is JobState.CANCELLED
        assert not path_from_file_url(bucket.job_input()["training_config"]["output_url"]).exists()
    finally:
        await endpoint.stop()


@pytest.mark.asyncio
async def test_cancel_while_the_lora_is_built_stops_the_build_thread(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build runs in a thread a task cancel cannot stop: the worker only ends once the thread
    has stopped, and the thread stops at the next module instead of building them all."""
    modules_built: list[str] = []
    in_build = threading.Event()
    release = threading.Event()
    real_modules = lora_module._modules

    def observed_modules(blocks: int) -> Any:
        for module in real_modules(blocks):
            modules_built.append(module[0])
            if len(modules_built) == 1:
                in_build.set()
                release.wait(timeout=30)  # hold the build at its first module until the cancel is in
            yield module

    monkeypatch.setattr(lora_module, "_modules", observed_modules)
    endpoint = SandboxEndpoint(make_worker(bucket.storage, duration_s=0.5), cancel_grace_s=0.1)
    base_url = await endpoint.start()
    try:
        async with RunPodClient(base_url, None, max_attempts=1) as client:
            job = await client.run({"input": bucket.job_input(steps=50)})
            await asyncio.to_thread(in_build.wait, 30)
            record = endpoint.jobs[job.id]
            assert (await client.cancel(job.id)).status is JobState.CANCELLED
            await wait_until(lambda: record.cancel_event.is_set())
            # The worker task is still waiting for its thread: nothing was left running behind it.
            assert record.worker_task is not None and not record.worker_task.done()
            release.set()
            await wait_until(lambda: record.worker_task is not None and record.worker_task.done())
        assert len(modules_built) <= 2 < len(lora_module_names(2))
        assert not path_from_file_url(bucket.job_input()["training_config"]["output_url"]).exists()
    finally:
        release.set()
        await endpoint.stop()
