"""Contract v2 in the simulated worker: samples (and checkpoint LoRAs) while training, and the
"generate" task (docs/worker-contract.md).

A v2 training request carries `training_config.sampling` (prompts with the trigger filled in, one
seed/size/steps/guidance, `sample_steps`), `training_config.sample_urls` (one URL per prompt for
each sample step, decided by the app) and optionally `training_config.checkpoint_urls`
(`{"500": url}`). At each sample step the worker draws one image per prompt (sandbox/samples.py),
writes it to its URL, and from then on every progress payload carries *all* samples so far (RunPod's
`/status` shows only the latest payload); the result lists them and the checkpoints too.

The fields are read defensively from the request: a v1 request (no sampling) samples nothing.
"""

from __future__ import annotations

import asyncio
import functools
import posixpath
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from PIL import Image

from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import Storage
from actor_trainer.sandbox.lora import make_lora_bytes, simulated_metadata
from actor_trainer.sandbox.samples import MAX_SOURCES, render_sample, render_trial, source_thumbnail
from actor_trainer.sandbox.training_files import IMAGE_EXTENSIONS, file_name
from actor_trainer.sandbox.worker_errors import WorkerFailure

#: the highest contract version the sandbox's worker speaks (it always states it)
SANDBOX_CONTRACT_VERSION = 2
SUPPORTED_CONTRACT_VERSIONS = frozenset({1, 2})

Report = Callable[[dict[str, Any]], None]


