"""Actor Trainer's reference RunPod worker: one training job on the ComfyUI server beside it.

Follows the worker contract, version 1 (docs/worker-contract.md in the app's repository):
validate the job input, download every `s3_urls` entry into the workflow's dataset folder, queue
the workflow on ComfyUI and report its progress (downloading → caching → training → saving →
uploading; `step` never decreases), then upload the LoRA FluxTrainer wrote
(`{output_dir}/{output_name}_rank{network_dim}_{save_dtype}.safetensors`) to `output_url` with its
MD5 in the object's metadata, and return the contract's result. Anything that goes wrong raises:
RunPod turns a handler exception into a FAILED job whose error carries the message.

This file does not import the app (the worker image does not contain it); `runpod` is imported
only by the RunPod entry point, so the handler runs and is tested without it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import posixpath
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

# The helper modules beside this file (on sys.path when it runs as `python handler.py`).
from comfy_client import ComfyError, run_prompt
from transfer import TransferError, digests, download, file_name_of, make_s3_client, parse_s3_url, upload_lora

log = logging.getLogger("actor_trainer_worker")

CONTRACT_VERSION = 1
BASE_MODEL = "flux1-dev"
#: Where the workflows built by the app put the dataset and output folders.
WORKFLOW_ROOT = PurePosixPath("/workspace")
PHASES = ("downloading", "caching", "training", "saving", "uploading")
DOWNLOAD_CONCURRENCY = 4

Progress = Callable[[dict[str, Any]], None]


class JobInputError(ValueError):
    """The job input does not follow the contract; nothing was downloaded or run."""


class LoraMissingError(RuntimeError):
    """ComfyUI finished, but the LoRA file is not where FluxTrainer writes it."""


@dataclass(frozen=True)
class Job:
    """A validated job: what to download, what to run, where the result goes."""

    urls: tuple[str, ...]
    names: tuple[str, ...]
    output_url: str
    workflow: dict[str, Any]  # with the dataset and output folders relocated under work_dir
    dataset_dir: Path
    #: The dataset folder lies inside work_dir: the worker may empty it before and after the job.
    owns_dataset_dir: bool
    output_file: Path
    init_node: str
    loops: tuple[tuple[str, int], ...]  # (FluxTrainLoop node id, steps), in execution order
    save_nodes: frozenset[str]
    network_dim: int
    network_alpha: float
    learning_rate: float
    max_train_steps: int


# --- validation ---------------------------------------------------------------------------------


def read_job(job: Any, work_dir: Path) -> Job:
    """Check `job["input"]` against the contract and read the training graph. Raises JobInputError."""
    job_input = job.get("input") if isinstance(job, dict) else None
    if not isinstance(job_input, dict):
        raise JobInputError("The job has no input object.")
    config = _object(job_input, "training_config")
    version = config.get("contract_version", CONTRACT_VERSION)
    if version != CONTRACT_VERSION:
        raise JobInputError(f"Unsupported contract_version {version!r}: this worker speaks version {CONTRACT_VERSION}.")
    urls = _object(job_input, "training_data").get("s3_urls")
    if not isinstance(urls, list) or not urls:
        raise JobInputError("training_data.s3_urls is empty: there is nothing to train on.")
    if any(not isinstance(u, str) or not u.strip() for u in urls):
        raise JobInputError("training_data.s3_urls holds an empty or non-text URL.")
    output_url = config.get("output_url")
    if not isinstance(output_url, str) or not output_url.startswith("s3://"):
        raise JobInputError("training_config.output_url must be an s3://bucket/key URL.")
    try:
        parse_s3_url(output_url)
        names = tuple(file_name_of(u) for u in urls)
    except TransferError as exc:
        raise JobInputError(str(exc)) from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise JobInputError(f"Several training URLs end in the same file name: {', '.join(twice)}.")
    workflow = job_input.get("workflow")
    if not isinstance(workflow, dict) or not workflow:
        raise JobInputError("The job input has no workflow.")
    return _read_workflow(copy.deepcopy(workflow), tuple(urls), names, output_url, work_dir)


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise JobInputError(f"The job input has no {key} object.")
    return value


def _read_workflow(
    workflow: dict[str, Any], urls: tuple[str, ...], names: tuple[str, ...], output_url: str, work_dir: Path
) -> Job:
    nodes = {k: v for k, v in workflow.items() if isinstance(v, dict) and isinstance(v.get("inputs"), dict)}

    def of_class(class_type: str) -> list[str]:
        return [k for k, v in nodes.items() if v.get("class_type") == class_type]

    inits = of_class("InitFluxLoRATraining")
    if len(inits) != 1:
        raise JobInputError(f"The workflow must have one InitFluxLoRATraining node, not {len(inits)}.")
    init_id = inits[0]
    init = nodes[init_id]["inputs"]
    dataset_link = init.get("dataset")
    dataset_node = nodes.get(dataset_link[0]) if isinstance(dataset_link, list) and dataset_link else None
    if not dataset_node or dataset_node.get("class_type") != "TrainDatasetAdd":
        raise JobInputError(f"InitFluxLoRATraining ({init_id}).dataset is not linked to a TrainDatasetAdd node.")
    dataset = dataset_node["inputs"]
    try:
        network_dim = int(init["network_dim"])
        save_dtype = str(init["save_dtype"])
        output_name = str(init["output_name"])
        dataset_dir = _relocate(dataset, "dataset_path", work_dir)
        output_dir = _relocate(init, "output_dir", work_dir)
        facts = (float(init["network_alpha"]), float(init["learning_rate"]), int(init["max_train_steps"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise JobInputError(f"InitFluxLoRATraining ({init_id}) or its dataset lacks a usable input: {exc}") from None
    if not output_name or "/" in output_name:
        raise JobInputError(f"InitFluxLoRATraining ({init_id}).output_name {output_name!r} is not a file name.")

    # The loops run in the order they are chained from the init node; each reports 0…its steps.
    loops: list[tuple[str, int]] = []
    current = init_id
    while True:
        following = [k for k in of_class("FluxTrainLoop") if _link_source(nodes[k]) == current]
        if not following:
            break
        if len(following) > 1 or len(loops) > len(nodes):
            raise JobInputError(f"The training chain branches after node {current}: {', '.join(following)}.")
        current = following[0]
        loops.append((current, int(nodes[current]["inputs"].get("steps", 0))))
    if not loops:
        raise JobInputError(f"No FluxTrainLoop node follows InitFluxLoRATraining ({init_id}).")

    return Job(
        urls=urls,
        names=names,
        output_url=output_url,
        workflow=workflow,
        dataset_dir=dataset_dir,
        owns_dataset_dir=work_dir.resolve() in dataset_dir.resolve().parents
        and dataset_dir.resolve() not in output_dir.resolve().parents,
        output_file=output_dir / f"{output_name}_rank{network_dim}_{save_dtype}.safetensors",
        init_node=init_id,
        loops=tuple(loops),
        save_nodes=frozenset(of_class("FluxTrainSave")),
        network_dim=network_dim,
        network_alpha=facts[0],
        learning_rate=facts[1],
        max_train_steps=facts[2],
    )


def _link_source(node: dict[str, Any]) -> str | None:
    link = node["inputs"].get("network_trainer")
    return str(link[0]) if isinstance(link, list) and link else None


def _relocate(inputs: dict[str, Any], key: str, work_dir: Path) -> Path:
    """The local folder for a workflow path, written back into the workflow ComfyUI will run.

    The app's workflows name folders under /workspace (this image's WORK_DIR); with another
    work_dir they move under it, and a relative path is taken relative to it.
    """
    raw = str(inputs[key]).strip()
    if not raw:
        raise ValueError(f"{key} is empty")
    path = PurePosixPath(posixpath.normpath(raw))
    if path == WORKFLOW_ROOT or WORKFLOW_ROOT in path.parents:
        local = work_dir / path.relative_to(WORKFLOW_ROOT)
    elif not path.is_absolute():
        local = work_dir / path
    else:
        local = Path(path)
    inputs[key] = str(local)
    return local


# --- progress -----------------------------------------------------------------------------------


class Reporter:
    """Sends `{"phase", "step", "total", "message"}`: phases only move forward, `step` never decreases.

    At most one update per `min_interval` seconds within a phase (each one is an HTTP call to
    RunPod), except a phase's first update, the one reaching `total`, and those sent with `force`.
    """

    def __init__(self, send: Progress, total: int, min_interval: float) -> None:
        self._send, self.total, self._min_interval = send, total, min_interval
        self._phase, self._step, self._sent_at = -1, 0, 0.0
        self._sent_total = False

    def __call__(self, phase: str, message: str, step: int | None = None, *, force: bool = False) -> None:
        rank = PHASES.index(phase)
        if rank < self._phase:
            return
        if step is not None:
            self._step = max(self._step, min(step, self.total))
        if phase in ("saving", "uploading"):
            self._step = self.total
        now = time.monotonic()
        reaches_total = self._step == self.total and not self._sent_total
        if rank == self._phase and not (force or reaches_total) and now - self._sent_at < self._min_interval:
            return
        self._phase, self._sent_at = rank, now
        self._sent_total = self._sent_total or self._step == self.total
        payload = {"phase": phase, "step": self._step, "total": self.total, "message": message}
        try:
            self._send(payload)
        except Exception:  # progress is best effort: never fail a training over it
            log.warning("could not send a progress update", exc_info=True)


# --- the job ------------------------------------------------------------------------------------


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
) -> dict[str, Any]:
    """Run one training job (`job["input"]` per the contract) and return the contract's result.

    Raises JobInputError before touching anything if the input does not follow the contract,
    TransferError if a file cannot be moved, ComfyError with ComfyUI's message if the workflow is
    refused or fails, LoraMissingError if ComfyUI finished without writing the LoRA.
    """
    spec = read_job(job, work_dir)
    report = Reporter(progress, spec.max_train_steps, min_interval)
    s3 = await asyncio.to_thread(s3_client_factory)
    try:
        await _download_all(spec, s3, report)
        # A LoRA left by an earlier run with the same name must not pass for this run's.
        spec.output_file.unlink(missing_ok=True)
        await run_prompt(
            comfy_url,
            spec.workflow,
            _node_events(spec, report),
            start_timeout=start_timeout,
            idle_timeout=idle_timeout,
        )
        report("saving", f"looking for {spec.output_file.name}")
        if not spec.output_file.is_file():
            raise LoraMissingError(
                f"ComfyUI finished, but {spec.output_file} was not written (was the prompt skipped as cached? "
                "reset_on_queue must be true)."
            )
        md5, sha256, size = await asyncio.to_thread(digests, spec.output_file)
        report("uploading", f"uploading {spec.output_file.name} ({size:,} bytes)")
        await asyncio.to_thread(upload_lora, spec.output_file, spec.output_url, md5, s3)
        spec.output_file.unlink(missing_ok=True)
    finally:
        if spec.owns_dataset_dir:
            await asyncio.to_thread(shutil.rmtree, spec.dataset_dir, True)
    return {
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


async def _download_all(spec: Job, s3: Any, report: Reporter) -> None:
    folder = spec.dataset_dir
    if folder.exists() and spec.owns_dataset_dir:
        await asyncio.to_thread(shutil.rmtree, folder)  # files of an earlier job would be trained on
    elif folder.exists() and any(folder.iterdir()):
        raise TransferError(f"The dataset folder {folder} is not empty; it must hold this job's files only.")
    folder.mkdir(parents=True, exist_ok=True)
    total, done = len(spec.urls), 0
    failures: list[TransferError] = []
    report("downloading", f"downloading {total} files")
    gate = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)

    async def fetch(url: str, name: str) -> None:
        nonlocal done
        async with gate:
            if failures:
                return
            try:
                await asyncio.to_thread(download, url, folder / name, s3)
            except TransferError as exc:
                failures.append(exc)
                return
        done += 1
        report("downloading", f"downloaded {done}/{total} files", force=done == total)

    # Every download finishes (or fails) before this returns: no thread is left writing.
    await asyncio.gather(*(fetch(u, n) for u, n in zip(spec.urls, spec.names, strict=True)))
    if failures:
        raise failures[0]


def _node_events(spec: Job, report: Reporter) -> Callable[[str, int | None, int | None], None]:
    offsets: dict[str, tuple[int, int]] = {}
    before = 0
    for node_id, steps in spec.loops:
        offsets[node_id] = (before, steps)
        before += steps
    total = spec.max_train_steps

    def on_event(node: str, value: int | None, maximum: int | None) -> None:
        if node in offsets:
            offset, steps = offsets[node]
            step = offset + max(0, min(value or 0, steps))
            report("training", f"step {step}/{total}", step)
        elif node == spec.init_node:
            detail = f" {value}/{maximum}" if value is not None else ""
            report("caching", f"loading the models and caching latents{detail}")
        elif node in spec.save_nodes:
            report("saving", "saving the LoRA")

    return on_event


# --- RunPod entry point -------------------------------------------------------------------------


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    """RunPod's handler: the job's progress goes to `runpod.serverless.progress_update`.

    A coroutine on purpose: the RunPod SDK calls the handler on its own running event loop (and
    awaits what it returns), so a sync handler could neither `asyncio.run` nor block that loop.
    Settings come from the environment: COMFY_URL, WORK_DIR, COMFY_START_TIMEOUT,
    COMFY_IDLE_TIMEOUT, PROGRESS_INTERVAL, and the AWS_* variables of boto3.
    """
    import runpod  # only in the worker image

    def send(payload: dict[str, Any]) -> None:
        runpod.serverless.progress_update(job, payload)  # posts from a thread of its own

    return await handle(
        job,
        comfy_url=os.environ.get("COMFY_URL", "http://127.0.0.1:8188"),
        progress=send,
        work_dir=Path(os.environ.get("WORK_DIR", str(WORKFLOW_ROOT))),
        min_interval=float(os.environ.get("PROGRESS_INTERVAL", "1")),
        start_timeout=float(os.environ.get("COMFY_START_TIMEOUT", "300")),
        idle_timeout=float(os.environ.get("COMFY_IDLE_TIMEOUT", "1800")),
    )


__all__ = ["ComfyError", "JobInputError", "LoraMissingError", "TransferError", "handle", "handler", "read_job"]

if __name__ == "__main__":
    import runpod

    logging.basicConfig(level=logging.INFO)
    runpod.serverless.start({"handler": handler})
