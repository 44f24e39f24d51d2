"""Shared set-up for the reference worker's tests (packaging/worker): load it, build real jobs, run them.

The worker is loaded by path (packaging/worker is not a package of the app); its requests are the
app's own `build_run_request`, its S3 is moto's server (tests/fixtures/s3.py), its ComfyUI the
stand-in of tests/fixtures/fake_comfyui.py.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from actor_trainer.core.models import Actor, TrainingParameters
from actor_trainer.core.request_builder import build_run_request
from actor_trainer.core.storage.s3 import S3Storage
from tests.fixtures.fake_comfyui import FakeComfyUI
from tests.fixtures.s3 import S3Bucket
from tests.waits import WAIT_S

ROOT = Path(__file__).resolve().parents[2]
WORKER_DIR = ROOT / "packaging" / "worker"

ACTOR = Actor(id=7, name="0007_test_actor")
TRIGGER = ACTOR.name
PHASES = ["downloading", "caching", "training", "saving", "uploading"]


def load_worker() -> Any:
    """handler.py as a module, its helper modules beside it importable (as in the image)."""
    if "actor_trainer_reference_worker" in sys.modules:
        return sys.modules["actor_trainer_reference_worker"]
    if str(WORKER_DIR) not in sys.path:
        sys.path.insert(0, str(WORKER_DIR))
    spec = importlib.util.spec_from_file_location("actor_trainer_reference_worker", WORKER_DIR / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return out.getvalue()


FILES = {
    "face 1.png": png((200, 120, 90)),
    "face 1.txt": f"{TRIGGER}, smiling".encode(),
    "side view #2.png": png((90, 120, 200)),
}


async def prepare(
    bucket: S3Bucket, monkeypatch: Any, *, presigned: bool = False, files: dict[str, bytes] | None = None
) -> S3Storage:
    """Upload the actor's training files; point the worker's boto3 at the test bucket via the environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", bucket.endpoint_url)
    storage = bucket.storage(prefix="studio", url_style="presigned" if presigned else "s3")
    for name, data in (FILES if files is None else files).items():
        await storage.write_url(storage.training_data_url(ACTOR.id, name), data)
    return storage


def model_name(version: str = "V1") -> str:
    return f"actor_0007_{version}"


async def make_job(storage: S3Storage, params: TrainingParameters, version: str = "V1") -> tuple[dict[str, Any], str]:
    listed = await storage.list_training_data(ACTOR.id)
    urls = [await storage.worker_url(storage.url_for_key(obj.key)) for obj in listed]
    output_url = storage.model_url(ACTOR.id, model_name(version))
    built = build_run_request(
        actor=ACTOR,
        params=params,
        version_name=version,
        training_urls=urls,
        output_url=output_url,
        webhook_base_url=None,
    )
    return {"id": f"job-{version}-e1", "input": built.body["input"]}, output_url


async def run(
    worker: Any,
    job: dict[str, Any],
    fake: FakeComfyUI,
    work_dir: Path,
    updates: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Any:
    kwargs.setdefault("cancel_timeout", 10)
    kwargs.setdefault("state", worker.WorkerState())
    return await worker.handle(
        job,
        comfy_url=kwargs.pop("comfy_url", fake.url),
        progress=(updates if updates is not None else []).append,
        work_dir=work_dir,
        min_interval=0,
        start_timeout=kwargs.pop("start_timeout", 5),
        comfy_output_dir=fake.output_dir,
        model_roots=[fake.models_dir],
        **kwargs,
    )


async def wait_until(condition: Callable[[], bool], within: float = WAIT_S, what: str = "condition") -> None:
    """Poll `condition` (no fixed sleeps in tests: wait for what should happen, bounded by tests/waits.py)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def check_progress(updates: list[dict[str, Any]], total: int) -> None:
    phases = [PHASES.index(u["phase"]) for u in updates]
    steps = [u["step"] for u in updates]
    assert phases == sorted(phases), [u["phase"] for u in updates]
    assert sorted(set(phases)) == list(range(len(PHASES)))
    assert steps == sorted(steps)
    assert {u["total"] for u in updates} == {total}
    # ComfyUI's last loop value is steps−1: the worker reports the final step as done, in training.
    assert max(u["step"] for u in updates if u["phase"] == "training") == total
    assert updates[-1]["phase"] == "uploading" and updates[-1]["step"] == total


def default_params(**overrides: Any) -> TrainingParameters:
    return TrainingParameters(**{"max_train_steps": 30, **overrides})
