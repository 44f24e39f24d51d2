"""The reference RunPod worker (packaging/worker) on a real request body, end to end.

Real protocols on 127.0.0.1: S3 is moto's server (boto3 and presigned https), ComfyUI is the
stand-in of tests/fixtures/fake_comfyui.py (HTTP + websocket). The request is the app's own
`build_run_request`; the result is checked with the app's contract models.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from actor_trainer.core.contract import ResultOutput
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.request_builder import build_run_request
from actor_trainer.core.storage.s3 import S3Storage
from tests.fixtures.fake_comfyui import BAD_OPTIMIZER, FakeComfyUI, fake_comfyui  # noqa: F401
from tests.fixtures.s3 import S3Bucket, aws_env, s3_bucket, s3_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
WORKER_DIR = ROOT / "packaging" / "worker"


def _load_worker() -> Any:
    # packaging/worker is not a package of the app: load handler.py by path, its helpers beside it.
    if str(WORKER_DIR) not in sys.path:
        sys.path.insert(0, str(WORKER_DIR))
    spec = importlib.util.spec_from_file_location("actor_trainer_reference_worker", WORKER_DIR / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


worker = _load_worker()

ACTOR = Actor(id=7, name="0007_test_actor")
MODEL_NAME = "actor_0007_V1"
PHASES = ["downloading", "caching", "training", "saving", "uploading"]


def _png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return out.getvalue()


FILES = {
    "face 1.png": _png((200, 120, 90)),
    "face 1.txt": b"0007_test_actor, smiling",
    "side view #2.png": _png((90, 120, 200)),
}


async def _prepare(bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch, *, presigned: bool = False) -> S3Storage:
    """Upload the actor's training files; point the worker's boto3 at the test bucket via the environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", bucket.endpoint_url)
    storage = bucket.storage(prefix="studio", url_style="presigned" if presigned else "s3")
    for name, data in FILES.items():
        await storage.write_url(storage.training_data_url(ACTOR.id, name), data)
    return storage


async def _job(storage: S3Storage, params: TrainingParameters) -> tuple[dict[str, Any], str]:
    listed = await storage.list_training_data(ACTOR.id)
    urls = [await storage.worker_url(storage.url_for_key(obj.key)) for obj in listed]
    output_url = storage.model_url(ACTOR.id, MODEL_NAME)
    built = build_run_request(
        actor=ACTOR,
        params=params,
        version_name="V1",
        training_urls=urls,
        output_url=output_url,
        webhook_base_url=None,
    )
    return {"id": "job-0001-e1", "input": built.body["input"]}, output_url


async def _run(job: dict[str, Any], fake: FakeComfyUI, work_dir: Path, updates: list[dict[str, Any]]) -> Any:
    return await worker.handle(
        job, comfy_url=fake.url, progress=updates.append, work_dir=work_dir, min_interval=0, start_timeout=5
    )


def _check_progress(updates: list[dict[str, Any]], total: int) -> None:
    phases = [PHASES.index(u["phase"]) for u in updates]
    steps = [u["step"] for u in updates]
    assert phases == sorted(phases), [u["phase"] for u in updates]
    assert sorted(set(phases)) == list(range(len(PHASES)))
    assert steps == sorted(steps)
    assert {u["total"] for u in updates} == {total}
    assert max(u["step"] for u in updates if u["phase"] == "training") == total
    assert updates[-1]["phase"] == "uploading" and updates[-1]["step"] == total


