"""The reference RunPod worker (packaging/worker) on real request bodies, end to end.

Real protocols on 127.0.0.1: S3 is moto's server (boto3 and presigned https), ComfyUI is the
stand-in of tests/fixtures/fake_comfyui.py (HTTP + websocket, a prompt queue, interrupt, free,
FluxTrainer's files on disk). The request is the app's own `build_run_request`; the result is
checked with the app's contract models. A warm worker is one WorkerState and one ComfyUI across
several jobs; after each, nothing of the job may be left on the worker's disk or in ComfyUI's memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from actor_trainer.core.contract import ResultOutput
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.request_builder import build_run_request
from tests.fixtures.fake_comfyui import BAD_OPTIMIZER, FakeComfyUI, fake_comfyui  # noqa: F401
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.worker.worker_support import (
    ACTOR,
    FILES,
    TRIGGER,
    check_progress,
    default_params,
    load_worker,
    make_job,
    model_name,
    png,
    prepare,
    run,
    wait_until,
)

worker = load_worker()
MODEL_NAME = model_name("V1")


@pytest.mark.asyncio
async def test_trains_end_to_end_on_an_app_built_request(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(max_train_steps=120, network_dim=4, network_alpha=2.0, learning_rate=0.0003)
    job, output_url = await make_job(storage, params)
    work_dir = tmp_path / "workspace"
    updates: list[dict[str, Any]] = []
    # A leftover of an earlier job on a warm worker is not trained on.
    stale_dataset = work_dir / "datasets" / MODEL_NAME
    stale_dataset.mkdir(parents=True)
    (stale_dataset / "someone else.png").write_bytes(png((0, 0, 0)))

    output = await run(worker, job, fake_comfyui, work_dir, updates)

    # ComfyUI got the app's workflow with the folders moved under work_dir; the trainer saw every
    # image, and the trigger once at the start of each caption.
    sent = fake_comfyui.prompts[0]["prompt"]
    assert sent["109"]["inputs"]["dataset_path"] == str(work_dir / "datasets" / MODEL_NAME)
    assert sent["107"]["inputs"]["output_dir"] == str(work_dir / "output" / MODEL_NAME)
    assert fake_comfyui.captions_seen == {"face 1.png": f"{TRIGGER}, smiling", "side view #2.png": TRIGGER}
    assert fake_comfyui.lora_path == work_dir / "output" / MODEL_NAME / f"{MODEL_NAME}_rank4_bf16.safetensors"

    check_progress(updates, 120)
    assert fake_comfyui.last_step == 119  # what FluxTrainer reported last; the worker said 120
    downloads = [u["message"] for u in updates if u["phase"] == "downloading"]
    assert downloads[-1] == "downloaded 3/3 files"
    assert any(u["phase"] == "caching" and u["message"].endswith("5/5") for u in updates)

    lora = fake_comfyui.lora_bytes
    assert lora is not None
    assert await storage.read_url(output_url) == lora
    assert (await storage.read_metadata(output_url))["md5"] == hashlib.md5(lora).hexdigest()

    result = ResultOutput.model_validate(output)
    assert result.status == "success" and not result.says_failed()
    assert "refresh_worker" not in output
    assert result.lora_url() == output_url
    assert result.loraName == f"{MODEL_NAME}.safetensors"
    assert result.model_info is not None
    assert result.model_info.model_dump(exclude_none=True) == {
        "size_bytes": len(lora),
        "sha256": hashlib.sha256(lora).hexdigest(),
        "network_dim": 4,
        "network_alpha": 2.0,
        "max_train_steps": 120,
        "learning_rate": 0.0003,
        "base_model": "flux1-dev",
    }
    # A warm worker keeps nothing of the job: no dataset, checkpoint, args, loss plot or LoRA, and
    # ComfyUI was asked to drop the trainer it caches.
    assert fake_comfyui.leftovers(work_dir) == []
    await wait_until(lambda: not fake_comfyui.trainer_cached, what="ComfyUI to free the trainer")
    assert {"unload_models": True, "free_memory": True} in fake_comfyui.frees_applied


@pytest.mark.asyncio
async def test_chained_loops_add_up_their_steps(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    job, _ = await make_job(storage, TrainingParameters(max_train_steps=12_500))
    updates: list[dict[str, Any]] = []

    await run(worker, job, fake_comfyui, tmp_path / "workspace", updates)

    check_progress(updates, 12_500)
    training = [u["step"] for u in updates if u["phase"] == "training"]
    assert 10_000 in training  # the end of the first loop (its last value was 9999)...
    assert any(10_000 < s < 12_500 for s in training)  # ...then the second loop's steps on top of it
    assert training[-1] == 12_500


@pytest.mark.asyncio
async def test_presigned_https_urls_keep_decoded_file_names(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch, presigned=True)
    job, output_url = await make_job(storage, default_params())
    urls = job["input"]["training_data"]["s3_urls"]
    assert all(u.startswith("http") and "X-Amz-Signature" in u for u in urls)
    assert any("face%201.png" in u for u in urls)

    await run(worker, job, fake_comfyui, tmp_path / "workspace")

    assert set(fake_comfyui.dataset_seen) == set(FILES)
    assert fake_comfyui.dataset_seen["side view #2.png"] == FILES["side view #2.png"]
    assert await storage.exists_url(output_url)


@pytest.mark.asyncio
async def test_a_missing_presigned_file_fails_without_showing_the_signature(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch, presigned=True)
    job, _ = await make_job(storage, default_params())
    job["input"]["training_data"]["s3_urls"].append(
        await storage.presign_url(storage.training_data_url(ACTOR.id, "gone.png"))
    )

    with pytest.raises(worker.TransferError, match=r"gone\.png.*HTTP 404") as caught:
        await run(worker, job, fake_comfyui, tmp_path / "workspace")
    assert "Signature" not in str(caught.value)
    assert fake_comfyui.prompts == []  # nothing was queued
    assert fake_comfyui.leftovers(tmp_path / "workspace") == []


@pytest.mark.asyncio
async def test_a_refused_prompt_fails_the_job_naming_the_node_error(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    job, _ = await make_job(storage, default_params())
    fake_comfyui.fault = "prompt_400"

    with pytest.raises(worker.ComfyError) as caught:
        await run(worker, job, fake_comfyui, tmp_path / "workspace")
    message = str(caught.value)
    assert "HTTP 400" in message and "Prompt outputs failed validation" in message
    assert "node 95 (OptimizerConfig): Value not in list" in message and BAD_OPTIMIZER in message
    assert not caught.value.refresh_worker
    assert fake_comfyui.leftovers(tmp_path / "workspace") == []


@pytest.mark.asyncio
async def test_a_run_that_writes_no_lora_fails(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch)
    job, output_url = await make_job(storage, default_params())
    fake_comfyui.fault = "no_output"  # what a prompt skipped as cached looks like
    # An earlier run's LoRA of the same name must not pass for this run's.
    stale_lora = tmp_path / "workspace" / "output" / MODEL_NAME / f"{MODEL_NAME}_rank8_bf16.safetensors"
    stale_lora.parent.mkdir(parents=True)
    stale_lora.write_bytes(b"an earlier run's LoRA")

    with pytest.raises(worker.LoraMissingError, match=rf"{MODEL_NAME}_rank8_bf16\.safetensors was not written"):
        await run(worker, job, fake_comfyui, tmp_path / "workspace")
    assert not await storage.exists_url(output_url)
    assert fake_comfyui.leftovers(tmp_path / "workspace") == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: i["training_data"].update(s3_urls=[]), r"s3_urls is empty"),
        (lambda i: i["training_config"].update(contract_version=3), r"Unsupported contract_version 3.*versions 1, 2"),
        (lambda i: i.update(task="paint"), r"Unsupported task .paint."),
        (lambda i: i["training_config"].update(output_url="https://example.com/x"), r"output_url must be an s3://"),
        (lambda i: i.pop("workflow"), r"no workflow"),
        (lambda i: i["workflow"].pop("4"), r"No FluxTrainLoop node follows"),
    ],
)
async def test_an_input_off_contract_fails_before_any_download(
    change: Any, message: str, fake_comfyui: FakeComfyUI, tmp_path: Path
) -> None:
    built = build_run_request(
        actor=ACTOR,
        params=default_params(),
        version_name="V1",
        training_urls=["s3://bucket/studio/actors/0007/training_data/face 1.png"],
        output_url="s3://bucket/studio/actors/0007/models/actor_0007_V1.safetensors",
        webhook_base_url=None,
    )
    job_input = built.body["input"]
    change(job_input)
    clients: list[str] = []
    updates: list[dict[str, Any]] = []

    with pytest.raises(worker.JobInputError, match=message):
        await run(
            worker,
            {"id": "x", "input": job_input},
            fake_comfyui,
            tmp_path / "workspace",
            updates,
            s3_client_factory=lambda: clients.append("made"),
        )
    assert clients == [] and updates == [] and fake_comfyui.prompts == []
    assert not (tmp_path / "workspace").exists()


@pytest.mark.asyncio
async def test_the_runpod_entry_point_reads_the_environment_and_runs_on_the_sdks_loop(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The RunPod SDK is not installed here: a stand-in module records what the handler hands it.
    # Like the SDK, this test calls the handler on a running event loop and awaits its result.
    calls: list[tuple[str, dict[str, Any]]] = []
    runpod = types.ModuleType("runpod")
    runpod.serverless = types.SimpleNamespace(  # type: ignore[attr-defined]
        progress_update=lambda job, payload: calls.append((job["id"], payload))
    )
    monkeypatch.setitem(sys.modules, "runpod", runpod)
    monkeypatch.setenv("COMFY_URL", fake_comfyui.url)
    monkeypatch.setenv("WORK_DIR", str(tmp_path / "workspace"))
    monkeypatch.setenv("COMFY_OUTPUT_DIR", str(fake_comfyui.output_dir))
    monkeypatch.setenv("COMFY_MODEL_DIRS", f"{tmp_path / 'nowhere'}:{fake_comfyui.models_dir}")
    monkeypatch.setenv("PROGRESS_INTERVAL", "0")
    monkeypatch.setattr(worker, "WORKER_STATE", worker.WorkerState())
    storage = await prepare(s3_bucket, monkeypatch)
    job, output_url = await make_job(storage, default_params())

    output = await worker.handler(job)

    assert ResultOutput.model_validate(output).lora_url() == output_url
    assert {job_id for job_id, _ in calls} == {"job-V1-e1"}
    check_progress([payload for _, payload in calls], 30)
    assert fake_comfyui.prompts[0]["prompt"]["109"]["inputs"]["dataset_path"].startswith(str(tmp_path / "workspace"))
    assert fake_comfyui.leftovers(tmp_path / "workspace") == []


def test_progress_is_throttled_but_never_drops_a_phase_or_the_last_step() -> None:
    sent: list[dict[str, Any]] = []
    report = worker.Reporter(sent.append, total=100, min_interval=3600)
    report("downloading", "downloading")
    report("training", "step 10", 10)
    report("training", "step 50", 50)  # within the interval: dropped
    report("training", "step 40", 40)  # lower than reported: never goes back
    report("caching", "late caching message")  # an earlier phase: ignored
    report("training", "step 100", 100)  # the total: always sent
    report("saving", "saving")
    assert [(u["phase"], u["step"]) for u in sent] == [
        ("downloading", 0),
        ("training", 10),
        ("training", 100),
        ("saving", 100),
    ]


# --- a warm worker: completed, cancelled, failed, then completed again -----------------------------


def _with_save_state(job: dict[str, Any]) -> dict[str, Any]:
    """FluxTrainer's defaults: the trainer state saved too (FluxTrainEnd.save_state is true by default)."""
    workflow = job["input"]["workflow"]
    workflow["14"]["inputs"]["save_state"] = True
    workflow["133"]["inputs"]["save_state"] = True
    return job


