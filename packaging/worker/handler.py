"""Actor Trainer's reference RunPod worker: one training job on the ComfyUI server beside it.

Follows the worker contract, version 1 (docs/worker-contract.md in the app's repository):
validate the job input, download every `s3_urls` entry into the workflow's dataset folder (image
extensions in lower case, captions without a doubled trigger), queue the workflow on ComfyUI and
report its progress (downloading → caching → training → saving → uploading; `step` never
decreases), then upload the LoRA FluxTrainer wrote to `output_url` with its MD5 in the object's
metadata, and return the contract's result.

A warm worker starts each job clean: whatever way a job ends (completed, failed, cancelled), its
prompt is stopped on ComfyUI, ComfyUI is asked to free its memory, and every file the job left on
the worker's disk is removed. A cancelled or timed-out job (runpod-python >= 1.10 cancels the
handler's task) interrupts the prompt, waits for ComfyUI to let go of it before deleting the files
it reads, uploads nothing and re-raises.

Contract v2 (docs/worker-contract.md): a job asking for samples gets each checkpoint's samples
uploaded as ComfyUI saves them (samples.py), listed cumulatively in every progress payload and
in the result; each kept checkpoint LoRA is uploaded as soon as FluxTrainer has written it, while
the training goes on (checkpoints.py), listed the same way (`checkpoints`, and
`checkpoint_failures` for those that could not be uploaded); progress and result state
`contract_version` 2. `input.task: "generate"` runs a Try instead (generate.py). A v1 job runs,
reports and returns exactly as before.

This file does not import the app (the worker image does not contain it); `runpod` is imported
only by the RunPod entry point, so the handler runs and is tested without it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import posixpath
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The helper modules beside this file (on sys.path when it runs as `python handler.py`).
from checkpoints import CheckpointUploads, both, v2_fields
from cleanup import clean_job
from comfy_client import ComfyClient, PromptFailed, PromptInterrupted, output_images
from dataset import IMAGE_EXTENSIONS, prepare
from errors import (
    ComfyError,
    DatasetError,
    JobInputError,
    LoraMissingError,
    TransferAborted,
    TransferError,
    WorkerError,
)
from explain import explain
from generate import run_generate
from job_spec import WORKFLOW_ROOT, Job, read_job
from progress import PHASES, Progress, Reporter, TrainingEvents
from samples import SampleUploads
from transfer import delete_object, digests, download, make_s3_client, parse_s3_url, upload_lora

log = logging.getLogger("actor_trainer_worker")

BASE_MODEL = "flux1-dev"
DOWNLOAD_CONCURRENCY = 4
DEFAULT_MODEL_DIRS = "/comfyui/models:/runpod-volume/models"


@dataclass
class WorkerState:
    """What a warm worker remembers between its jobs (RunPod gives a worker one job at a time)."""

    #: Jobs whose files stayed on disk because ComfyUI did not confirm their prompt had stopped
    #: (it may still have been reading them); removed once ComfyUI is idle again.
    leftovers: list[Job] = field(default_factory=list)


#: The state of this process's worker (the RunPod entry point uses it; tests make their own).
WORKER_STATE = WorkerState()


async def handle(
    job: dict[str, Any],
    *,
    comfy_url: str,
    progress: Progress,
    work_dir: Path,
    s3_client_factory: Callable[[], Any] = make_s3_client,
    min_interval: float = 1.0,
    start_timeout: float = 300.0,
    idle_timeout: float = 1800.0,
    cancel_timeout: float = 60.0,
    comfy_output_dir: Path | None = None,
    model_roots: Sequence[Path] = (),
    state: WorkerState | None = None,
    lora_dir: Path | None = None,
) -> dict[str, Any]:
    """Run one training job (`job["input"]` per the contract) and return the contract's result.

    A generate job (`input.task: "generate"`, contract v2) downloads its LoRA into `lora_dir`
    (ComfyUI's models/loras/; default: `<first model root>/loras`) and runs generate.py.

    Raises JobInputError or DatasetError before touching anything if the input cannot be trained
    on, and otherwise a WorkerError whose message says what went wrong and what to do
    (TransferError, ComfyError, LoraMissingError); `refresh_worker` on it (or in the result) says
    the worker should be replaced. A cancelled task re-raises CancelledError after stopping the
    prompt and cleaning up. `cancel_timeout`: how long to wait for ComfyUI to let go of a prompt.
    """
    job_input = job.get("input") if isinstance(job, dict) else None
    if isinstance(job_input, dict) and job_input.get("task") == "generate":
        loras = lora_dir or (Path(model_roots[0]) / "loras" if model_roots else None)
        if loras is None:
            raise JobInputError("This worker does not know ComfyUI's models/loras folder (set COMFY_LORA_DIR).")
        async with ComfyClient.open(comfy_url) as comfy:
            await comfy.wait_ready(start_timeout)
            return await run_generate(
                job_input,
                comfy=comfy,
                progress=progress,
                s3_client_factory=s3_client_factory,
                lora_dir=loras,
                comfy_output_dir=comfy_output_dir,
                idle_timeout=idle_timeout,
                cancel_timeout=cancel_timeout,
                min_interval=min_interval,
            )
    spec = read_job(job, work_dir)
    run = _Run(
        spec,
        report=Reporter(progress, spec.max_train_steps, min_interval),
        work_dir=work_dir,
        s3_client_factory=s3_client_factory,
        idle_timeout=idle_timeout,
        cancel_timeout=cancel_timeout,
        comfy_output_dir=comfy_output_dir,
        model_roots=tuple(model_roots),
        state=state if state is not None else WORKER_STATE,
    )
    async with ComfyClient.open(comfy_url) as comfy:
        await comfy.wait_ready(start_timeout)
        return await run.execute(comfy)


class _Run:
    """One job on ComfyUI, and everything needed to wind it down whatever way it ends."""

    def __init__(
        self,
        spec: Job,
        *,
        report: Reporter,
        work_dir: Path,
        s3_client_factory: Callable[[], Any],
        idle_timeout: float,
        cancel_timeout: float,
        comfy_output_dir: Path | None,
        model_roots: tuple[Path, ...],
        state: WorkerState,
    ) -> None:
        self.spec, self.report, self.work_dir = spec, report, work_dir
        self.s3_client_factory, self.idle_timeout, self.cancel_timeout = s3_client_factory, idle_timeout, cancel_timeout
        self.comfy_output_dir, self.model_roots, self.state = comfy_output_dir, model_roots, state
        self.stop = threading.Event()  # set: every transfer thread aborts at its next chunk
        self.pool = ThreadPoolExecutor(max_workers=DOWNLOAD_CONCURRENCY, thread_name_prefix="job-transfer")
        self.s3: Any = None
        self.prompt_id: str | None = None
        self.queueing: asyncio.Future[str] | None = None
        self.prompt_over = False  # ComfyUI reported the prompt ended
        self.upload_started = False
        self.refresh = False
        self.checkpoints: CheckpointUploads | None = None  # v2: the kept checkpoints' uploads
        self.comfy: ComfyClient

    async def execute(self, comfy: ComfyClient) -> dict[str, Any]:
        self.comfy = comfy
        await self._start_clean()
        try:
            result = await self._train_and_upload()
        except BaseException as exc:
            await self._wind_down(cancelled=isinstance(exc, asyncio.CancelledError))
            if not isinstance(exc, Exception):
                raise  # CancelledError: RunPod cancelled the job or it timed out
            explained = await asyncio.to_thread(explain, exc, self.spec, self.model_roots)
            if isinstance(explained, WorkerError) and self.refresh:
                explained.refresh_worker = True
            if explained is exc:
                raise
            raise explained from exc
        await self._wind_down(cancelled=False)
        if self.refresh:
            result["refresh_worker"] = True
        return result

    async def _in_pool(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(self.pool.submit(fn, *args))

    # --- before ----------------------------------------------------------------------------------

    async def _start_clean(self) -> None:
        """An earlier job's prompt still on ComfyUI is stopped; its files are removed once it has."""
        await self.comfy.ensure_idle(self.cancel_timeout)
        while self.state.leftovers:
            old = self.state.leftovers.pop()
            await asyncio.to_thread(
                clean_job, old, work_dir=self.work_dir, comfy_output_dir=self.comfy_output_dir, reported_images=()
            )

    # --- the job ---------------------------------------------------------------------------------

    async def _train_and_upload(self) -> dict[str, Any]:
        spec, report = self.spec, self.report
        self.s3 = await self._in_pool(self.s3_client_factory)
        uploads: SampleUploads | None = None
        checkpoints: CheckpointUploads | None = None
        if spec.contract_version >= 2:
            uploads = SampleUploads(
                spec,
                s3=self.s3,
                in_pool=self._in_pool,
                stop=self.stop,
                comfy_output_dir=self.comfy_output_dir,
                on_sample=lambda: report(*(report.last or ("sampling", "samples uploaded")), force=True),
            )
            checkpoints = self.checkpoints = CheckpointUploads(
                spec,
                s3=self.s3,
                in_pool=self._in_pool,
                stop=self.stop,
                on_change=lambda: report(*(report.last or ("training", "checkpoint uploaded")), force=True),
            )
            report.extra = functools.partial(v2_fields, uploads, checkpoints)
        await self._download_all()
        data = await self._in_pool(prepare, spec.dataset_dir, spec.trigger, spec.caption_extension)
        if not data.images:
            raise DatasetError(
                f"No training images in {spec.dataset_dir} after the download: the trainer reads only "
                f"{' '.join(IMAGE_EXTENSIONS)} files."
            )
        # A LoRA left by an earlier run with the same name must not pass for this run's.
        await self._in_pool(spec.output_file.unlink, True)
        events = TrainingEvents(spec, report)
        on_event = events if checkpoints is None else both(events, checkpoints.on_event)
        client_id = uuid.uuid4().hex
        async with await self.comfy.connect(client_id) as ws:
            # Shielded: a cancel that lands while ComfyUI queues the prompt still learns its id
            # (in _wind_down), so that the prompt can be stopped.
            self.queueing = asyncio.ensure_future(self.comfy.queue_prompt(spec.workflow, client_id))
            self.prompt_id = await asyncio.shield(self.queueing)
            log.info("queued prompt %s", self.prompt_id)
            try:
                await self.comfy.follow(
                    ws,
                    self.prompt_id,
                    on_event,
                    self.idle_timeout,
                    on_output=uploads.on_output if uploads is not None else None,
                )
            except (PromptFailed, PromptInterrupted):
                self.prompt_over = True
                raise
            self.prompt_over = True
        events.finish()
        if checkpoints is not None:
            checkpoints.prompt_ended()
        if uploads is not None:
            await uploads.drain()
        report("saving", f"looking for {spec.output_file.name}")
        if not await self._in_pool(spec.output_file.is_file):
            raise LoraMissingError(
                f"ComfyUI finished, but {spec.output_file} was not written (was the prompt skipped as cached? "
                "reset_on_queue must be true)."
            )
        md5, sha256, size = await self._in_pool(digests, spec.output_file)
        report("uploading", f"uploading {spec.output_file.name} ({size:,} bytes)")
        self.upload_started = True
        await self._in_pool(upload_lora, spec.output_file, spec.output_url, md5, self.s3, self.stop)
        if checkpoints is not None and spec.checkpoint_urls:
            report("uploading", "finishing the checkpoint uploads", force=True)
            await checkpoints.drain()
        result: dict[str, Any] = {
            "status": "success",
            "loraUrl": spec.output_url,
            "loraName": posixpath.basename(parse_s3_url(spec.output_url)[1]),
            "model_info": {
                "size_bytes": size,
                "sha256": sha256,
                "network_dim": spec.network_dim,
                "network_alpha": spec.network_alpha,
                "max_train_steps": spec.max_train_steps,
                "learning_rate": spec.learning_rate,
                "base_model": BASE_MODEL,
            },
        }
        if uploads is not None and checkpoints is not None:
            result.update(v2_fields(uploads, checkpoints))
        return result

    async def _download_all(self) -> None:
        spec, folder = self.spec, self.spec.dataset_dir
        if await self._in_pool(folder.exists):
            if spec.owns_dataset_dir:
                await self._in_pool(shutil.rmtree, folder)  # files of an earlier job would be trained on
            elif await self._in_pool(lambda: any(folder.iterdir())):
                raise TransferError(f"The dataset folder {folder} is not empty; it must hold this job's files only.")
        await self._in_pool(lambda: folder.mkdir(parents=True, exist_ok=True))
        total, done = len(spec.urls), 0
        self.report("downloading", f"downloading {total} files")

        async def fetch(url: str, name: str) -> None:
            nonlocal done
            try:
                await self._in_pool(download, url, folder / name, self.s3, self.stop)
            except TransferError:
                self.stop.set()  # one failure fails the job: the other downloads stop
                raise
            done += 1
            self.report("downloading", f"downloaded {done}/{total} files", force=done == total)

        # Every download finishes or fails before this returns (none is left writing).
        results = await asyncio.gather(
            *(fetch(u, n) for u, n in zip(spec.urls, spec.names, strict=True)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise next((f for f in failures if not isinstance(f, TransferAborted)), failures[0])

    # --- after -----------------------------------------------------------------------------------

    async def _wind_down(self, *, cancelled: bool) -> None:
        """Stop the prompt, let go of the transfers, remove the job's files, free ComfyUI's memory.

        Never raises (but a second cancellation interrupts it); problems set `self.refresh`.
        """
        spec = self.spec
        self.stop.set()
        if self.checkpoints is not None:
            await self.checkpoints.cancel()  # checkpoint uploads not started yet never start
        if self.prompt_id is None and self.queueing is not None:
            try:  # cancelled while ComfyUI was queueing the prompt: its answer names the prompt to stop
                self.prompt_id = await asyncio.wait_for(self.queueing, 60)
            except Exception:
                pass  # refused or unreachable: there is no prompt to stop
        confirmed = True
        if self.prompt_id is not None and not self.prompt_over:
            how = await self.comfy.stop(self.prompt_id, self.cancel_timeout)
            log.info("prompt %s stopped on ComfyUI: %s", self.prompt_id, how)
            confirmed = how in ("interrupted", "failed", "finished", "removed")
        threads_done = await self._join_transfers()
        if cancelled and self.upload_started and threads_done:
            try:  # the upload may have finished before the cancel landed: a cancelled job leaves no LoRA
                await asyncio.to_thread(delete_object, spec.output_url, self.s3)
            except TransferError as exc:
                log.warning("%s", exc)
        images: list[Path] = []
        if self.prompt_id is not None and confirmed and self.comfy_output_dir is not None:
            try:
                images = output_images(await self.comfy.history(self.prompt_id), self.comfy_output_dir)
            except ComfyError as exc:
                log.warning("could not read the prompt's history: %s", exc)
        if confirmed and threads_done:
            problems = await asyncio.to_thread(
                clean_job, spec, work_dir=self.work_dir, comfy_output_dir=self.comfy_output_dir, reported_images=images
            )
            if problems:
                self.refresh = True
        else:
            log.warning("ComfyUI did not confirm that prompt %s stopped: its files stay until it has", self.prompt_id)
            self.state.leftovers.append(spec)
            self.refresh = True
        try:
            await self.comfy.free()
        except ComfyError as exc:
            log.warning("%s", exc)
            self.refresh = True

    async def _join_transfers(self) -> bool:
        """Wait (bounded) until no transfer thread is left writing or reading the job's files."""
        done = asyncio.get_running_loop().run_in_executor(None, self.pool.shutdown, True)
        try:
            await asyncio.wait_for(asyncio.shield(done), self.cancel_timeout)
        except TimeoutError:
            log.warning("transfers still running %.0f s after the job ended", self.cancel_timeout)
            return False
        return True


# --- RunPod entry point -------------------------------------------------------------------------


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    """RunPod's handler: the job's progress goes to `runpod.serverless.progress_update`.

    A coroutine on purpose: the RunPod SDK calls the handler on its own running event loop (and
    awaits what it returns, and cancels it when the job is cancelled or times out). A failure that
    leaves the worker unfit (ComfyUI unreachable or stuck, a GPU error) is returned as
    `{"error": ..., "refresh_worker": true}` (RunPod fails the job and replaces the worker); other
    failures raise. Settings come from the environment: COMFY_URL, WORK_DIR, COMFY_OUTPUT_DIR,
    COMFY_MODEL_DIRS, COMFY_LORA_DIR, COMFY_START_TIMEOUT, COMFY_IDLE_TIMEOUT, COMFY_CANCEL_TIMEOUT,
    PROGRESS_INTERVAL, and the AWS_* variables of boto3.
    """
    import runpod  # only in the worker image

    def send(payload: dict[str, Any]) -> None:
        runpod.serverless.progress_update(job, payload)  # posts from a thread of its own

    env = os.environ.get
    try:
        return await handle(
            job,
            comfy_url=env("COMFY_URL", "http://127.0.0.1:8188"),
            progress=send,
            work_dir=Path(env("WORK_DIR", str(WORKFLOW_ROOT))),
            min_interval=float(env("PROGRESS_INTERVAL", "1")),
            start_timeout=float(env("COMFY_START_TIMEOUT", "300")),
            idle_timeout=float(env("COMFY_IDLE_TIMEOUT", "1800")),
            cancel_timeout=float(env("COMFY_CANCEL_TIMEOUT", "60")),
            comfy_output_dir=Path(env("COMFY_OUTPUT_DIR", "/comfyui/output")),
            model_roots=[Path(p) for p in env("COMFY_MODEL_DIRS", DEFAULT_MODEL_DIRS).split(":") if p],
            lora_dir=Path(env("COMFY_LORA_DIR", "/comfyui/models/loras")),
        )
    except WorkerError as exc:
        if not exc.refresh_worker:
            raise
        log.error("%s", exc)
        return {"error": str(exc), "refresh_worker": True}


__all__ = [
    "PHASES",
    "ComfyError",
    "DatasetError",
    "JobInputError",
    "LoraMissingError",
    "Reporter",
    "TransferError",
    "WorkerError",
    "WorkerState",
    "handle",
    "handler",
    "read_job",
]

if __name__ == "__main__":
    import runpod

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runpod.serverless.start({"handler": handler})
