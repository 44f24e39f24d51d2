"""The sandbox draws (issue 12, item 3): contract v2 samples, checkpoints and the generate task."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from actor_trainer.core.lora_file import read_lora_info
from actor_trainer.core.storage.local import path_from_file_url
from actor_trainer.sandbox.samples import SAMPLE_SIZE, render_sample, render_trial, source_thumbnail
from actor_trainer.sandbox.worker import simulate_training
from tests.core.test_sandbox_worker import Bucket

PROMPTS = ["a portrait photo of tok, soft light", "a full body photo of tok, standing", "tok in a cafe"]


def actor_images(bucket: Bucket, count: int = 3) -> None:
    for i in range(count):
        path = bucket.path(f"face {i}.png")
        image = Image.new("RGB", (320, 400), (200, 120 + 30 * i, 60))
        for y in range(0, 400, 40):  # stripes: something a blur visibly changes
            image.paste((20, 20, 180 - 40 * i), (0, y, 320, y + 12))
        image.save(path)
        bucket.urls.append(path.as_uri())


def v2_input(bucket: Bucket, *, steps: int = 1000, every: int = 500, keep: bool = False) -> dict[str, Any]:
    job = bucket.job_input(steps=steps)
    config = job["training_config"]
    sample_steps = list(range(every, steps + 1, every))
    base = bucket.storage.model_url(3, "actor_0003_V1").rsplit("/", 1)[0]
    config["contract_version"] = 2
    config["sampling"] = {
        "prompts": PROMPTS,
        "seed": 7,
        "width": 512,
        "height": 512,
        "steps": 20,
        "guidance": 3.5,
        "sample_steps": sample_steps,
    }
    config["sample_urls"] = [
        [f"{base}/actor_0003_V1/samples/step{s:06d}_p{p:02d}.png" for p in range(len(PROMPTS))] for s in sample_steps
    ]
    if keep:
        config["checkpoint_urls"] = {str(s): f"{base}/actor_0003_V1_step{s:06d}.safetensors" for s in sample_steps}
    return job


@pytest.fixture
def bucket(tmp_path: Path) -> Bucket:
    return Bucket(tmp_path / "bucket")


def load(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.asyncio
async def test_a_v2_run_draws_samples_at_each_sample_step_cumulatively(bucket: Bucket) -> None:
    actor_images(bucket)
    job = v2_input(bucket, steps=1500, every=500, keep=True)
    reports: list[dict[str, Any]] = []
    result = await simulate_training(job, reports.append, asyncio.Event(), storage=bucket.storage, duration_s=0.6)

    assert all(r["contract_version"] == 2 for r in reports) and result["contract_version"] == 2
    sampling = [r for r in reports if r["phase"] == "sampling"]
    assert sampling, "no sampling phase was reported"
    # Cumulative: the list in each payload never shrinks, and it grows by one row per sample step.
    counts = [len(r.get("samples", [])) for r in reports]
    assert counts == sorted(counts) and counts[-1] == 9
    assert {len(r.get("samples", [])) for r in reports} >= {0, 3, 6, 9}
    samples = result["samples"]
    assert [(s["step"], s["index"]) for s in samples] == [(st, i) for st in (500, 1000, 1500) for i in range(3)]
    assert all(s["seed"] == 7 and s["prompt"] == PROMPTS[s["index"]] for s in samples)
    urls = job["training_config"]["sample_urls"]
    assert [s["url"] for s in samples] == [u for row in urls for u in row]
    for s in samples:
        image = Image.open(path_from_file_url(s["url"]))
        assert image.format == "PNG" and image.size == (SAMPLE_SIZE, SAMPLE_SIZE)
    # The same prompt settles as the step grows: the last sample differs from the first.
    first = Image.open(path_from_file_url(samples[0]["url"])).convert("RGB")
    last = Image.open(path_from_file_url(samples[6]["url"])).convert("RGB")
    assert max(ImageStat.Stat(ImageChops.difference(first, last)).mean) > 5
    # Checkpoints were kept where asked, as real (simulated) LoRAs.
    assert [c["step"] for c in result["checkpoints"]] == [500, 1000, 1500]
    for c in result["checkpoints"]:
        assert read_lora_info(path_from_file_url(c["url"])).is_simulation


@pytest.mark.asyncio
async def test_a_v1_run_samples_nothing_and_still_states_its_contract(bucket: Bucket) -> None:
    actor_images(bucket, 1)
    reports: list[dict[str, Any]] = []
    result = await simulate_training(
        bucket.job_input(steps=100), reports.append, asyncio.Event(), storage=bucket.storage, duration_s=0.2
    )
    assert "samples" not in result and all("samples" not in r for r in reports)
    assert all(r["phase"] != "sampling" for r in reports)


def test_samples_look_like_the_actor_settle_with_the_step_and_are_stamped() -> None:
    photo = Image.new("RGB", (300, 300), (230, 30, 30))
    sources = [photo]
    early = load(render_sample(sources, prompt=PROMPTS[0], seed=1, step=100, total=2000, index=0))
    late = load(render_sample(sources, prompt=PROMPTS[0], seed=1, step=2000, total=2000, index=0))
    again = render_sample(sources, prompt=PROMPTS[0], seed=1, step=100, total=2000, index=0)
    assert again == render_sample(sources, prompt=PROMPTS[0], seed=1, step=100, total=2000, index=0)  # deterministic
    # The finished sample is (mostly) the actor's red; the early one far less so.
    centre = (64, 128, 192, 240)
    red_late = ImageStat.Stat(late.crop(centre)).mean
    red_early = ImageStat.Stat(early.crop(centre)).mean
    assert red_late[0] > 200 and red_late[1] < 60
    assert abs(red_early[0] - 230) + abs(red_early[1] - 30) > abs(red_late[0] - 230) + abs(red_late[1] - 30) + 40
    # The stamp: the yellow-on-black label in the top-left corner.
    corner = late.crop((0, 0, 100, 20))
    assert any(r > 200 and g > 150 and b < 80 for r, g, b in corner.get_flattened_data())


def test_trials_are_deterministic_per_seed_and_differ_between_seeds() -> None:
    sources = [source_thumbnail(_png(Image.new("RGB", (200, 260), (40, 160, 90))))]
    a = render_trial(sources, prompt="tok on a beach", seed=5, index=0)
    assert a == render_trial(sources, prompt="tok on a beach", seed=5, index=0)
    assert a != render_trial(sources, prompt="tok on a beach", seed=6, index=0)
    assert a != render_trial(sources, prompt="tok in the snow", seed=5, index=0)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.asyncio
async def test_a_generate_job_draws_count_images_to_the_image_urls(bucket: Bucket) -> None:
    actor_images(bucket, 2)
    lora_url = bucket.storage.model_url(3, "actor_0003_V1")
    await bucket.storage.write_url(lora_url, b"lora")
    base = lora_url.split("/models/")[0]
    urls = [f"{base}/trials/actor_0003_V1/req-9_{i:02d}.png" for i in range(2)]
    job = {
        "task": "generate",
        "generate": {
            "lora_url": lora_url,
            "prompt": "tok on a beach",
            "negative": "",
            "seed": 11,
            "count": 2,
            "strength": 1.0,
            "width": 1024,
            "height": 1024,
            "steps": 20,
            "guidance": 3.5,
            "image_urls": urls,
            "contract_version": 2,
        },
    }
    reports: list[dict[str, Any]] = []
    result = await simulate_training(job, reports.append, asyncio.Event(), storage=bucket.storage, duration_s=0.2)
    assert result["contract_version"] == 2
    assert result["images"] == [
        {"url": urls[i], "prompt": "tok on a beach", "seed": 11 + i, "index": i} for i in range(2)
    ]
    assert reports[-1]["step"] == 2 and reports[-1]["contract_version"] == 2
    for url in urls:
        assert Image.open(path_from_file_url(url)).size == (SAMPLE_SIZE, SAMPLE_SIZE)
    # A missing LoRA fails the job, as a real worker's download would.
    job["generate"]["lora_url"] = bucket.storage.model_url(3, "actor_0003_V9")
    from actor_trainer.sandbox.worker_errors import WorkerFailure

    with pytest.raises(WorkerFailure, match="not found"):
        await simulate_training(job, reports.append, asyncio.Event(), storage=bucket.storage, duration_s=0.2)
