"""Contract v2's generate task ("Try this version"): Flux dev with one version's LoRA.

`input.generate` names the LoRA (`lora_url`), the prompt, seed, count and one upload URL per image
(`image_urls`); `input.workflow` is the app's generation graph. The worker downloads the LoRA into
ComfyUI's `models/loras/` under a unique name, sets every LoraLoaderModelOnly's `lora_name` to it,
queues the graph, uploads the images SaveImage wrote (image i to `image_urls[i]`) and returns
`{"images": [{"url", "prompt", "seed", "index"}], "contract_version": 2}`. Whatever way the job
ends, the prompt is stopped, the LoRA and the images are deleted and ComfyUI frees its memory;
a cancelled job re-raises after that.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from comfy_client import ComfyClient, PromptFailed, PromptInterrupted, node_images, output_images
from errors import ComfyError, JobInputError
from progress import Progress
from samples import public_url
from transfer import download, parse_s3_url, upload_file

log = logging.getLogger("actor_trainer_worker")

CONTRACT_VERSION = 2
MAX_IMAGES = 8


def read_generate(job_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(`input.generate`, a copy of the workflow), checked; raises JobInputError."""
    gen = job_input.get("generate")
    if not isinstance(gen, dict):
        raise JobInputError("A generate job needs an input.generate object.")
    version = gen.get("contract_version", CONTRACT_VERSION)
    if version != CONTRACT_VERSION:
        raise JobInputError(f"Unsupported contract_version {version!r} for a generate job: this worker speaks 2.")
    lora_url = gen.get("lora_url")
    if not isinstance(lora_url, str) or not lora_url.startswith(("s3://", "https://", "http://")):
        raise JobInputError("input.generate.lora_url must be an s3:// or https:// URL.")
    if lora_url.startswith("s3://"):
        parse_s3_url(lora_url)
    count, urls = gen.get("count"), gen.get("image_urls")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_IMAGES:
        raise JobInputError(f"input.generate.count must be 1–{MAX_IMAGES}.")
    if (
        not isinstance(urls, list)
        or len(urls) != count
        or not all(isinstance(u, str) and u.startswith(("s3://", "https://", "http://")) for u in urls)
    ):
        raise JobInputError(f"input.generate.image_urls must hold {count} s3:// or https:// URLs (one per image).")
    if not isinstance(gen.get("prompt"), str) or not gen["prompt"].strip():
        raise JobInputError("input.generate.prompt is empty.")
    workflow = job_input.get("workflow")
    if not isinstance(workflow, dict) or not workflow:
        raise JobInputError("The generate job has no workflow.")
    loras = [k for k, n in workflow.items() if isinstance(n, dict) and n.get("class_type") == "LoraLoaderModelOnly"]
    if len(loras) != 1 or not isinstance(workflow[loras[0]].get("inputs"), dict):
        raise JobInputError(f"The generation workflow must have one LoraLoaderModelOnly node, not {len(loras)}.")
    if not any(isinstance(n, dict) and n.get("class_type") == "SaveImage" for n in workflow.values()):
        raise JobInputError("The generation workflow has no SaveImage node.")
    return gen, copy.deepcopy(workflow)


async def run_generate(
    job_input: dict[str, Any],
    *,
    comfy: ComfyClient,
    progress: Progress,
    s3_client_factory: Callable[[], Any],
    lora_dir: Path,
    comfy_output_dir: Path | None,
    idle_timeout: float,
    cancel_timeout: float,
    min_interval: float = 1.0,
) -> dict[str, Any]:
    gen, workflow = read_generate(job_input)
    if comfy_output_dir is None:
        raise JobInputError("This worker does not know ComfyUI's output folder (set COMFY_OUTPUT_DIR).")
    count = int(gen["count"])
    sent_at = 0.0

    def report(phase: str, message: str, step: int = 0, total: int = 0, *, force: bool = False) -> None:
        nonlocal sent_at
        now = time.monotonic()
        if not force and now - sent_at < min_interval:
            return
        sent_at = now
        try:
            progress(
                {"phase": phase, "step": step, "total": total, "message": message, "contract_version": CONTRACT_VERSION}
            )
        except Exception:
            log.warning("could not send a progress update", exc_info=True)

    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="try-transfer")
    lora_file = lora_dir / f"try_{uuid.uuid4().hex[:12]}.safetensors"
    prompt_id: str | None = None
    queueing: asyncio.Future[str] | None = None
    prompt_over = False
    images: list[Path] = []

    async def in_pool(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(pool.submit(lambda: fn(*args, **kwargs)))

    try:
        await comfy.ensure_idle(cancel_timeout)
        s3 = await in_pool(s3_client_factory)
        report("downloading", "downloading the LoRA", force=True)
        await in_pool(lambda: lora_dir.mkdir(parents=True, exist_ok=True))
        await in_pool(download, gen["lora_url"], lora_file, s3, stop)
        for node in workflow.values():
            if isinstance(node, dict) and node.get("class_type") == "LoraLoaderModelOnly":
                node["inputs"]["lora_name"] = lora_file.name
        saves = {k for k, n in workflow.items() if isinstance(n, dict) and n.get("class_type") == "SaveImage"}

        def on_event(node: str, value: int | None, maximum: int | None) -> None:
            if value is not None and maximum:
                report("generating", f"step {value + 1}/{maximum}", value + 1, maximum, force=value + 1 == maximum)

        def on_output(node: str, output: dict[str, Any]) -> None:
            if node in saves:
                images.extend(node_images(output, comfy_output_dir))

        client_id = uuid.uuid4().hex
        async with await comfy.connect(client_id) as ws:
            queueing = asyncio.ensure_future(comfy.queue_prompt(workflow, client_id))
            prompt_id = await asyncio.shield(queueing)
            report("generating", f"generating {count} image(s)", force=True)
            try:
                await comfy.follow(ws, prompt_id, on_event, idle_timeout, on_output=on_output)
            except (PromptFailed, PromptInterrupted):
                prompt_over = True
                raise
            prompt_over = True
        if len(images) < count:
            raise ComfyError(f"ComfyUI saved {len(images)} image(s), {count} were asked for.")
        report("uploading", f"uploading {count} image(s)", force=True)
        result: list[dict[str, Any]] = []
        for index, (path, url) in enumerate(zip(images[:count], gen["image_urls"], strict=True)):
            await in_pool(upload_file, path, url, s3, stop, content_type="image/png")
            result.append({"url": public_url(url), "prompt": gen["prompt"], "seed": gen.get("seed", 0), "index": index})
        return {"images": result, "contract_version": CONTRACT_VERSION}
    finally:
        stop.set()
        if prompt_id is None and queueing is not None:
            try:  # cancelled while ComfyUI was queueing the prompt: its answer names the prompt to stop
                prompt_id = await asyncio.wait_for(queueing, 60)
            except Exception:
                pass  # refused or unreachable: there is no prompt to stop
        if prompt_id is not None and not prompt_over:
            how = await comfy.stop(prompt_id, cancel_timeout)
            log.info("prompt %s stopped on ComfyUI: %s", prompt_id, how)
        await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)
        if prompt_id is not None:
            try:
                images.extend(output_images(await comfy.history(prompt_id), comfy_output_dir))
            except ComfyError as exc:
                log.warning("could not read the prompt's history: %s", exc)
        for path in {*images, lora_file, lora_file.with_name(lora_file.name + ".part")}:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc)
        try:
            await comfy.free()
        except ComfyError as exc:
            log.warning("%s", exc)
