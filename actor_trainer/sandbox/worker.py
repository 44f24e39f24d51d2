"""The sandbox's simulated training worker, following docs/worker-contract.md.

It does what a real ComfyUI/FluxTrainer worker does, minus the GPU: validates the job input and
the workflow, really reads every training file from storage and decodes every image (a missing or
broken file fails the job, as it would on RunPod), reports progress through the five phases,
writes a real `.safetensors` LoRA of the requested rank to `output_url`, and returns the contract's
result. The training itself is simulated: the step counter and a plausible loss curve advance over
`duration_s`, and the LoRA holds random weights. Every progress message and the result say so.

The endpoint calls a worker as `await worker(job_input, report, cancelled)`; `make_worker` binds
the storage and duration. Cancelling (setting `cancelled`) stops the run within one update and
raises asyncio.CancelledError; a job that cannot run raises WorkerFailure.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import math
import posixpath
import random
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from actor_trainer.core.contract import CONTRACT_VERSION, JobInput
from actor_trainer.core.errors import StorageError
from actor_trainer.core.storage.base import Storage, StorageObjectNotFoundError
from actor_trainer.sandbox.lora import LoraBuildStopped, make_lora_bytes, simulated_metadata
from actor_trainer.sandbox.sampling_run import (
    SANDBOX_CONTRACT_VERSION,
    SUPPORTED_CONTRACT_VERSIONS,
    Sampler,
    checkpoint_lora,
    simulate_generate,
)
from actor_trainer.sandbox.timing import resolution_of, simulated_seconds
from actor_trainer.sandbox.training_files import (
    CAPTION_EXTENSIONS,
    IMAGE_EXTENSIONS,
    caption_tags,
    decode_image,
    file_name,
)
from actor_trainer.sandbox.worker_errors import WorkerFailure
from actor_trainer.sandbox.workflow_params import WorkflowParams, read_workflow_params

Report = Callable[[dict[str, Any]], None]
WorkerFn = Callable[[dict[str, Any], Report, asyncio.Event], Awaitable[dict[str, Any]]]

BASE_MODEL = "flux1-dev (simulated)"
RESULT_MESSAGE = "Simulated training run — the LoRA is random weights, not a trained model."

MAX_UPDATES_PER_SECOND = 10
_DOWNLOAD_CONCURRENCY = 4
# Shares of `duration_s` for the simulated phases; downloading takes what the real reads take.
_CACHING_SHARE, _TRAINING_SHARE, _SAVING_SHARE = 0.1, 0.8, 0.05
_CACHING_UPDATES = 5  # the init node reports 0–5 while caching


def make_worker(storage: Storage, duration_s: float = 20.0, timing: str = "fixed") -> WorkerFn:
    """A worker with the endpoint's signature `(job_input, report, cancelled)`; `timing` says how
    `duration_s` applies to a job (sandbox/timing.py)."""
    return functools.partial(simulate_training, storage=storage, duration_s=duration_s, timing=timing)


async def simulate_training(
    job_input: dict[str, Any],
    report: Report,
    cancelled: asyncio.Event,
    *,
    storage: Storage,
    duration_s: float = 20.0,
    timing: str = "fixed",
) -> dict[str, Any]:
    """Run one simulated training job and return the contract's COMPLETED output.

    `report` receives progress payloads (`phase`, `step`, `total`, `loss`, `message`); `step`
    never decreases over the whole job. Raises WorkerFailure if the job cannot run, and
    asyncio.CancelledError soon after `cancelled` is set.
    """
    if isinstance(job_input, dict) and job_input.get("task") == "generate":  # contract v2 (sampling_run.py)
        return await simulate_generate(job_input, report, cancelled, storage=storage, duration_s=duration_s)
    job = _parse_input(job_input)
    duration_s = simulated_seconds(
        duration_s,
        steps=job.params.max_train_steps,
        resolution=resolution_of(job.input.workflow),
        batch_size=job.params.batch_size,
        timing=timing,
    )
    run = _Run(job=job, report=report, cancelled=cancelled, storage=storage, duration_s=max(0.0, duration_s))
    return await run.execute()


def _parse_input(job_input: Any) -> _Job:
    if not isinstance(job_input, dict):
        raise WorkerFailure("ValueError", f"The job input must be a JSON object, not {type(job_input).__name__}.")
    try:
        parsed = JobInput.model_validate(job_input)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise WorkerFailure("ValueError", f"The job input does not follow the contract: {problems}.") from None
    config = parsed.training_config
    if config.contract_version not in SUPPORTED_CONTRACT_VERSIONS | {CONTRACT_VERSION}:
        raise WorkerFailure(
            "ValueError",
            f"Unsupported contract_version {config.contract_version}; this worker speaks versions "
            f"1 to {SANDBOX_CONTRACT_VERSION}.",
        )
    params = read_workflow_params(parsed.workflow)
    sampler = Sampler.from_config(config, params.max_train_steps)
    return _Job(input=parsed, params=params, sampler=sampler)


@dataclass(frozen=True)
class _Job:
    input: JobInput
    params: WorkflowParams
    sampler: Sampler | None = None  # contract v2: samples and checkpoints while training

    @property
    def request_id(self) -> str:
        return self.input.training_config.request_id

    @property
    def seed(self) -> int:
        if self.params.seed is not None:
            return self.params.seed
        digest = hashlib.sha256(self.request_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "little")


@dataclass
class _Dataset:
    images: int = 0
    captions: int = 0
    ignored: int = 0
    tags: Counter[str] = field(default_factory=Counter)


@dataclass
class _Run:
    job: _Job
    report: Report
    cancelled: asyncio.Event
    storage: Storage
    duration_s: float
    _last_step: int = 0

    @property
    def total(self) -> int:
        return self.job.params.max_train_steps

    async def execute(self) -> dict[str, Any]:
        started_at = time.time()
        dataset = await self._download()
        await self._cache()
        await self._train()
        finished_at = time.time()
        data = await self._save(dataset, started_at, finished_at)
        return await self._upload(data)

    # --- phases ---------------------------------------------------------------------------------

    async def _download(self) -> _Dataset:
        urls = self.job.input.training_data.s3_urls
        dataset = _Dataset()
        done = 0
        self._progress("downloading", f"simulated worker: downloading {len(urls)} training files")
        semaphore = asyncio.Semaphore(_DOWNLOAD_CONCURRENCY)

        async def fetch(url: str) -> None:
            nonlocal done
            async with semaphore:
                if self.cancelled.is_set():
                    return  # checked once the group is done: a task raising CancelledError is ignored
                await self._fetch_one(url, dataset)
            done += 1
            self._progress("downloading", f"simulated worker: downloaded {done}/{len(urls)} files ({file_name(url)})")

        try:
            async with asyncio.TaskGroup() as group:
                for url in urls:
                    group.create_task(fetch(url))
        except BaseExceptionGroup as eg:
            self._check_cancelled()  # a cancel wins over a failure: the user asked for it
            raise _flatten(eg)[0] from None
        self._check_cancelled()
        if dataset.images == 0:
            raise WorkerFailure(
                "ValueError",
                f"None of the {len(urls)} training files is an image "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}); there is nothing to train on.",
            )
        return dataset

    async def _fetch_one(self, url: str, dataset: _Dataset) -> None:
        name = file_name(url)
        extension = posixpath.splitext(name)[1].lower()
        data = await self._read(url, name)
        if extension in IMAGE_EXTENSIONS:
            await asyncio.to_thread(decode_image, name, data)
            dataset.images += 1
            if self.job.sampler is not None:
                await self.job.sampler.add_source(name, data)
        elif extension in CAPTION_EXTENSIONS:
            dataset.tags.update(caption_tags(name, data))
            dataset.captions += 1
        else:
            dataset.ignored += 1  # kohya ignores files that are neither images nor captions

    async def _read(self, url: str, name: str) -> bytes:
        try:
            return await self.storage.read_url(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            details = traceback.format_exc()
            missing = isinstance(exc, (FileNotFoundError, StorageObjectNotFoundError))
            if not missing and not isinstance(exc, StorageError):
                # An unexpected error type from some backend: ask whether the object is there at all.
                try:
                    missing = not await self.storage.exists_url(url)
                except Exception:
                    missing = False
            if missing:
                raise WorkerFailure(
                    "FileNotFoundError",
                    f"Training file {name} was not found at {url}. Sync the actor's training data "
                    "and start the training again.",
                    details,
                ) from exc
            reason = exc.message if isinstance(exc, StorageError) else str(exc) or type(exc).__name__
            raise WorkerFailure(
                type(exc).__name__, f"Could not download training file {name}: {reason}", details
            ) from exc

    async def _cache(self) -> None:
        pause = self.duration_s * _CACHING_SHARE / _CACHING_UPDATES
        for i in range(_CACHING_UPDATES + 1):
            self._progress(
                "caching",
                f"simulated worker: caching latents and text encoder outputs {i}/{_CACHING_UPDATES}",
            )
            if i < _CACHING_UPDATES:
                await self._pause(pause)

    async def _train(self) -> None:
        total = self.total
        span = self.duration_s * _TRAINING_SHARE
        updates = max(1, min(total, math.ceil(span * MAX_UPDATES_PER_SECOND)))
        loss = _LossCurve(self.job.request_id, total)
        self._progress("training", f"simulated step 0/{total} (no GPU: the sandbox simulates training)")
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(1, updates + 1):
            # Sleep to an absolute schedule so a slow loop does not stretch the run.
            await self._pause(start + span * i / updates - loop.time())
            before = self._last_step
            step = round(total * i / updates)
            self._progress("training", f"simulated step {step}/{total}", step=step, loss=loss.at(step))
            await self._sample(before, step, loss)

    async def _sample(self, before: int, step: int, loss: _LossCurve) -> None:
        """Contract v2: draw and upload the samples (and checkpoints) of the steps just passed."""
        sampler = self.job.sampler
        if sampler is None:
            return
        params = self.job.params
        for due in sampler.due(before, step):
            self._progress("sampling", f"simulated worker: sampling at step {due}", step=due, loss=loss.at(due))
            lora = functools.partial(
                checkpoint_lora,
                network_dim=params.network_dim,
                network_alpha=params.network_alpha,
                output_name=params.output_name,
                seed=self.job.seed,
            )
            await sampler.take(due, self.total, self.storage, _at_step(lora))
            self._check_cancelled()
            self._progress(
                "sampling", f"simulated worker: {len(sampler.samples)} sample(s) so far", step=due, loss=loss.at(due)
            )

    async def _save(self, dataset: _Dataset, started_at: float, finished_at: float) -> bytes:
        params = self.job.params
        self._progress("saving", f"simulated worker: saving {params.output_name} (random weights)")
        tags = dict(dataset.tags.most_common())
        trigger = params.class_tokens or self.job.input.training_config.trigger
        if trigger:
            tags[trigger] = tags.get(trigger, 0) + dataset.images  # class tokens prefix every caption
        metadata = simulated_metadata(
            output_name=params.output_name,
            learning_rate=params.learning_rate,
            max_train_steps=params.max_train_steps,
            image_count=dataset.images,
            num_repeats=params.num_repeats,
            batch_size=params.batch_size,
            optimizer=params.optimizer_type or "adamw8bit",
            lr_scheduler=params.lr_scheduler or "constant",
            seed=self.job.seed,
            started_at=started_at,
            finished_at=finished_at,
            tag_frequency=tags,
        )
        build = functools.partial(
            make_lora_bytes,
            network_dim=params.network_dim,
            network_alpha=params.network_alpha,
            metadata=metadata,
            seed=self.job.seed,
            should_stop=self.cancelled.is_set,
            save_dtype=params.save_dtype or "fp16",
        )
        # The LoRA is built in a thread, which a task cancel cannot stop: it asks `cancelled`
        # before each module, and a cancelled worker waits for it, so that no computation (and no
        # memory) outlives the job.
        building = asyncio.ensure_future(asyncio.to_thread(build))
        try:
            await self._pause(self.duration_s * _SAVING_SHARE)
            data = await asyncio.shield(building)
        except BaseException:
            self.cancelled.set()  # cancelled without the event (the endpoint shutting down): stop the thread too
            with contextlib.suppress(BaseException):
                await asyncio.shield(building)
            if building.done() and not building.cancelled() and isinstance(building.exception(), LoraBuildStopped):
                raise asyncio.CancelledError("the job was cancelled") from None
            raise
        self._check_cancelled()
        return data

    async def _upload(self, data: bytes) -> dict[str, Any]:
        params = self.job.params
        output_url = self.job.input.training_config.output_url
        self._progress("uploading", f"simulated worker: uploading the LoRA ({len(data):,} bytes)")
        md5, sha256 = await asyncio.to_thread(_digests, data)
        self._check_cancelled()
        try:
            await self.storage.write_url(output_url, data, metadata={"md5": md5})
        except Exception as exc:
            reason = exc.message if isinstance(exc, StorageError) else str(exc) or type(exc).__name__
            raise WorkerFailure(
                type(exc).__name__,
                f"Could not upload the LoRA to {output_url}: {reason}",
                traceback.format_exc(),
            ) from exc
        return {
            "status": "success",
            "loraUrl": output_url,
            "loraName": file_name(output_url),
            "model_info": {
                "size_bytes": len(data),
                "sha256": sha256,
                "network_dim": params.network_dim,
                "network_alpha": params.network_alpha,
                "max_train_steps": params.max_train_steps,
                "learning_rate": params.learning_rate,
                "base_model": BASE_MODEL,
            },
            "simulation": True,
            "message": RESULT_MESSAGE,
            "contract_version": SANDBOX_CONTRACT_VERSION,
            **(self.job.sampler.result_fields() if self.job.sampler is not None else {}),
        }

    # --- helpers --------------------------------------------------------------------------------

    def _progress(self, phase: str, message: str, *, step: int | None = None, loss: float | None = None) -> None:
        # Steps never go backwards over the whole job (the app drops updates that would), so the
        # phases before training stay at 0 and those after it at the total.
        self._last_step = max(self._last_step, step if step is not None else 0)
        if phase in ("saving", "uploading"):
            self._last_step = self.total
        payload: dict[str, Any] = {
            "phase": phase,
            "step": self._last_step,
            "total": self.total,
            "message": message,
        }
        if loss is not None:
            payload["loss"] = loss
        payload["contract_version"] = SANDBOX_CONTRACT_VERSION
        if self.job.sampler is not None:
            payload.update(self.job.sampler.progress_fields())  # cumulative: /status shows only the latest
        self.report(payload)

    def _check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise asyncio.CancelledError("the job was cancelled")

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, waking at once (with CancelledError) if the job is cancelled."""
        self._check_cancelled()
        if seconds <= 0:
            await asyncio.sleep(0)  # still let the loop breathe between updates
        else:
            try:
                await asyncio.wait_for(self.cancelled.wait(), timeout=seconds)
            except TimeoutError:
                pass
        self._check_cancelled()


class _LossCurve:
    """A noisy, decaying loss, the same for the same request id and step."""

    def __init__(self, request_id: str, total: int) -> None:
        self._key = request_id
        rng = random.Random(f"loss-shape:{request_id}")
        self._floor = rng.uniform(0.26, 0.34)
        self._start = self._floor + rng.uniform(0.12, 0.22)
        self._rate = rng.uniform(3.0, 5.0)
        self._total = max(1, total)

    def at(self, step: int) -> float:
        progress = step / self._total
        noise = random.Random(f"loss-noise:{self._key}:{step}").gauss(0.0, 0.02)
        value = self._floor + (self._start - self._floor) * math.exp(-self._rate * progress) + noise
        return round(max(0.05, value), 4)


def _digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def _flatten(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    flat: list[BaseException] = []
    for exc in group.exceptions:
        flat.extend(_flatten(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return flat


def _at_step(lora: Callable[..., bytes]) -> Callable[[int], bytes]:
    """The checkpoint writer for one sample step (bound now, not when the loop has moved on)."""

    def write(step: int) -> bytes:
        return lora(step=step)

    return write
