"""Kept checkpoints (contract v2, issue 12): the reference worker uploads each checkpoint LoRA as soon
as FluxTrainer has finished writing it, while the training goes on, lists them cumulatively in its
progress, survives a failed upload and stops pending uploads on cancel. Against the stand-in
ComfyUI (which writes each checkpoint file over time, like FluxTrainSave), moto's S3 and, for the
cancel, a local HTTP server standing in for presigned PUT URLs."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from actor_trainer.core.contract import checkpoint_failures_of, checkpoints_of
from actor_trainer.core.models import SampleSettings, TrainingParameters
from actor_trainer.core.request_builder import build_run_request
from actor_trainer.core.sample_keys import checkpoint_key, sample_key
from tests.fixtures.fake_comfyui import FakeComfyUI, fake_comfyui  # noqa: F401
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.worker.worker_support import ACTOR, load_worker, model_name, prepare, run, wait_until

worker = load_worker()
checkpoints_module = importlib.import_module("checkpoints")  # packaging/worker/checkpoints.py (on sys.path)
MODEL = model_name("V1")
PREFIX = "studio"


async def job_with_checkpoints(
    storage: Any, params: TrainingParameters, checkpoint_url: Any = None
) -> tuple[dict[str, Any], dict[str, str]]:
    listed = await storage.list_training_data(ACTOR.id)
    built = build_run_request(
        actor=ACTOR,
        params=params,
        version_name="V1",
        training_urls=[storage.url_for_key(o.key) for o in listed],
        output_url=storage.model_url(ACTOR.id, MODEL),
        webhook_base_url=None,
        contract_version=2,
        sample_url=lambda step, index: storage.url_for_key(sample_key(PREFIX, ACTOR.id, MODEL, step, index)),
        checkpoint_url=checkpoint_url
        or (lambda step: storage.url_for_key(checkpoint_key(PREFIX, ACTOR.id, MODEL, step))),
    )
    config = built.body["input"]["training_config"]
    return {"id": "job-ckpt", "input": built.body["input"]}, config["checkpoint_urls"]


def stored(bucket: S3Bucket, step: int) -> tuple[bytes, dict[str, str]] | None:
    client = bucket.client()
    key = checkpoint_key(PREFIX, ACTOR.id, MODEL, step)
    try:
        obj = client.get_object(Bucket=bucket.bucket, Key=key)
    except client.exceptions.NoSuchKey:
        return None
    return obj["Body"].read(), obj["Metadata"]


def steps_of(payload: dict[str, Any]) -> list[int]:
    return [c.step for c in checkpoints_of(payload)]


@pytest.mark.asyncio
async def test_each_checkpoint_goes_up_whole_while_the_training_goes_on(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(
        max_train_steps=60,
        network_dim=4,
        sampling=SampleSettings(every=20, keep_checkpoints=True, prompts=["{trigger}"]),
    )
    job, urls = await job_with_checkpoints(storage, params)
    assert sorted(urls) == ["20", "40"]
    # FluxTrainSave's file stays half written for a while: a worker that uploads when the save node
    # starts (or when the file first appears) sends half a LoRA.
    fake_comfyui.checkpoint_write_pause = 0.3
    fake_comfyui.hold_at = 50  # the training stays at step 50, after both checkpoints were saved
    updates: list[dict[str, Any]] = []
    work_dir = tmp_path / "workspace"
    task = asyncio.create_task(run(worker, job, fake_comfyui, work_dir, updates))

    await wait_until(lambda: any(steps_of(u) == [20, 40] for u in updates), what="both checkpoints in progress")
    assert fake_comfyui.holding.is_set() and not task.done()  # uploaded while the training goes on
    for step in (20, 40):
        found = stored(s3_bucket, step)
        assert found is not None, step
        data, metadata = found
        assert data == fake_comfyui.checkpoints_written[step], f"checkpoint {step} was not uploaded whole"
        assert metadata["md5"] == hashlib.md5(data).hexdigest()
    fake_comfyui.release()
    output = await task

    assert steps_of(output) == [20, 40] and "checkpoint_failures" not in output
    assert checkpoints_of(output)[0].url == storage.url_for_key(checkpoint_key(PREFIX, ACTOR.id, MODEL, 20))
    seen: list[int] = []
    for update in updates:  # cumulative: every payload's list holds the previous one's
        now = steps_of(update)
        assert set(seen) <= set(now), (seen, now)
        seen = now
    assert fake_comfyui.leftovers(work_dir) == []  # the checkpoint files are removed after the job


@pytest.mark.asyncio
async def test_a_checkpoint_goes_up_only_after_its_save_node_returned_and_only_whole(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(
        max_train_steps=30,
        network_dim=4,
        sampling=SampleSettings(every=10, keep_checkpoints=True, prompts=["{trigger}"]),
    )
    job, _ = await job_with_checkpoints(storage, params)
    spec = worker.read_job(job, tmp_path / "workspace")
    save = {step: node for node, step in spec.checkpoint_nodes.items()}
    changes: list[int] = []
    uploads = checkpoints_module.CheckpointUploads(
        spec,
        s3=await asyncio.to_thread(s3_bucket.client),
        in_pool=asyncio.to_thread,
        stop=threading.Event(),
        on_change=lambda: changes.append(1),
    )
    data = (fake_comfyui.models_dir / "unet" / "flux1-dev-fp8.safetensors").read_bytes()  # a valid safetensors file
    spec.output_dir.mkdir(parents=True)

    # step 10: its save node starts and writes half the file; progress of that node changes nothing
    spec.checkpoint_file(10).write_bytes(data[: len(data) // 2])
    uploads.on_event(save[10], None, None)
    uploads.on_event(save[10], 0, 1)
    assert uploads.started == []
    # the next node starts: the save node has returned; its file is whole by now
    spec.checkpoint_file(10).write_bytes(data)
    uploads.on_event("some-next-node", None, None)
    assert uploads.started == [10]

    # step 20: a file cut short (a full disk) is reported, never uploaded
    spec.checkpoint_file(20).write_bytes(data[:-3])
    uploads.on_event(save[20], None, None)
    uploads.on_event("another-node", None, None)
    # the prompt ended: step 30 (final) is not a kept checkpoint; nothing else is left to start
    uploads.prompt_ended()
    assert uploads.started == [10, 20]
    await uploads.drain()

    assert [c["step"] for c in uploads.checkpoints] == [10]
    assert stored(s3_bucket, 10) is not None and stored(s3_bucket, 10)[0] == data  # type: ignore[index]
    assert [f["step"] for f in uploads.failures] == [20] and stored(s3_bucket, 20) is None
    assert uploads.failures[0]["error"].startswith(f"{spec.checkpoint_file(20).name} is truncated")
    assert len(changes) == 2  # one progress report per checkpoint, uploaded or not


@pytest.mark.asyncio
async def test_a_failed_checkpoint_upload_is_reported_and_the_training_completes(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(
        max_train_steps=60,
        network_dim=4,
        sampling=SampleSettings(every=20, keep_checkpoints=True, prompts=["{trigger}"]),
    )
    job, urls = await job_with_checkpoints(storage, params)
    urls["20"] = "s3://no-such-bucket-for-checkpoints/actor_0007_V1_step000020.safetensors"
    updates: list[dict[str, Any]] = []
    output = await run(worker, job, fake_comfyui, tmp_path / "workspace", updates)

    assert output["status"] == "success" and steps_of(output) == [40]
    assert stored(s3_bucket, 40) is not None and stored(s3_bucket, 20) is None
    failures = checkpoint_failures_of(output)
    assert [step for step, _ in failures] == [20]
    assert "no-such-bucket-for-checkpoints" in failures[0][1]
    # the progress said so too, before the result
    assert any(checkpoint_failures_of(u) == failures for u in updates)
    assert await storage.exists_url(storage.model_url(ACTOR.id, MODEL))  # the LoRA is there


class HeldPuts:
    """A stand-in for presigned PUT URLs: records each PUT and answers only once released."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.release = asyncio.Event()
        self.url = ""

    async def put(self, request: web.Request) -> web.Response:
        self.received.append(int(request.match_info["step"]))
        await request.read()
        await self.release.wait()
        return web.Response(status=200)


