"""The reference worker speaks contract v2 (issue 12): samples while training, kept checkpoints,
the generate task — against the stand-in ComfyUI (tests/fixtures/fake_comfyui.py) and moto's S3.
The requests are the app's own builders; the answers are read with the app's own readers."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from actor_trainer.core.contract import (
    ResultOutput,
    checkpoints_of,
    contract_version_of,
    images_of,
    samples_of,
)
from actor_trainer.core.contract_memory import ContractMemory
from actor_trainer.core.generate import build_generate_request, trial_image_keys
from actor_trainer.core.models import SampleSettings, TrainingParameters, Trial
from actor_trainer.core.request_builder import build_run_request
from actor_trainer.core.sample_keys import checkpoint_key, sample_key
from tests.fixtures.fake_comfyui import FakeComfyUI, fake_comfyui  # noqa: F401
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.worker.worker_support import ACTOR, load_worker, model_name, prepare, run, wait_until

worker = load_worker()
MODEL = model_name("V1")
PREFIX = "studio"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def v2_job(storage: Any, params: TrainingParameters, *, presign_put: Any = None) -> tuple[dict[str, Any], Any]:
    listed = await storage.list_training_data(ACTOR.id)
    urls = [storage.url_for_key(obj.key) for obj in listed]

    def sample_url(step: int, index: int) -> str:
        key = sample_key(PREFIX, ACTOR.id, MODEL, step, index)
        return presign_put(key) if presign_put else storage.url_for_key(key)

    built = build_run_request(
        actor=ACTOR,
        params=params,
        version_name="V1",
        training_urls=urls,
        output_url=storage.model_url(ACTOR.id, MODEL),
        webhook_base_url=None,
        contract_version=2,
        sample_url=sample_url,
        checkpoint_url=lambda step: storage.url_for_key(checkpoint_key(PREFIX, ACTOR.id, MODEL, step)),
    )
    return {"id": "job-v2", "input": built.body["input"]}, built


def objects(bucket: S3Bucket, prefix: str) -> dict[str, bytes]:
    client = bucket.client()
    listed = client.list_objects_v2(Bucket=bucket.bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket.bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.mark.asyncio
async def test_samples_land_where_the_app_expects_and_progress_carries_them_cumulatively(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    sampling = SampleSettings(every=20, keep_checkpoints=True, seed=77)
    params = TrainingParameters(max_train_steps=60, network_dim=4, trigger="ohwx", sampling=sampling)
    job, built = await v2_job(storage, params)
    work_dir = tmp_path / "workspace"
    updates: list[dict[str, Any]] = []
    fake_comfyui.hold_at = 50  # training stays at step 50: the samples of steps 20 and 40 arrive meanwhile
    task = asyncio.create_task(run(worker, job, fake_comfyui, work_dir, updates))
    await wait_until(lambda: any(len(samples_of(u)) == 8 for u in updates), what="the samples of steps 20 and 40")
    assert fake_comfyui.holding.is_set() and not task.done()
    assert updates[-1]["phase"] in ("training", "sampling") and updates[-1]["step"] <= 50
    fake_comfyui.release()
    output = await task

    prompts = built.body["input"]["training_config"]["sampling"]["prompts"]
    assert len(prompts) == 4 and all("ohwx" in p for p in prompts)
    # every sample is in the bucket at the key the app decided, as a PNG
    stored = objects(s3_bucket, f"{PREFIX}/actors/0007/models/{MODEL}/samples/")
    expected = {sample_key(PREFIX, ACTOR.id, MODEL, step, i) for step in (20, 40, 60) for i in range(4)}
    assert set(stored) == expected
    assert all(data.startswith(PNG_MAGIC) for data in stored.values())
    assert len(set(stored.values())) == len(stored)  # each step × prompt its own image

    # progress: contract_version 2 throughout; the samples list only grows, and samples arrive while it trains
    assert updates and all(contract_version_of(u) == 2 for u in updates)
    seen: list[Any] = []
    for update in updates:
        now = samples_of(update)
        assert now[: len(seen)] == seen, "the samples list is cumulative"
        seen = now
    assert len(seen) == 12
    assert any(u["phase"] == "sampling" for u in updates)
    steps = [u["step"] for u in updates]
    assert steps == sorted(steps)

    # the result lists every sample and the kept checkpoints, the app's readers understand it
    result = ResultOutput.model_validate(output)
    assert result.lora_url() == storage.model_url(ACTOR.id, MODEL)
    samples = samples_of(output)
    assert [(s.step, s.index) for s in samples] == [(step, i) for step in (20, 40, 60) for i in range(4)]
    assert all(s.prompt == prompts[s.index] and s.seed == 77 for s in samples)
    assert samples[0].url == storage.url_for_key(sample_key(PREFIX, ACTOR.id, MODEL, 20, 0))
    checkpoints = checkpoints_of(output)
    assert [c.step for c in checkpoints] == [20, 40]
    for checkpoint in checkpoints:
        data = await storage.read_url(checkpoint.url)
        assert (await storage.read_metadata(checkpoint.url))["md5"] == hashlib.md5(data).hexdigest()
    assert contract_version_of(output) == 2
    memory = ContractMemory(tmp_path / "config")
    assert memory.note_payload("ep-v2", output) and memory.speaks_v2("ep-v2")

    # nothing of the job stays on the worker: no sample images, no checkpoints
    assert fake_comfyui.samples_written and not any(p.exists() for p in fake_comfyui.samples_written)
    assert fake_comfyui.leftovers(work_dir) == []


@pytest.mark.asyncio
async def test_presigned_put_urls_work_and_their_signatures_are_not_reported(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    client = s3_bucket.client()

    def presign_put(key: str) -> str:
        return str(
            client.generate_presigned_url("put_object", Params={"Bucket": s3_bucket.bucket, "Key": key}, ExpiresIn=3600)
        )

    params = TrainingParameters(
        max_train_steps=20,
        network_dim=4,
        trigger="ohwx",
        sampling=SampleSettings(every=20, prompts=["{trigger} smiling", "{trigger} sad"]),
    )
    job, _ = await v2_job(storage, params, presign_put=presign_put)
    assert "Signature=" in job["input"]["training_config"]["sample_urls"][0][0]
    updates: list[dict[str, Any]] = []
    output = await run(worker, job, fake_comfyui, tmp_path / "workspace", updates)
    stored = objects(s3_bucket, f"{PREFIX}/actors/0007/models/{MODEL}/samples/")
    assert set(stored) == {sample_key(PREFIX, ACTOR.id, MODEL, 20, i) for i in range(2)}
    reported = [s.url for s in samples_of(output)] + [s.url for u in updates for s in samples_of(u)]
    assert reported and not any("?" in url or "Signature" in url for url in reported)


@pytest.mark.asyncio
async def test_a_v1_job_behaves_as_before(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(max_train_steps=40, network_dim=4, sampling=SampleSettings(every=10))
    listed = await storage.list_training_data(ACTOR.id)
    built = build_run_request(
        actor=ACTOR,
        params=params,
        version_name="V1",
        training_urls=[storage.url_for_key(o.key) for o in listed],
        output_url=storage.model_url(ACTOR.id, MODEL),
        webhook_base_url=None,
    )
    updates: list[dict[str, Any]] = []
    output = await run(
        worker, {"id": "job-v1", "input": built.body["input"]}, fake_comfyui, tmp_path / "workspace", updates
    )
    assert not any(n["class_type"] == "FluxTrainValidate" for n in fake_comfyui.prompts[0]["prompt"].values())
    assert set(output) == {"status", "loraUrl", "loraName", "model_info"}
    assert all(set(u) == {"phase", "step", "total", "message"} for u in updates)
    assert samples_of(output) == [] and contract_version_of(output) is None
    assert objects(s3_bucket, f"{PREFIX}/actors/0007/models/{MODEL}/") == {}


async def _generate_job(storage: Any, bucket: S3Bucket, trial: Trial, lora: bytes) -> tuple[dict[str, Any], list[str]]:
    lora_url = storage.model_url(ACTOR.id, MODEL)
    await storage.write_url(lora_url, lora)
    keys = trial_image_keys(PREFIX, ACTOR.id, MODEL, trial.requestId or trial.id, trial.count)
    built = build_generate_request(
        trial=trial,
        lora_url=lora_url,
        image_urls=[storage.url_for_key(k) for k in keys],
        webhook_base_url=None,
        model_name=MODEL,
    )
    return {"id": "job-try", "input": built.body["input"]}, keys


@pytest.mark.asyncio
async def test_a_generate_job_returns_images_and_leaves_nothing_behind(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch, files={})
    trial = Trial(
        id="try-1", requestId="try-1", prompt="ohwx as a knight", seed=9, count=3, strength=0.8, width=512, height=768
    )
    lora = b"a LoRA's bytes" * 100
    job, keys = await _generate_job(storage, s3_bucket, trial, lora)
    updates: list[dict[str, Any]] = []

    output = await run(worker, job, fake_comfyui, tmp_path / "workspace", updates)

    images = images_of(output)
    assert [i.index for i in images] == [0, 1, 2]
    assert [i.url for i in images] == [storage.url_for_key(k) for k in keys]
    assert all(i.prompt == trial.prompt and i.seed == 9 for i in images)
    assert contract_version_of(output) == 2
    stored = objects(s3_bucket, f"{PREFIX}/actors/0007/trials/{MODEL}/")
    assert set(stored) == set(keys) and all(d.startswith(PNG_MAGIC) for d in stored.values())
    # ComfyUI read the version's LoRA under a unique name in models/loras, removed afterwards
    sent = fake_comfyui.prompts[0]["prompt"]
    lora_name = next(n["inputs"]["lora_name"] for n in sent.values() if n["class_type"] == "LoraLoaderModelOnly")
    assert lora_name.startswith("try_") and lora_name.endswith(".safetensors")
    assert fake_comfyui.loras_seen == [lora]
    assert not any((fake_comfyui.models_dir / "loras").iterdir())
    assert fake_comfyui.leftovers() == []
    assert fake_comfyui.frees_applied  # ComfyUI let go of Flux and the LoRA
    assert updates[0]["phase"] == "downloading" and updates[-1]["phase"] == "uploading"
    assert all(u["contract_version"] == 2 for u in updates)


@pytest.mark.asyncio
async def test_a_cancelled_generate_job_stops_its_prompt_and_removes_the_lora(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch, files={})
    trial = Trial(id="try-2", requestId="try-2", prompt="ohwx", seed=1, count=1)
    job, _ = await _generate_job(storage, s3_bucket, trial, b"lora" * 10)
    fake_comfyui.paused = True  # the prompt waits in ComfyUI's queue
    task = asyncio.create_task(run(worker, job, fake_comfyui, tmp_path / "workspace"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not fake_comfyui.pending:
        assert loop.time() < deadline, "the prompt was never queued"
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake_comfyui.pending == [] and fake_comfyui.deletes  # removed from the queue
    assert not any((fake_comfyui.models_dir / "loras").iterdir())
    assert objects(s3_bucket, f"{PREFIX}/actors/0007/trials/") == {}


@pytest.mark.asyncio
async def test_a_generate_job_off_contract_fails_before_any_download(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch, files={})
    trial = Trial(id="try-3", requestId="try-3", prompt="ohwx", seed=1, count=2)
    job, _ = await _generate_job(storage, s3_bucket, trial, b"lora")
    job["input"]["generate"]["image_urls"] = job["input"]["generate"]["image_urls"][:1]
    with pytest.raises(worker.JobInputError, match="image_urls must hold 2"):
        await run(worker, job, fake_comfyui, tmp_path / "workspace")
    assert fake_comfyui.prompts == []


@pytest.mark.asyncio
async def test_a_v2_job_without_sampling_states_its_version_and_lists_no_samples(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(max_train_steps=20, network_dim=4, sampling=SampleSettings(every=0))
    job, built = await v2_job(storage, params)
    assert "sampling" not in built.body["input"]["training_config"]
    updates: list[dict[str, Any]] = []
    output = await run(worker, job, fake_comfyui, tmp_path / "workspace", updates)
    assert contract_version_of(output) == 2 and samples_of(output) == [] and checkpoints_of(output) == []
    assert all(u["contract_version"] == 2 and u["samples"] == [] for u in updates)
    assert not any(n["class_type"] == "FluxTrainValidate" for n in fake_comfyui.prompts[0]["prompt"].values())
