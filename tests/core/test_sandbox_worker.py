"""The sandbox's simulated worker (sandbox/worker.py) against real files in a temporary bucket folder."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from actor_trainer.core.lora_file import read_lora_info
from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.request_builder import build_run_request
from actor_trainer.core.storage.local import LocalStorage, path_from_file_url
from actor_trainer.sandbox import worker as worker_module
from actor_trainer.sandbox.worker import make_worker, simulate_training
from actor_trainer.sandbox.worker_errors import WorkerFailure

PHASES = ["downloading", "caching", "training", "saving", "uploading"]


class RecordingStorage(LocalStorage):
    """The sandbox's local-folder bucket, recording which URLs the worker read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    async def read_url(self, url: str) -> bytes:
        self.reads.append(url)
        return await super().read_url(url)


def workflow(
    *, dim: int = 16, alpha: float = 8, lr: float = 0.0004, steps: int = 2000, repeats: int = 1
) -> dict[str, Any]:
    """The training graph of docs/training-workflow.md, with the parameters the worker reads."""
    return {
        "2": {"class_type": "FluxTrainModelSelect", "inputs": {"transformer": "flux1-dev-fp8.safetensors"}},
        "108": {"class_type": "TrainDatasetGeneralConfig", "inputs": {"caption_extension": ".txt"}},
        "109": {
            "class_type": "TrainDatasetAdd",
            "inputs": {
                "dataset_config": ["108", 0],
                "dataset_path": "/workspace/dataset",
                "class_tokens": "0003_european_30_female",
                "num_repeats": repeats,
                "batch_size": 1,
                "width": 512,
                "height": 512,
            },
        },
        "95": {"class_type": "OptimizerConfig", "inputs": {"optimizer_type": "adamw8bit", "lr_scheduler": "cosine"}},
        "107": {
            "class_type": "InitFluxLoRATraining",
            "inputs": {
                "flux_models": ["2", 0],
                "dataset": ["109", 0],
                "optimizer_settings": ["95", 0],
                "output_name": "actor_0003_V1",
                "output_dir": "/workspace/output",
                "network_dim": dim,
                "network_alpha": alpha,
                "learning_rate": lr,
                "max_train_steps": steps,
                "gradient_dtype": "bf16",
                "save_dtype": "bf16",
            },
        },
        "4": {"class_type": "FluxTrainLoop", "inputs": {"network_trainer": ["107", 0], "steps": steps}},
        "14": {"class_type": "FluxTrainSave", "inputs": {"network_trainer": ["4", 0], "save_state": False}},
        "133": {"class_type": "FluxTrainEnd", "inputs": {"network_trainer": ["14", 0], "save_state": False}},
    }