@pytest_asyncio.fixture
async def held_puts() -> AsyncIterator[HeldPuts]:
    server = HeldPuts()
    app = web.Application()
    app.router.add_put("/ckpt/{step}", server.put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_cancel_stops_pending_checkpoint_uploads_and_still_cleans_up(
    s3_bucket: S3Bucket,
    fake_comfyui: FakeComfyUI,
    held_puts: HeldPuts,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert checkpoints_module.CHECKPOINT_UPLOADS == 2
    storage = await prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(
        max_train_steps=40,
        network_dim=4,
        sampling=SampleSettings(every=10, keep_checkpoints=True, prompts=["{trigger}"]),
    )
    job, urls = await job_with_checkpoints(storage, params, checkpoint_url=lambda s: f"{held_puts.url}/ckpt/{s}")
    assert sorted(urls, key=int) == ["10", "20", "30"]
    fake_comfyui.hold_at = 35
    updates: list[dict[str, Any]] = []
    work_dir = tmp_path / "workspace"
    task = asyncio.create_task(run(worker, job, fake_comfyui, work_dir, updates))
    # two uploads in flight (the bound), the third waiting: the worker has seen the node after the
    # step-30 save start (it reported a step past 30)
    await wait_until(lambda: len(held_puts.received) >= 2, what="two checkpoint PUTs")
    await wait_until(lambda: any(u["step"] > 30 for u in updates), what="the training past step 30")
    assert sorted(held_puts.received) == [10, 20]

    task.cancel()
    await wait_until(lambda: bool(fake_comfyui.interrupts), what="the prompt being stopped")
    held_puts.release.set()  # the PUTs in flight end; the waiting one must never start
    with pytest.raises(asyncio.CancelledError):
        await task

    assert sorted(held_puts.received) == [10, 20]
    assert fake_comfyui.leftovers(work_dir) == []  # the checkpoints and the rest of the job removed
    assert fake_comfyui.frees_applied
    assert not await storage.exists_url(storage.model_url(ACTOR.id, MODEL))
