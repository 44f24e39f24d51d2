"""Contract v2: each kept checkpoint LoRA (`checkpoint_urls`) is uploaded as soon as FluxTrainer has
finished writing it, while the training goes on.

When is a checkpoint file whole? FluxTrainSave (FluxTrainer 639b3e8) calls kohya's `save_model`,
which writes `{stem}-step{N:08d}.safetensors` in place (safetensors' `save_file`: no temporary
file, no rename): the file exists, growing, while the node runs. ComfyUI runs one node at a time
and announces each one (`executing {node}`) before calling it, so once any other node of the
prompt is announced, or the prompt has ended, the save node's call has returned and the file is
closed. That is the rule: a checkpoint is uploaded when the node after its FluxTrainSave starts,
and at the latest when the prompt ends. Before uploading, the file must read as a complete
safetensors file (model_check.inspect: its header and its last tensor end where the file ends);
a file cut short (a full disk) is reported as not uploaded instead of being sent. A "size stable
for a while" rule was not chosen: a write that pauses looks stable, and it delays every checkpoint.

Uploads run in the job's transfer threads, at most CHECKPOINT_UPLOADS at once, apart from the
job's main loop (which goes on following ComfyUI). A checkpoint that cannot be uploaded is logged
and listed in `failures` (`{"step", "error"}`); the training goes on. Setting the job's `stop`
event and `cancel()` end them: the ones waiting never start, the running ones abort at their next
chunk.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from comfy_client import OnNodeEvent
from errors import TransferAborted, TransferError
from job_spec import CONTRACT_VERSION, Job
from model_check import inspect
from samples import SampleUploads, public_url, settle
from transfer import digests, redact, upload_file

log = logging.getLogger("actor_trainer_worker")

#: How many checkpoint LoRAs go up at once (each is a LoRA of tens to hundreds of MB).
CHECKPOINT_UPLOADS = 2

InPool = Callable[..., Awaitable[Any]]


def whole_file_md5(path: Path) -> str:
    """The MD5 of a checkpoint FluxTrainSave has finished writing; TransferError if it is missing
    or not a complete safetensors file."""
    if not path.is_file():
        raise TransferError(f"{path.name} was not written")
    problem = inspect(path)
    if problem is not None:  # e.g. "is truncated: its header describes … bytes but the file has …"
        clause = problem.split(": ", 1)[0]
        raise TransferError(f"{path.name} {clause}: FluxTrainer did not finish writing it (is the disk full?)")
    md5, _, _ = digests(path)
    return md5


class CheckpointUploads:
    def __init__(
        self,
        spec: Job,
        *,
        s3: Any,
        in_pool: InPool,
        stop: threading.Event,
        on_change: Callable[[], None],
        concurrency: int = CHECKPOINT_UPLOADS,
    ) -> None:
        self.spec, self.s3, self.in_pool, self.stop, self.on_change = spec, s3, in_pool, stop, on_change
        self.checkpoints: list[dict[str, Any]] = []  # uploaded so far, by step (cumulative)
        self.failures: list[dict[str, Any]] = []  # not uploaded: {"step", "error"}, by step
        #: the kept checkpoints' FluxTrainSave nodes → their step
        self._nodes = {n: s for n, s in spec.checkpoint_nodes.items() if s in spec.checkpoint_urls}
        self._saving: str | None = None  # a save node announced and not yet followed by another node
        self._started: set[int] = set()
        self._tasks: list[asyncio.Future[None]] = []
        self._slots = asyncio.Semaphore(concurrency)

    @property
    def started(self) -> list[int]:
        """The steps whose upload has been started (waiting for a slot, running or over)."""
        return sorted(self._started)

    def on_event(self, node: str, value: int | None, maximum: int | None) -> None:
        """ComfyUI's node events (comfy_client.OnNodeEvent): `value` None is a node starting."""
        if value is not None:
            return  # progress within a node
        if self._saving is not None and node != self._saving:
            self._start(self._nodes[self._saving])  # the save node has returned: its file is closed
            self._saving = None
        if node in self._nodes:
            self._saving = node

    def prompt_ended(self) -> None:
        """The prompt finished: every kept checkpoint not started yet is started (its file, if
        written, is closed; one that is missing is reported as such)."""
        self._saving = None
        for step in sorted(self.spec.checkpoint_urls):
            self._start(step)

    def _start(self, step: int) -> None:
        if step in self._started or self.stop.is_set():
            return
        self._started.add(step)
        self._tasks.append(asyncio.ensure_future(self._upload(step)))

    async def _upload(self, step: int) -> None:
        url, path = self.spec.checkpoint_urls[step], self.spec.checkpoint_file(step)
        async with self._slots:
            try:
                md5 = await self.in_pool(whole_file_md5, path)
                upload = functools.partial(upload_file, content_type="application/octet-stream", metadata={"md5": md5})
                await self.in_pool(upload, path, url, self.s3, self.stop)
            except TransferAborted:
                return  # the job was cancelled
            except TransferError as exc:
                log.warning("checkpoint of step %d not uploaded to %s: %s", step, redact(url), exc)
                self.failures = sorted([*self.failures, {"step": step, "error": str(exc)}], key=lambda f: f["step"])
                self.on_change()
                return
        log.info("checkpoint of step %d uploaded", step)
        self.checkpoints = sorted([*self.checkpoints, {"step": step, "url": public_url(url)}], key=lambda c: c["step"])
        self.on_change()

    async def drain(self) -> None:
        """Wait for every checkpoint upload started so far (failures are already listed)."""
        tasks, self._tasks = self._tasks, []
        await settle(tasks, "checkpoint")

    async def cancel(self) -> None:
        """Stop: uploads waiting for a slot never start; running ones end (with `stop` set, at their
        next chunk; the thread is joined by the job's transfer pool)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def v2_fields(uploads: SampleUploads, checkpoints: CheckpointUploads) -> dict[str, Any]:
    """What v2 adds to every progress payload and to the result: all so far (cumulative)."""
    fields: dict[str, Any] = {
        "samples": list(uploads.samples),
        "checkpoints": list(checkpoints.checkpoints),
        "contract_version": CONTRACT_VERSION,
    }
    if checkpoints.failures:
        fields["checkpoint_failures"] = list(checkpoints.failures)
    return fields


def both(first: OnNodeEvent, second: OnNodeEvent) -> OnNodeEvent:
    def on_event(node: str, value: int | None, maximum: int | None) -> None:
        first(node, value, maximum)
        second(node, value, maximum)

    return on_event