class Bucket:
    def __init__(self, root: Path) -> None:
        self.storage = RecordingStorage(root)
        self.root = root
        self.urls: list[str] = []

    def add_images(self, count: int) -> None:
        for i in range(count):
            name = f"img {i}.png"  # a space: URLs are encoded once and decoded by the worker
            path = self.path(name)
            Image.new("RGB", (48 + i, 64), (40 * i % 256, 90, 200)).save(path)
            self.urls.append(path.as_uri())

    def path(self, name: str) -> Path:
        path = path_from_file_url(self.storage.training_data_url(3, name))
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def add_file(self, name: str, content: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(content)
        self.urls.append(path.as_uri())
        return path

    def job_input(self, *, request_id: str | None = None, **workflow_args: Any) -> dict[str, Any]:
        return {
            "workflow": workflow(**workflow_args),
            "training_data": {"s3_urls": list(self.urls)},
            "training_config": {
                "mode": "custom-actors",
                "user_id": "actor_maker_user",
                "model_name": "actor_0003_V1",
                "learning_rate": workflow_args.get("lr", 0.0004),
                "max_train_steps": workflow_args.get("steps", 2000),
                "contract_version": 1,
                "request_id": request_id or str(uuid.uuid4()),
                "actor_id": 3,
                "trigger": "0003_european_30_female",
                "output_url": self.storage.model_url(3, "actor_0003_V1"),
            },
        }


@pytest.fixture
def bucket(tmp_path: Path) -> Bucket:
    return Bucket(tmp_path / "bucket")


async def run(
    bucket: Bucket, job_input: dict[str, Any], duration_s: float = 0.4
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    reports: list[dict[str, Any]] = []
    result = await simulate_training(
        job_input, reports.append, asyncio.Event(), storage=bucket.storage, duration_s=duration_s
    )
    return result, reports


@pytest.mark.asyncio
async def test_a_run_reads_every_image_reports_progress_and_writes_a_real_lora(bucket: Bucket) -> None:
    bucket.add_images(6)
    bucket.add_file("img 0.txt", b"0003_european_30_female, smiling, outdoors")
    job_input = bucket.job_input(dim=16, alpha=8, lr=0.0003, steps=1800)
    started = time.monotonic()
    result, reports = await run(bucket, job_input, duration_s=0.8)
    elapsed = time.monotonic() - started

    assert 0.7 <= elapsed < 3.0  # spread over the requested duration
    assert sorted(bucket.storage.reads) == sorted(bucket.urls)  # every file really read

    phases = [r["phase"] for r in reports]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == PHASES
    steps = [r["step"] for r in reports]
    assert steps == sorted(steps) and steps[0] == 0
    training = [r for r in reports if r["phase"] == "training"]
    assert training[-1]["step"] == 1800 and all(r["total"] == 1800 for r in reports)
    assert len(training) <= 0.8 * 0.8 * 10 + 2  # at most ~10 updates per second
    losses = [r["loss"] for r in training if "loss" in r]
    assert losses and all(0 < value < 1 for value in losses)
    assert losses[-1] < losses[0]  # a decaying curve
    assert all("simulat" in r["message"] for r in reports)

    output_url = job_input["training_config"]["output_url"]
    lora_path = path_from_file_url(output_url)
    data = lora_path.read_bytes()
    assert result["status"] == "success" and result["simulation"] is True
    assert result["loraUrl"] == output_url and result["loraName"] == "actor_0003_V1.safetensors"
    assert "random weights" in result["message"]
    assert result["model_info"] == {
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "network_dim": 16,
        "network_alpha": 8.0,
        "max_train_steps": 1800,
        "learning_rate": 0.0003,
        "base_model": "flux1-dev (simulated)",
    }
    assert (await bucket.storage.read_metadata(output_url))["md5"] == hashlib.md5(data).hexdigest()

    info = read_lora_info(lora_path)
    assert info.is_simulation
    assert info.rank == 16 and info.network_dim == 16 and info.network_alpha == 8.0
    assert info.max_train_steps == 1800 and info.learning_rate == 0.0003
    assert info.image_count == 6 and info.metadata["ss_num_train_images"] == "6"
    assert info.output_name == "actor_0003_V1"
    assert info.metadata["ss_optimizer"] == "adamw8bit" and info.metadata["ss_lr_scheduler"] == "cosine"
    assert float(info.metadata["ss_training_started_at"]) <= float(info.metadata["ss_training_finished_at"])
    assert '"smiling": 1' in info.metadata["ss_tag_frequency"]


@pytest.mark.asyncio
async def test_values_come_from_the_workflow_and_the_loss_curve_from_the_request_id(bucket: Bucket) -> None:
    bucket.add_images(2)
    job_input = bucket.job_input(request_id="req-1", dim=4, alpha=1, steps=30)
    # A real worker runs the graph: training_config's copies of the values are informational.
    job_input["training_config"]["max_train_steps"] = 9999
    first, reports_a = await run(bucket, job_input, duration_s=0.3)
    _, reports_b = await run(bucket, copy.deepcopy(job_input), duration_s=0.3)
    assert first["model_info"]["max_train_steps"] == 30 and first["model_info"]["network_dim"] == 4

    def curve(reports: list[dict[str, Any]]) -> dict[int, float]:
        return {r["step"]: r["loss"] for r in reports if "loss" in r}

    assert curve(reports_a) == curve(reports_b) and len(curve(reports_a)) >= 2
    other = copy.deepcopy(job_input)
    other["training_config"]["request_id"] = "req-2"
    _, reports_c = await run(bucket, other, duration_s=0.3)
    assert curve(reports_c) != curve(reports_a)


@pytest.mark.asyncio
async def test_few_steps_are_reported_one_by_one(bucket: Bucket) -> None:
    bucket.add_images(1)
    _, reports = await run(bucket, bucket.job_input(steps=3), duration_s=0.5)
    assert [r["step"] for r in reports if r["phase"] == "training"] == [0, 1, 2, 3]


@pytest.mark.asyncio
async def test_cancel_mid_training_stops_promptly_and_writes_nothing(bucket: Bucket) -> None:
    bucket.add_images(6)
    job_input = bucket.job_input(steps=2000)
    cancelled = asyncio.Event()
    training_seen = asyncio.Event()
    reports: list[dict[str, Any]] = []

    def report(payload: dict[str, Any]) -> None:
        reports.append(payload)
        if payload["phase"] == "training" and payload["step"] > 0:
            training_seen.set()

    worker = make_worker(bucket.storage, duration_s=3.0)
    task = asyncio.create_task(worker(job_input, report, cancelled))
    await asyncio.wait_for(training_seen.wait(), timeout=5)
    cancelled.set()
    set_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    assert time.monotonic() - set_at < 0.2
    assert 0 < reports[-1]["step"] < 2000
    assert not path_from_file_url(job_input["training_config"]["output_url"]).exists()


@pytest.mark.asyncio
async def test_a_missing_training_image_fails_the_job_naming_it(bucket: Bucket) -> None:
    bucket.add_images(5)
    gone = bucket.add_file("gone.png", b"")
    gone.unlink()
    with pytest.raises(WorkerFailure) as caught:
        await run(bucket, bucket.job_input())
    assert caught.value.error_type == "FileNotFoundError"
    assert "gone.png" in caught.value.message
    assert not path_from_file_url(bucket.job_input()["training_config"]["output_url"]).exists()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["not an image", "truncated png"])
async def test_a_corrupt_image_fails_the_job_naming_it(bucket: Bucket, tmp_path: Path, kind: str) -> None:
    bucket.add_images(5)
    if kind == "not an image":
        content = b"this is a text file saved with a .png name"
    else:
        good = tmp_path / "good.png"
        Image.effect_noise((256, 256), 60).convert("RGB").save(good)
        content = good.read_bytes()[:-2000]
    bucket.add_file("broken shot.png", content)
    with pytest.raises(WorkerFailure) as caught:
        await run(bucket, bucket.job_input())
    assert "broken shot.png" in caught.value.message
    assert caught.value.traceback_text  # the worker-side details are kept


@pytest.mark.asyncio
async def test_a_caption_that_is_not_utf8_fails_naming_it(bucket: Bucket) -> None:
    bucket.add_images(2)
    bucket.add_file("img 0.txt", "café, ünïcode".encode("latin-1"))
    with pytest.raises(WorkerFailure, match=r"img 0\.txt") as caught:
        await run(bucket, bucket.job_input())
    assert caught.value.error_type == "UnicodeDecodeError"


@pytest.mark.asyncio
async def test_captions_alone_are_nothing_to_train_on(bucket: Bucket) -> None:
    bucket.add_file("a.txt", b"a caption")
    with pytest.raises(WorkerFailure, match="nothing to train on"):
        await run(bucket, bucket.job_input())


def _drop(path: str) -> Any:
    def change(job: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = job
        for key in parents:
            target = target[key]
        del target[last]

    return change


def _set(path: str, value: Any) -> Any:
    def change(job: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = job
        for key in parents:
            target = target[key]
        target[last] = value

    return change


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_drop("training_data"), "training_data"),
        (_set("training_data.s3_urls", []), "s3_urls"),
        (_drop("training_config.output_url"), "output_url"),
        (_set("training_config.model_name", "my lora"), "model_name"),
        (_set("training_config.contract_version", 3), "contract_version 3"),
        (_set("workflow", {}), "workflow is empty"),
        (_set("workflow.107.class_type", "InitSDXLLoRATraining"), "no InitFluxLoRATraining node"),
        (_drop("workflow.107"), "links to node '107'"),
        (_drop("workflow.107.inputs.network_dim"), "network_dim"),
        (_set("workflow.107.inputs.network_dim", "16"), "network_dim must be a int"),
        (_set("workflow.107.inputs.max_train_steps", 0), "max_train_steps = 0 is outside"),
        (_set("workflow.107.inputs.learning_rate", ["95", 0]), "learning_rate is a link"),
        (_set("workflow.4.inputs.network_trainer", ["999", 0]), "'999', which is not in the workflow"),
        (_set("workflow.133", {"inputs": {}}), "node '133' has no class_type"),
    ],
)
async def test_malformed_input_fails_with_a_value_error(bucket: Bucket, change: Any, expected: str) -> None:
    bucket.add_images(1)
    job_input = bucket.job_input()
    change(job_input)
    reports: list[dict[str, Any]] = []
    with pytest.raises(WorkerFailure) as caught:
        await simulate_training(job_input, reports.append, asyncio.Event(), storage=bucket.storage, duration_s=0.3)
    assert caught.value.error_type == "ValueError"
    assert expected in caught.value.message
    assert reports == [] and bucket.storage.reads == []  # refused before any work


