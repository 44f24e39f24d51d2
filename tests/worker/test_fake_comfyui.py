"""The stand-in ComfyUI keeps ComfyUI's queue, interrupt and free semantics (server.py, main.py,
execution.py), so that the worker's tests hold against what the real server does:
/queue delete removes waiting prompts only, /interrupt with a prompt id touches only that prompt
while it runs, a stale interrupt is cleared when the next prompt starts, /free is applied after
the running prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from actor_trainer.core.request_builder import build_run_request
from tests.fixtures.fake_comfyui import FakeComfyUI, fake_comfyui  # noqa: F401
from tests.worker.worker_support import ACTOR, default_params, png, wait_until


def _workflow(tmp_path: Path, name: str) -> dict[str, Any]:
    built = build_run_request(
        actor=ACTOR,
        params=default_params(max_train_steps=100),
        version_name="V1",
        training_urls=["s3://bucket/a.png"],
        output_url="s3://bucket/out.safetensors",
        webhook_base_url=None,
    )
    workflow = built.body["input"]["workflow"]
    dataset = tmp_path / "datasets" / name
    dataset.mkdir(parents=True, exist_ok=True)
    (dataset / "a.png").write_bytes(png((1, 2, 3)))
    workflow["109"]["inputs"]["dataset_path"] = str(dataset)
    workflow["107"]["inputs"]["output_dir"] = str(tmp_path / "output" / name)
    return workflow


async def _post(session: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json() if response.content_type == "application/json" else None


async def _queue(session: aiohttp.ClientSession, fake: FakeComfyUI) -> tuple[list[str], list[str]]:
    async with session.get(f"{fake.url}/queue") as response:
        answer = await response.json()
    return [i[1] for i in answer["queue_running"]], [i[1] for i in answer["queue_pending"]]


def _ended(fake: FakeComfyUI, prompt_id: str) -> str | None:
    entry = fake.history.get(prompt_id)
    return entry["status"]["messages"][-1][0] if entry else None


@pytest.mark.asyncio
async def test_delete_interrupt_and_free_act_as_comfyui_does(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    fake = fake_comfyui
    fake.hold_at = 10
    async with aiohttp.ClientSession() as session:
        first = await _post(session, f"{fake.url}/prompt", {"prompt": _workflow(tmp_path, "a"), "client_id": "c"})
        second = await _post(session, f"{fake.url}/prompt", {"prompt": _workflow(tmp_path, "b"), "client_id": "c"})
        a, b = first["prompt_id"], second["prompt_id"]
        await wait_until(lambda: fake.holding.is_set(), what="the first prompt to train")
        assert await _queue(session, fake) == ([a], [b])

        await _post(session, f"{fake.url}/queue", {"delete": [a]})  # running: not removed
        await _post(session, f"{fake.url}/interrupt", {"prompt_id": b})  # not running: no interrupt
        await _post(session, f"{fake.url}/free", {"unload_models": True, "free_memory": True})
        assert await _queue(session, fake) == ([a], [b])
        assert not fake._interrupt_flag
        assert fake.trainer_cached and fake.frees_applied == []  # flags wait for the running prompt

        await _post(session, f"{fake.url}/queue", {"delete": [b]})  # waiting: removed
        assert await _queue(session, fake) == ([a], [])
        await _post(session, f"{fake.url}/interrupt", {"prompt_id": a})
        await wait_until(lambda: _ended(fake, a) is not None, what="the first prompt to end")

    assert _ended(fake, a) == "execution_interrupted"
    assert fake.last_step == 10  # stopped where it was, at the next progress tick
    assert fake.frees_applied == [{"unload_models": True, "free_memory": True}]
    assert not fake.trainer_cached and not fake.models_loaded
    assert b not in fake.history  # deleted before it ran


@pytest.mark.asyncio
async def test_a_stale_interrupt_is_cleared_when_the_next_prompt_starts(
    fake_comfyui: FakeComfyUI, tmp_path: Path
) -> None:
    fake = fake_comfyui
    async with aiohttp.ClientSession() as session:
        await _post(session, f"{fake.url}/interrupt", {})  # idle: sets the flag for nothing
        answer = await _post(session, f"{fake.url}/prompt", {"prompt": _workflow(tmp_path, "a"), "client_id": "c"})
        await wait_until(lambda: _ended(fake, answer["prompt_id"]) is not None, what="the prompt to end")
    assert _ended(fake, answer["prompt_id"]) == "execution_success"
    assert fake.last_step == 99  # a loop's last progress value is steps − 1
    assert fake.trainer_cached  # ComfyUI keeps the trainer cached until /free


@pytest.mark.asyncio
async def test_a_model_not_in_its_folder_is_refused_when_queued(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    fake = fake_comfyui
    (fake.models_dir / "vae" / "ae.safetensors").unlink()
    async with aiohttp.ClientSession() as session:
        body = {"prompt": _workflow(tmp_path, "a"), "client_id": "c"}
        async with session.post(f"{fake.url}/prompt", json=body) as response:
            assert response.status == 400
            answer = await response.json()
    assert answer["node_errors"]["2"]["class_type"] == "FluxTrainModelSelect"
    assert "vae: 'ae.safetensors' not in []" in answer["node_errors"]["2"]["errors"][0]["details"]
