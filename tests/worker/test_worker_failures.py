"""The reference worker's failures as an operator reads them, and the data as the trainer reads it.

Real HTTP against the stand-in ComfyUI (tests/fixtures/fake_comfyui.py) and moto's S3 server.
"""

from __future__ import annotations

import asyncio
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from actor_trainer.core.workflow import load_template
from tests.fixtures.fake_comfyui import MODEL_FILES, FakeComfyUI, fake_comfyui  # noqa: F401
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401
from tests.worker.worker_support import (
    TRIGGER,
    default_params,
    load_worker,
    make_job,
    model_name,
    png,
    prepare,
    run,
)

worker = load_worker()
MODEL_NAME = model_name("V1")
GATED_PAGE = (
    b"<!DOCTYPE html><html><body>Access to model black-forest-labs/FLUX.1-dev is restricted. "
    b"You must have access to it and be authenticated to access it.</body></html>"
)


@pytest.mark.asyncio
async def test_a_model_saved_as_an_error_page_is_named_with_its_folder_and_cause(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    vae_folder = fake_comfyui.models_dir / "vae"
    (vae_folder / "ae.safetensors").write_bytes(GATED_PAGE)  # what a gated download without a token leaves
    storage = await prepare(s3_bucket, monkeypatch)
    job, output_url = await make_job(storage, default_params())

    with pytest.raises(worker.ComfyError) as caught:
        await run(worker, job, fake_comfyui, tmp_path / "workspace")

    message = str(caught.value)
    assert message.startswith("node 107 (InitFluxLoRATraining) could not load the Flux models.")
    assert f"The vae model ae.safetensors in {vae_folder} holds a text page" in message
    assert "gated model fetched without a token" in message and "accept the licence" in message
    assert "SafetensorError: Error while deserializing header: header too large" in message
    assert "flux1-dev-fp8" not in message  # the good files are not blamed
    assert not caught.value.refresh_worker
    assert not await storage.exists_url(output_url)
    assert fake_comfyui.leftovers(tmp_path / "workspace") == []  # _args.json and _workflow.json too


@pytest.mark.asyncio
async def test_a_truncated_model_is_named_as_an_incomplete_download(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    transformer = fake_comfyui.models_dir / "unet" / "flux1-dev-fp8.safetensors"
    transformer.write_bytes(transformer.read_bytes()[:-100])
    storage = await prepare(s3_bucket, monkeypatch)
    job, _ = await make_job(storage, default_params())

    with pytest.raises(
        worker.ComfyError,
        match=r"The transformer model flux1-dev-fp8\.safetensors in .*/unet is "
        r"truncated: .* an incomplete download",
    ):
        await run(worker, job, fake_comfyui, tmp_path / "workspace")


@pytest.mark.asyncio
async def test_a_gpu_error_fails_the_job_and_asks_for_a_new_worker(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_comfyui.fault = "gpu_error"
    storage = await prepare(s3_bucket, monkeypatch)
    job, _ = await make_job(storage, default_params())

    with pytest.raises(worker.ComfyError) as caught:
        await run(worker, job, fake_comfyui, tmp_path / "workspace")
    assert caught.value.refresh_worker
    assert "The GPU failed in node 4 (FluxTrainLoop)" in str(caught.value)
    assert "illegal memory access" in str(caught.value)
    assert fake_comfyui.leftovers(tmp_path / "workspace") == []


def _runpod_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    runpod = types.ModuleType("runpod")
    runpod.serverless = types.SimpleNamespace(progress_update=lambda job, payload: None)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "runpod", runpod)


@pytest.mark.asyncio
async def test_comfyui_unreachable_fails_fast_and_the_entry_point_asks_for_a_new_worker(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A port with nothing listening: ComfyUI did not start.
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await runner.cleanup()
    url = f"http://127.0.0.1:{port}"
    storage = await prepare(s3_bucket, monkeypatch)
    job, _ = await make_job(storage, default_params())

    fake = FakeComfyUI(tmp_path)  # not started: only its folders are used
    with pytest.raises(worker.ComfyError) as caught:
        await run(worker, job, fake, tmp_path / "workspace", comfy_url=url, start_timeout=0.3)
    message = str(caught.value)
    assert caught.value.refresh_worker
    assert f"ComfyUI at {url} did not answer within 0.3 s" in message
    assert "the worker's log shows why" in message

    _runpod_stand_in(monkeypatch)
    monkeypatch.setenv("COMFY_URL", url)
    monkeypatch.setenv("COMFY_START_TIMEOUT", "0.3")
    monkeypatch.setenv("WORK_DIR", str(tmp_path / "workspace"))
    output = await worker.handler(job)
    assert output["refresh_worker"] is True and "did not answer" in output["error"]
    assert not (tmp_path / "workspace").exists()


@pytest.mark.asyncio
async def test_comfyui_crashing_mid_training_fails_the_job_and_replaces_the_worker(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_comfyui.fault = "crash"
    storage = await prepare(s3_bucket, monkeypatch)
    job, output_url = await make_job(storage, default_params(max_train_steps=100))
    _runpod_stand_in(monkeypatch)
    monkeypatch.setenv("COMFY_URL", fake_comfyui.url)
    monkeypatch.setenv("WORK_DIR", str(tmp_path / "workspace"))
    monkeypatch.setenv("COMFY_CANCEL_TIMEOUT", "0.5")
    monkeypatch.setattr(worker, "WORKER_STATE", worker.WorkerState())

    output = await worker.handler(job)

    assert output["refresh_worker"] is True
    assert "closed the websocket" in output["error"] and "did it crash" in output["error"]
    assert not await storage.exists_url(output_url)


@pytest.mark.asyncio
async def test_no_images_names_the_folders_before_anything_is_downloaded(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch, files={"notes.txt": b"x", "face.gif": b"GIF89a"})
    job, _ = await make_job(storage, default_params())
    updates: list[dict[str, Any]] = []

    with pytest.raises(worker.DatasetError) as caught:
        await run(worker, job, fake_comfyui, tmp_path / "workspace", updates)
    message = str(caught.value)
    assert f"No training images for {tmp_path / 'workspace' / 'datasets' / MODEL_NAME}" in message
    assert f"s3://{s3_bucket.bucket}/studio/actors/0007/training_data/" in message
    assert "face.gif" in message and ".png .jpg .jpeg .webp .bmp" in message
    assert updates == [] and fake_comfyui.prompts == []


@pytest.mark.asyncio
async def test_image_extensions_reach_the_trainer_in_lower_case_and_captions_name_the_trigger_once(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {
        "Smile.Jpg": png((10, 20, 30)),  # kohya's glob would skip it as it is
        "Smile.TXT": f"  {TRIGGER.upper()}: laughing".encode(),
        "side.PNG": png((30, 20, 10)),
        "side.txt": TRIGGER.encode(),  # the trigger alone: the trainer's class_tokens is enough
        "hat.webp": png((1, 2, 3)),
        "hat.txt": f"{TRIGGER}_older, hat".encode(),  # another word that starts alike: kept
    }
    storage = await prepare(s3_bucket, monkeypatch, files=files)
    job, _ = await make_job(storage, default_params())

    await run(worker, job, fake_comfyui, tmp_path / "workspace")

    assert fake_comfyui.captions_seen == {
        "Smile.jpg": f"{TRIGGER}, laughing",
        "side.png": TRIGGER,
        "hat.webp": f"{TRIGGER}, {TRIGGER}_older, hat",
    }


@pytest.mark.asyncio
async def test_two_names_that_differ_only_in_extension_case_are_refused(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await prepare(s3_bucket, monkeypatch, files={"a.JPG": png((1, 1, 1)), "a.jpg": png((2, 2, 2))})
    job, _ = await make_job(storage, default_params())

    with pytest.raises(worker.JobInputError, match=r"same file name .* a\.jpg"):
        await run(worker, job, fake_comfyui, tmp_path / "workspace")


@pytest.mark.asyncio
async def test_a_job_cancelled_while_downloading_leaves_nothing_and_queues_nothing(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A presigned-style URL on a server that sends a large image slowly, in small chunks.
    started = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        started.set()
        for _ in range(2000):
            await response.write(b"\0" * 65536)
            await asyncio.sleep(0.01)
        return response

    app = web.Application()
    app.router.add_get("/big.png", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        storage = await prepare(s3_bucket, monkeypatch)
        job, _ = await make_job(storage, default_params())
        job["input"]["training_data"]["s3_urls"].append(f"http://127.0.0.1:{port}/big.png")
        task = asyncio.create_task(run(worker, job, fake_comfyui, tmp_path / "workspace"))
        await asyncio.wait_for(started.wait(), 10)

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await runner.cleanup()
    assert fake_comfyui.prompts == []
    assert fake_comfyui.leftovers(tmp_path / "workspace") == []  # no dataset, no .part file


def test_the_stand_in_models_are_the_files_the_apps_workflow_names() -> None:
    # The stand-in's model folder holds what the app's template asks FluxTrainModelSelect for, so a
    # broken file in a test is found by the same names as on a real worker.
    template = load_template()
    selected = next(n["inputs"] for n in template.values() if n["class_type"] == "FluxTrainModelSelect")
    assert {k: name for k, (_, name) in MODEL_FILES.items()} == selected