@pytest.mark.asyncio
async def test_trains_end_to_end_on_an_app_built_request(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await _prepare(s3_bucket, monkeypatch)
    params = TrainingParameters(max_train_steps=120, network_dim=4, network_alpha=2.0, learning_rate=0.0003)
    job, output_url = await _job(storage, params)
    work_dir = tmp_path / "workspace"
    updates: list[dict[str, Any]] = []
    # A leftover of an earlier job on a warm worker is not trained on.
    stale_dataset = work_dir / "datasets" / MODEL_NAME
    stale_dataset.mkdir(parents=True)
    (stale_dataset / "someone else.png").write_bytes(_png((0, 0, 0)))

    output = await _run(job, fake_comfyui, work_dir, updates)

    # ComfyUI got the app's workflow with the folders moved under work_dir, and the trainer saw every file.
    sent = fake_comfyui.prompts[0]["prompt"]
    assert sent["109"]["inputs"]["dataset_path"] == str(work_dir / "datasets" / MODEL_NAME)
    assert sent["107"]["inputs"]["output_dir"] == str(work_dir / "output" / MODEL_NAME)
    assert fake_comfyui.dataset_seen == FILES
    assert fake_comfyui.lora_path == work_dir / "output" / MODEL_NAME / f"{MODEL_NAME}_rank4_bf16.safetensors"

    _check_progress(updates, 120)
    downloads = [u["message"] for u in updates if u["phase"] == "downloading"]
    assert downloads[-1] == "downloaded 3/3 files"
    assert any(u["phase"] == "caching" and u["message"].endswith("5/5") for u in updates)

    lora = fake_comfyui.lora_bytes
    assert lora is not None
    assert await storage.read_url(output_url) == lora
    assert (await storage.read_metadata(output_url))["md5"] == hashlib.md5(lora).hexdigest()

    result = ResultOutput.model_validate(output)
    assert result.status == "success" and not result.says_failed()
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
    # A warm worker keeps nothing of the job: no dataset folder, no LoRA.
    assert not (work_dir / "datasets" / MODEL_NAME).exists()
    assert not fake_comfyui.lora_path.exists()


@pytest.mark.asyncio
async def test_chained_loops_add_up_their_steps(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await _prepare(s3_bucket, monkeypatch)
    job, _ = await _job(storage, TrainingParameters(max_train_steps=12_500))
    updates: list[dict[str, Any]] = []

    await _run(job, fake_comfyui, tmp_path / "workspace", updates)

    _check_progress(updates, 12_500)
    training = [u["step"] for u in updates if u["phase"] == "training"]
    assert 10_000 in training  # the end of the first loop...
    assert any(10_000 < s < 12_500 for s in training)  # ...then the second loop's steps on top of it


@pytest.mark.asyncio
async def test_presigned_https_urls_keep_decoded_file_names(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await _prepare(s3_bucket, monkeypatch, presigned=True)
    job, output_url = await _job(storage, TrainingParameters(max_train_steps=30))
    urls = job["input"]["training_data"]["s3_urls"]
    assert all(u.startswith("http") and "X-Amz-Signature" in u for u in urls)
    assert any("face%201.png" in u for u in urls)

    await _run(job, fake_comfyui, tmp_path / "workspace", [])

    assert fake_comfyui.dataset_seen == FILES
    assert await storage.exists_url(output_url)


@pytest.mark.asyncio
async def test_a_missing_presigned_file_fails_without_showing_the_signature(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await _prepare(s3_bucket, monkeypatch, presigned=True)
    job, _ = await _job(storage, TrainingParameters(max_train_steps=30))
    job["input"]["training_data"]["s3_urls"].append(
        await storage.presign_url(storage.training_data_url(ACTOR.id, "gone.png"))
    )

    with pytest.raises(worker.TransferError, match=r"gone\.png.*HTTP 404") as caught:
        await _run(job, fake_comfyui, tmp_path / "workspace", [])
    assert "Signature" not in str(caught.value)
    assert fake_comfyui.prompts == []  # nothing was queued


@pytest.mark.asyncio
async def test_comfyui_execution_error_fails_the_job_with_its_message(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await _prepare(s3_bucket, monkeypatch)
    job, output_url = await _job(storage, TrainingParameters(max_train_steps=200))
    fake_comfyui.fault = "execution_error"
    updates: list[dict[str, Any]] = []

    with pytest.raises(worker.ComfyError, match=r"node 4 \(FluxTrainLoop\).*CUDA out of memory"):
        await _run(job, fake_comfyui, tmp_path / "workspace", updates)
    assert 0 < max(u["step"] for u in updates) < 200
    assert not await storage.exists_url(output_url)


@pytest.mark.asyncio
async def test_a_refused_prompt_fails_the_job_naming_the_node_error(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await _prepare(s3_bucket, monkeypatch)
    job, _ = await _job(storage, TrainingParameters(max_train_steps=30))
    fake_comfyui.fault = "prompt_400"

    with pytest.raises(worker.ComfyError) as caught:
        await _run(job, fake_comfyui, tmp_path / "workspace", [])
    message = str(caught.value)
    assert "HTTP 400" in message and "Prompt outputs failed validation" in message
    assert "node 95 (OptimizerConfig): Value not in list" in message and BAD_OPTIMIZER in message


@pytest.mark.asyncio
async def test_a_run_that_writes_no_lora_fails(
    s3_bucket: S3Bucket, fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    storage = await _prepare(s3_bucket, monkeypatch)
    job, output_url = await _job(storage, TrainingParameters(max_train_steps=30))
    fake_comfyui.fault = "no_output"  # what a prompt skipped as cached looks like
    # An earlier run's LoRA of the same name must not pass for this run's.
    stale_lora = tmp_path / "workspace" / "output" / MODEL_NAME / f"{MODEL_NAME}_rank8_bf16.safetensors"
    stale_lora.parent.mkdir(parents=True)
    stale_lora.write_bytes(b"an earlier run's LoRA")

    with pytest.raises(worker.LoraMissingError, match=rf"{MODEL_NAME}_rank8_bf16\.safetensors was not written"):
        await _run(job, fake_comfyui, tmp_path / "workspace", [])
    assert not await storage.exists_url(output_url)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: i["training_data"].update(s3_urls=[]), r"s3_urls is empty"),
        (lambda i: i["training_config"].update(contract_version=2), r"Unsupported contract_version 2.*version 1"),
        (lambda i: i["training_config"].update(output_url="https://example.com/x"), r"output_url must be an s3://"),
        (lambda i: i.pop("workflow"), r"no workflow"),
        (lambda i: i["workflow"].pop("4"), r"No FluxTrainLoop node follows"),
    ],
)
async def test_an_input_off_contract_fails_before_any_download(
    change: Any, message: str, fake_comfyui: FakeComfyUI, tmp_path: Path
) -> None:
    params = TrainingParameters(max_train_steps=30)
    built = build_run_request(
        actor=ACTOR,
        params=params,
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
        await worker.handle(
            {"id": "x", "input": job_input},
            comfy_url=fake_comfyui.url,
            progress=updates.append,
            work_dir=tmp_path / "workspace",
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
    monkeypatch.setenv("PROGRESS_INTERVAL", "0")
    storage = await _prepare(s3_bucket, monkeypatch)
    job, output_url = await _job(storage, TrainingParameters(max_train_steps=30))

    output = await worker.handler(job)

    assert ResultOutput.model_validate(output).lora_url() == output_url
    assert {job_id for job_id, _ in calls} == {"job-0001-e1"}
    _check_progress([payload for _, payload in calls], 30)
    assert fake_comfyui.prompts[0]["prompt"]["109"]["inputs"]["dataset_path"].startswith(str(tmp_path / "workspace"))


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
