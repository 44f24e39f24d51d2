"""Contract v2 while training: upload each checkpoint's samples as ComfyUI saves them and keep the
cumulative list the progress payloads and the result carry (the kept checkpoint LoRAs: checkpoints.py).

ComfyUI reports each SaveImage with an `executed` message naming its files in its output folder;
the SaveImage linked to a FluxTrainValidate holds one image per sample prompt, in the prompts'
order (FluxTrainer's `FluxTrainValidate`). Image i of the step-N SaveImage goes to
`sample_urls[N][i]`. A sample that cannot be uploaded is logged and left out (the training goes
on); the result lists only what was uploaded.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from comfy_client import node_images
from errors import TransferAborted, TransferError
from job_spec import Job
from transfer import upload_file

log = logging.getLogger("actor_trainer_worker")

InPool = Callable[..., Awaitable[Any]]


def public_url(url: str) -> str:
    """The address reported for an uploaded object: a presigned URL without its signature."""
    return url.split("?", 1)[0]


class SampleUploads:
    def __init__(
        self,
        spec: Job,
        *,
        s3: Any,
        in_pool: InPool,
        stop: threading.Event,
        comfy_output_dir: Path | None,
        on_sample: Callable[[], None],
    ) -> None:
        self.spec, self.s3, self.in_pool, self.stop = spec, s3, in_pool, stop
        self.comfy_output_dir, self.on_sample = comfy_output_dir, on_sample
        self.samples: list[dict[str, Any]] = []  # every sample uploaded so far, cumulative
        self.tasks: list[asyncio.Future[None]] = []
        # steps are uploaded one after the other and listed whole, so that every payload's list
        # extends the previous one (the app may read any of them)
        self._order = asyncio.Lock()

    def on_output(self, node: str, output: dict[str, Any]) -> None:
        """ComfyUI's `executed` for a node: a sample SaveImage's images are uploaded (in the background)."""
        sampling, step = self.spec.sampling, self.spec.sample_saves.get(node)
        if sampling is None or step is None or step not in sampling.urls:
            return
        if self.comfy_output_dir is None:
            log.warning("samples of step %d not uploaded: ComfyUI's output folder is not known", step)
            return
        images = node_images(output, self.comfy_output_dir)
        if len(images) != len(sampling.prompts):
            log.warning(
                "step %d: ComfyUI saved %d sample image(s) for %d prompt(s)", step, len(images), len(sampling.prompts)
            )
        self.tasks.append(asyncio.ensure_future(self._upload_step(step, images[: len(sampling.prompts)])))

    async def _upload_step(self, step: int, images: list[Path]) -> None:
        async with self._order:
            await self._upload_step_now(step, images)

    async def _upload_step_now(self, step: int, images: list[Path]) -> None:
        sampling = self.spec.sampling
        assert sampling is not None
        uploaded: list[dict[str, Any]] = []
        for index, path in enumerate(images):
            url = sampling.urls[step][index]
            try:
                await self.in_pool(
                    functools.partial(upload_file, content_type="image/png"), path, url, self.s3, self.stop
                )
            except TransferAborted:
                return
            except TransferError as exc:
                log.warning("sample %d of step %d not uploaded: %s", index, step, exc)
                continue
            uploaded.append(
                {
                    "url": public_url(url),
                    "prompt": sampling.prompts[index],
                    "seed": sampling.seed,
                    "step": step,
                    "index": index,
                }
            )
        self.samples.extend(uploaded)  # one step at a time, in step order (ComfyUI saves them in order)
        log.info("samples of step %d uploaded", step)
        self.on_sample()

    async def drain(self) -> None:
        """Wait for every sample upload started so far."""
        tasks, self.tasks = self.tasks, []
        await settle(tasks, "sample")


async def settle(tasks: list[asyncio.Future[None]], what: str) -> None:
    """Wait for `tasks` (uploads); a failure is logged, never raised: the job goes on without it."""
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            log.warning("a %s upload failed: %r", what, outcome)