def _plain(value: Any) -> Any:
    """A pydantic model (once the contract types these fields) or a dict, as plain data."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Sampler:
    """What a v2 training job asked to be sampled, and what has been made so far."""

    prompts: list[str]
    seed: int
    sample_steps: list[int]
    sample_urls: list[list[str]]
    checkpoint_urls: dict[int, str]
    sources: list[Image.Image] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    _done: set[int] = field(default_factory=set)

    @classmethod
    def from_config(cls, config: Any, total: int) -> Sampler | None:
        """The sampler a training_config asks for, or None (v1, or sampling off). Raises
        WorkerFailure for a sampling request that cannot be followed."""
        data = _plain(config)
        if not isinstance(data, dict):
            return None
        sampling = _plain(data.get("sampling"))
        checkpoint_urls = _plain(data.get("checkpoint_urls")) or {}
        if not isinstance(sampling, dict) and not checkpoint_urls:
            return None
        sampling = sampling if isinstance(sampling, dict) else {}
        prompts = [str(p) for p in sampling.get("prompts") or [] if isinstance(p, str)]
        seed = _int(sampling.get("seed")) or 0
        steps_given = sampling.get("sample_steps")
        if isinstance(steps_given, list):
            steps = sorted({s for s in (_int(x) for x in steps_given) if s is not None and 0 < s <= total})
        else:
            every = _int(sampling.get("every")) or 0
            steps = list(range(every, total + 1, every)) if every > 0 else []
        urls_given = _plain(data.get("sample_urls")) or []
        if prompts and steps:
            if (
                not isinstance(urls_given, list)
                or len(urls_given) < len(steps)
                or any(not isinstance(row, list) or len(row) < len(prompts) for row in urls_given[: len(steps)])
            ):
                raise WorkerFailure(
                    "ValueError",
                    f"training_config.sample_urls must hold {len(prompts)} URL(s) for each of the "
                    f"{len(steps)} sample step(s) {steps}.",
                )
        checkpoints: dict[int, str] = {}
        if isinstance(checkpoint_urls, dict):
            for key, url in checkpoint_urls.items():
                step = int(key) if str(key).isdigit() else None
                if step is not None and isinstance(url, str) and url:
                    checkpoints[step] = url
        if not (prompts and steps) and not checkpoints:
            return None
        return cls(
            prompts=prompts if steps else [],
            seed=seed,
            sample_steps=steps if prompts else [],
            sample_urls=[[str(u) for u in row] for row in urls_given[: len(steps)]] if prompts and steps else [],
            checkpoint_urls=checkpoints,
        )

    @property
    def wants_sources(self) -> bool:
        return bool(self.sample_steps) and len(self.sources) < MAX_SOURCES

    async def add_source(self, name: str, data: bytes) -> None:
        if not self.wants_sources:
            return
        try:
            self.sources.append(await asyncio.to_thread(source_thumbnail, data))
        except Exception:
            pass  # the download already decoded it; a source is a nicety

    def due(self, last: int, step: int) -> list[int]:
        """The sample or checkpoint steps passed in (last, step]."""
        wanted = set(self.sample_steps) | set(self.checkpoint_urls)
        return sorted(s for s in wanted if last < s <= step and s not in self._done)

    async def take(self, step: int, total: int, storage: Storage, lora: Callable[[int], bytes]) -> None:
        """Draw and upload the samples of `step`, and its checkpoint LoRA when one was asked for."""
        self._done.add(step)
        if step in self.sample_steps:
            row = self.sample_urls[self.sample_steps.index(step)]
            made: list[dict[str, Any]] = []
            for index, prompt in enumerate(self.prompts):
                data = await asyncio.to_thread(
                    functools.partial(
                        render_sample, self.sources, prompt=prompt, seed=self.seed, step=step, total=total, index=index
                    )
                )
                await _write(storage, row[index], data, "sample")
                made.append({"url": row[index], "prompt": prompt, "seed": self.seed, "step": step, "index": index})
            self.samples.extend(made)
        url = self.checkpoint_urls.get(step)
        if url is not None:
            data = await asyncio.to_thread(lora, step)
            await _write(storage, url, data, "checkpoint LoRA")
            self.checkpoints.append({"step": step, "url": url})

    def progress_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.samples:
            fields["samples"] = list(self.samples)
        if self.checkpoints:
            fields["checkpoints"] = list(self.checkpoints)
        return fields

    def result_fields(self) -> dict[str, Any]:
        return {"samples": list(self.samples), "checkpoints": list(self.checkpoints)}


async def _write(storage: Storage, url: str, data: bytes, what: str) -> None:
    try:
        await storage.write_url(url, data)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        reason = exc.message if isinstance(exc, StorageError) else str(exc) or type(exc).__name__
        raise WorkerFailure(
            type(exc).__name__, f"Could not upload the {what} to {url}: {reason}", traceback.format_exc()
        ) from exc


def checkpoint_lora(*, network_dim: int, network_alpha: float, output_name: str, seed: int, step: int) -> bytes:
    """A simulated LoRA for one checkpoint (blocking)."""
    metadata = {**simulated_metadata_for_checkpoint(output_name, step)}
    return make_lora_bytes(network_dim=network_dim, network_alpha=network_alpha, metadata=metadata, seed=seed + step)


def simulated_metadata_for_checkpoint(output_name: str, step: int) -> dict[str, str]:
    return {"ss_output_name": f"{output_name}_step{step:06d}", "ss_steps": str(step)}


# --- the generate task ----------------------------------------------------------------------------

_ACTOR_IN_URL = re.compile(r"actors/(\d{4})/")
GENERATE_RESULT_MESSAGE = "Simulated generation — drawn from the actor's training images, not by a model."


async def simulate_generate(
    job_input: dict[str, Any], report: Report, cancelled: asyncio.Event, *, storage: Storage, duration_s: float
) -> dict[str, Any]:
    """A "generate" job (contract v2): check the LoRA is there, draw `count` images from the actor's
    training images for the prompt and seed, write them to `image_urls`, return them."""
    spec = _plain(job_input.get("generate"))
    if not isinstance(spec, dict):
        raise WorkerFailure("ValueError", "A generate job needs an 'input.generate' object.")
    version = _int(spec.get("contract_version")) or SANDBOX_CONTRACT_VERSION
    if version < 2 or version not in SUPPORTED_CONTRACT_VERSIONS:
        raise WorkerFailure("ValueError", f"A generate job needs contract_version 2, not {version}.")
    lora_url, prompt = spec.get("lora_url"), spec.get("prompt")
    if not isinstance(lora_url, str) or not lora_url:
        raise WorkerFailure("ValueError", "input.generate.lora_url is missing.")
    if not isinstance(prompt, str) or not prompt.strip():
        raise WorkerFailure("ValueError", "input.generate.prompt is empty.")
    seed = _int(spec.get("seed")) or 0
    count = _int(spec.get("count")) or 1
    strength = spec.get("strength", 1.0)
    strength = float(strength) if isinstance(strength, int | float) and not isinstance(strength, bool) else 1.0
    urls = [u for u in spec.get("image_urls") or [] if isinstance(u, str) and u]
    if len(urls) < count:
        raise WorkerFailure("ValueError", f"input.generate.image_urls holds {len(urls)} URL(s) for {count} image(s).")

    def progress(step: int, message: str) -> None:
        report(
            {
                "phase": "generating",
                "step": step,
                "total": count,
                "message": message,
                "contract_version": SANDBOX_CONTRACT_VERSION,
            }
        )

    progress(0, "simulated worker: loading the LoRA")
    try:
        if not await storage.exists_url(lora_url):
            raise WorkerFailure("FileNotFoundError", f"The LoRA was not found at {lora_url}.")
    except StorageError as exc:
        raise WorkerFailure(type(exc).__name__, f"Could not read the LoRA at {lora_url}: {exc.message}") from exc
    sources = await _actor_sources(storage, lora_url)
    if not sources:
        raise WorkerFailure("ValueError", "The sandbox found none of the actor's training images to draw from.")
    pause = min(3.0, max(0.0, duration_s * 0.05)) / max(1, count)
    images: list[dict[str, Any]] = []
    for index in range(count):
        if cancelled.is_set():
            raise asyncio.CancelledError("the job was cancelled")
        data = await asyncio.to_thread(
            functools.partial(render_trial, sources, prompt=prompt, seed=seed, index=index, strength=strength)
        )
        await _write(storage, urls[index], data, "image")
        images.append({"url": urls[index], "prompt": prompt, "seed": seed + index, "index": index})
        progress(index + 1, f"simulated worker: image {index + 1}/{count}")
        if pause > 0:
            try:
                await asyncio.wait_for(cancelled.wait(), timeout=pause)
            except TimeoutError:
                pass
    if cancelled.is_set():
        raise asyncio.CancelledError("the job was cancelled")
    return {
        "images": images,
        "contract_version": SANDBOX_CONTRACT_VERSION,
        "simulation": True,
        "message": GENERATE_RESULT_MESSAGE,
    }


async def _actor_sources(storage: Storage, lora_url: str) -> list[Image.Image]:
    """Thumbnails of the actor's training images, found from the LoRA's key (`actors/NNNN/…`)."""
    match = _ACTOR_IN_URL.search(unquote(urlsplit(lora_url).path) or lora_url) or _ACTOR_IN_URL.search(lora_url)
    if match is None:
        return []
    actor_id = int(match.group(1))
    try:
        objects = await storage.list_training_data(actor_id)
    except StorageError:
        return []
    sources: list[Image.Image] = []
    for obj in objects:
        name = getattr(obj, "name", "") or ""
        if posixpath.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
            continue
        url = storage.training_data_url(actor_id, name)
        try:
            data = await storage.read_url(url)
            sources.append(await asyncio.to_thread(source_thumbnail, data))
        except Exception:
            continue
        if len(sources) >= MAX_SOURCES:
            break
    return sources


__all__ = [
    "SANDBOX_CONTRACT_VERSION",
    "SUPPORTED_CONTRACT_VERSIONS",
    "Sampler",
    "checkpoint_lora",
    "file_name",
    "simulate_generate",
    "simulated_metadata",
]