@pytest.mark.asyncio
async def test_a_warm_worker_starts_every_job_clean(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = fake_comfyui
    storage = await prepare(s3_bucket, monkeypatch)
    work_dir = tmp_path / "workspace"
    state = worker.WorkerState()

    # 1. Completed, with every file FluxTrainer can write: checkpoints, -state folders, args, plot.
    job1, url1 = await make_job(storage, default_params(max_train_steps=60), "V1")
    seen_files: list[str] = []
    original_clean = worker.clean_job

    def spy_clean(spec: Any, **kwargs: Any) -> list[str]:
        seen_files.extend(fake.leftovers(work_dir))
        return original_clean(spec, **kwargs)

    monkeypatch.setattr(worker, "clean_job", spy_clean)
    await run(worker, _with_save_state(job1), fake, work_dir, state=state)
    stem = f"{model_name('V1')}_rank8_bf16"
    out = f"workspace/output/{model_name('V1')}"
    for expected in (
        f"{out}/{model_name('V1')}_args.json",
        f"{out}/{model_name('V1')}_workflow.json",
        f"{out}/{stem}-step00000060.safetensors",
        f"{out}/{stem}-step00000060-state/optimizer.bin",
        f"{out}/{stem}-state/model.safetensors",
        f"{out}/{stem}.safetensors",
        f"comfyui/output/{model_name('V1')}_loss_00001_.png",
    ):
        assert expected in seen_files, seen_files
    assert fake.leftovers(work_dir) == []
    assert await storage.exists_url(url1)

    # 2. Cancelled mid-training: ComfyUI stops training, the files go only after it has, no upload.
    fake.hold_at = 500
    job2, url2 = await make_job(storage, default_params(max_train_steps=2000), "V2")
    updates: list[dict[str, Any]] = []
    task = asyncio.create_task(run(worker, job2, fake, work_dir, updates, state=state))
    await wait_until(lambda: fake.holding.is_set(), what="training to reach step 500")
    assert fake.running is not None
    prompt2 = fake.running.prompt_id
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert prompt2 in fake.interrupts and fake.running is None and fake.pending == []
    kinds = [m[0] for m in fake.history[prompt2]["status"]["messages"]]
    assert kinds[-1] == "execution_interrupted"
    assert fake.last_step is not None and fake.last_step < 2000
    assert not fake.dataset_gone_while_running  # the dataset was deleted only after the prompt stopped
    assert not await storage.exists_url(url2)
    assert [u["phase"] for u in updates][-1] == "training"
    assert fake.leftovers(work_dir) == []
    await wait_until(lambda: not fake.trainer_cached, what="ComfyUI to free the trainer after the cancel")
    fake.hold_at = None

    # 3. Failed: the GPU ran out of memory; the error says what to lower; nothing is left.
    fake.fault = "execution_error"
    job3, url3 = await make_job(storage, default_params(max_train_steps=200, network_dim=16), "V3")
    with pytest.raises(worker.ComfyError) as caught:
        await run(worker, job3, fake, work_dir, state=state)
    message = str(caught.value)
    assert "ran out of memory in node 4 (FluxTrainLoop)" in message and "rank 16" in message
    assert "batch size 1" in message and "Lower the rank" in message
    assert not caught.value.refresh_worker
    assert not await storage.exists_url(url3)
    assert fake.leftovers(work_dir) == []
    await wait_until(lambda: not fake.trainer_cached, what="ComfyUI to free the trainer after the failure")
    fake.fault = None

    # 4. The next job on the same worker runs at once (nothing queued before it) and completes.
    job4, url4 = await make_job(storage, default_params(max_train_steps=40), "V4")
    updates4: list[dict[str, Any]] = []
    output = await run(worker, job4, fake, work_dir, updates4, state=state)
    assert ResultOutput.model_validate(output).lora_url() == url4
    check_progress(updates4, 40)
    assert fake.leftovers(work_dir) == []
    assert state.leftovers == []
    assert sorted(p.name for p in work_dir.rglob("*")) == ["datasets", "output"]  # empty folders only


@pytest.mark.asyncio
async def test_a_job_cancelled_while_its_prompt_waits_is_removed_from_the_queue(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = fake_comfyui
    storage = await prepare(s3_bucket, monkeypatch)
    job, _ = await make_job(storage, default_params())
    fake.paused = True  # the prompt stays queued
    task = asyncio.create_task(run(worker, job, fake, tmp_path / "workspace"))
    await wait_until(lambda: bool(fake.pending), what="the prompt to be queued")
    prompt_id = fake.pending[0].prompt_id

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert prompt_id in fake.deletes and fake.pending == []
    fake.paused = False
    fake._wake.set()
    assert prompt_id not in fake.history  # it never ran
    assert fake.leftovers(tmp_path / "workspace") == []


@pytest.mark.asyncio
async def test_a_prompt_that_does_not_stop_keeps_its_files_and_the_next_job_replaces_the_worker(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = fake_comfyui
    storage = await prepare(s3_bucket, monkeypatch)
    work_dir = tmp_path / "workspace"
    state = worker.WorkerState()
    fake.fault, fake.hold_at = "ignore_interrupt", 100  # a GPU stuck in a kernel
    job, _ = await make_job(storage, default_params(max_train_steps=400), "V1")
    task = asyncio.create_task(run(worker, job, fake, work_dir, state=state, cancel_timeout=0.5))
    await wait_until(lambda: fake.holding.is_set(), what="training to reach step 100")

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # ComfyUI never confirmed the stop: the files it may still read stay, and the worker knows it.
    assert fake.running is not None
    assert (work_dir / "datasets" / MODEL_NAME).is_dir() and not fake.dataset_gone_while_running
    assert [j.output_name for j in state.leftovers] == [MODEL_NAME]

    # The next job finds ComfyUI still busy: it fails at once and asks RunPod for a new worker.
    job2, _ = await make_job(storage, default_params(), "V2")
    with pytest.raises(worker.ComfyError, match=r"still runs prompt.*refresh_worker") as caught:
        await run(worker, job2, fake, work_dir, state=state, cancel_timeout=0.3)
    assert caught.value.refresh_worker

    # Once ComfyUI lets go, the following job cleans the leftovers first and trains.
    fake.fault = None
    output = await run(worker, job2, fake, work_dir, state=state)
    assert output["status"] == "success"
    assert state.leftovers == [] and fake.leftovers(work_dir) == []


@pytest.mark.asyncio
async def test_a_job_cancelled_while_comfyui_queues_its_prompt_still_stops_that_prompt(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = fake_comfyui
    storage = await prepare(s3_bucket, monkeypatch)
    job, _ = await make_job(storage, default_params(max_train_steps=2000))
    fake.prompt_gate = asyncio.Event()  # ComfyUI is slow to answer POST /prompt
    fake.hold_at = 100
    task = asyncio.create_task(run(worker, job, fake, tmp_path / "workspace"))
    await wait_until(lambda: bool(fake.prompts), what="the prompt to reach ComfyUI")

    task.cancel()  # before the worker knows the prompt's id
    fake.prompt_gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task

    (prompt_id,) = fake.queued
    assert fake.running is None and fake.pending == []
    assert prompt_id in fake.interrupts or prompt_id in fake.deletes
    assert not fake.dataset_gone_while_running
    assert fake.leftovers(tmp_path / "workspace") == []