@pytest.mark.asyncio
async def test_input_that_is_not_an_object_is_refused(bucket: Bucket) -> None:
    with pytest.raises(WorkerFailure, match="JSON object"):
        await simulate_training(["x"], lambda _: None, asyncio.Event(), storage=bucket.storage)  # type: ignore[arg-type]


def test_worker_failure_reports_runpod_style_fields() -> None:
    failure = WorkerFailure("FileNotFoundError", "img.png is missing", "Traceback ...")
    assert failure.as_error_fields() == {
        "error_type": "FileNotFoundError",
        "error_message": "img.png is missing",
        "error_traceback": "Traceback ...",
    }
    assert '"error_message": "img.png is missing"' in failure.as_error_string()


@pytest.mark.asyncio
async def test_decoding_building_and_hashing_run_off_the_event_loop(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Measuring loop stalls is noisy on a busy machine; where the blocking work runs is not. The
    # real functions run, wrapped to record the thread they ran on.
    bucket.add_images(3)
    threads: dict[str, list[bool]] = {"decode": [], "build": [], "hash": []}

    def spy(kind: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            threads[kind].append(threading.current_thread() is threading.main_thread())
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(worker_module, "decode_image", spy("decode", worker_module.decode_image))
    monkeypatch.setattr(worker_module, "make_lora_bytes", spy("build", worker_module.make_lora_bytes))
    monkeypatch.setattr(worker_module, "_digests", spy("hash", worker_module._digests))
    await run(bucket, bucket.job_input(), duration_s=0.3)
    assert threads == {"decode": [False] * 3, "build": [False], "hash": [False]}


@pytest.mark.asyncio
async def test_the_worker_runs_the_request_the_app_builds(bucket: Bucket) -> None:
    # The real template and request builder, end to end: what the app sends is what the worker runs.
    bucket.add_images(3)
    params = TrainingParameters(
        learning_rate=0.00025, max_train_steps=12_000, network_dim=12, network_alpha=6, num_repeats=2
    )
    built = build_run_request(
        actor=Actor(id=3, name="0003_european_30_female"),
        params=params,
        version_name="V2",
        training_urls=bucket.urls,
        output_url=bucket.storage.model_url(3, "actor_0003_V2"),
        webhook_base_url=None,
    )
    result, reports = await run(bucket, built.body["input"], duration_s=0.3)
    assert reports[-1]["total"] == 12_000 and max(r["step"] for r in reports) == 12_000
    info = read_lora_info(path_from_file_url(result["loraUrl"]))
    assert (info.rank, info.network_alpha, info.learning_rate, info.max_train_steps) == (12, 6.0, 0.00025, 12_000)
    assert info.image_count == 3 and info.metadata["ss_num_train_images"] == "6"
    assert info.output_name == "actor_0003_V2"
