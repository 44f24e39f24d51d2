"""The life of a sandbox job: queue → worker → terminal state, with RunPod's time limits.

`JobLifecycle` owns the jobs, the worker slots, and every task it starts (strong references, all
cancelled and awaited by `shutdown`). The HTTP layer (`server.py`) only calls its methods.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from actor_trainer.core.models import JobState
from actor_trainer.sandbox.faults import Faults
from actor_trainer.sandbox.jobs import SandboxJob, WorkerFn, error_from_exception
from actor_trainer.sandbox.webhooks import WebhookSender

log = logging.getLogger(__name__)

_QUEUE_POLL_S = 0.02  # how often a queued job looks at the faults and the free worker slots
_RETRYABLE = (JobState.FAILED, JobState.TIMED_OUT)


class JobLifecycle:
    def __init__(
        self,
        worker: WorkerFn,
        faults: Callable[[], Faults],
        webhooks: WebhookSender,
        *,
        max_workers: int,
        cancel_grace_s: float,
        endpoint_id: str,
    ) -> None:
        self.worker = worker
        self._faults = faults
        self._webhooks = webhooks
        self.max_workers = max(1, max_workers)
        self.cancel_grace_s = cancel_grace_s
        self.endpoint_id = endpoint_id
        self.jobs: dict[str, SandboxJob] = {}
        self.counters = {"completed": 0, "failed": 0, "retried": 0}
        self._free_slots = list(range(1, self.max_workers + 1))
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    def now(self) -> float:
        return self._loop.time()

    # --- commands (called by the HTTP layer) ---

    def submit(self, job_input: dict[str, Any], webhook: str | None, timeout_s: float, ttl_s: float) -> SandboxJob:
        now = self.now()
        job = SandboxJob(
            id=f"{uuid.uuid4()}-e1",
            input=job_input,
            webhook=webhook,
            execution_timeout_s=timeout_s,
            ttl_s=ttl_s,
            submitted_at=now,
            queued_at=now,
        )
        self.jobs[job.id] = job
        log.info("sandbox: job %s queued", job.id)
        self._spawn(self._run(job, job.run_number), f"sandbox-job-{job.id}")
        return job

    def cancel(self, job: SandboxJob) -> None:
        job.cancel_event.set()
        self._finish(job, JobState.CANCELLED)

    def retry(self, job: SandboxJob) -> bool:
        """Requeue a FAILED / TIMED_OUT job under the same id; False if it is in another state."""
        if job.status not in _RETRYABLE:
            return False
        job.status = JobState.IN_QUEUE
        job.queued_at = self.now()
        job.started_at = job.finished_at = None
        job.output = job.error = job.worker_id = None
        job.last_progress = None
        job.retries += 1
        job.run_number += 1
        job.cancel_event = asyncio.Event()
        self.counters["retried"] += 1
        log.info("sandbox: job %s requeued (retry %d)", job.id, job.retries)
        self._spawn(self._run(job, job.run_number), f"sandbox-job-{job.id}-r{job.retries}")
        return True

    def purge_queue(self) -> int:
        queued = [job for job in self.jobs.values() if job.status is JobState.IN_QUEUE]
        for job in queued:
            self.delete(job)
        return len(queued)

    def delete(self, job: SandboxJob) -> None:
        job.deleted = True
        job.cancel_event.set()
        self.jobs.pop(job.id, None)

    async def shutdown(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn_delivery(self, job: SandboxJob, body: dict[str, Any]) -> None:
        self._spawn(self._webhooks.deliver(job, body), f"sandbox-webhook-{job.id}")

    # --- the job task ---

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox: task %s crashed", task.get_name(), exc_info=task.exception())

    def _current(self, job: SandboxJob, run_number: int) -> bool:
        return not job.deleted and job.run_number == run_number and not job.status.is_terminal

    def _ttl_left(self, job: SandboxJob) -> float:
        return job.queued_at + job.ttl_s - self.now()

    async def _run(self, job: SandboxJob, run_number: int) -> None:
        slot = await self._wait_in_queue(job, run_number)
        if slot is None:
            return
        try:
            await self._execute(job, run_number, slot)
        finally:
            self._free_slots.append(slot)
            self._free_slots.sort()

    async def _wait_in_queue(self, job: SandboxJob, run_number: int) -> int | None:
        while True:
            if not self._current(job, run_number):
                return None
            if self._ttl_left(job) <= 0:
                self._expire(job)
                return None
            faults = self._faults()
            delayed = faults.stuck_in_queue or self.now() - job.queued_at < faults.queue_delay_s
            if not delayed and self._free_slots and self._first_in_line(job):
                return self._free_slots.pop(0)
            await asyncio.sleep(_QUEUE_POLL_S)

    def _first_in_line(self, job: SandboxJob) -> bool:
        return all(
            other is job or other.status is not JobState.IN_QUEUE or other.queued_at >= job.queued_at
            for other in self.jobs.values()
        )

    async def _execute(self, job: SandboxJob, run_number: int, slot: int) -> None:
        job.status = JobState.IN_PROGRESS
        job.started_at = self.now()
        job.worker_id = f"{self.endpoint_id}-worker-{slot}"
        log.info("sandbox: job %s started on %s", job.id, job.worker_id)
        faults = self._faults()
        if faults.fail_with is not None:
            self._finish(job, JobState.FAILED, error=json.dumps(faults.fail_with))
            return

        def report(progress: dict[str, Any]) -> None:
            if self._current(job, run_number) and job.status is JobState.IN_PROGRESS:
                job.output = copy.deepcopy(progress)
                job.last_progress = job.output
                job.progress_reports += 1

        async def call_worker() -> Any:
            return await self.worker(copy.deepcopy(job.input), report, job.cancel_event)

        worker_task: asyncio.Task[Any] = asyncio.create_task(call_worker(), name=f"sandbox-worker-{job.id}")
        job.worker_task = worker_task
        cancel_wait = asyncio.create_task(job.cancel_event.wait())
        try:
            exec_left = job.started_at + job.execution_timeout_s - self.now()
            timeout = max(0.0, min(exec_left, self._ttl_left(job)))
            done, _ = await asyncio.wait(
                {worker_task, cancel_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if worker_task in done:
                self._complete(job, run_number, worker_task)
                return
            await self._stop_worker(job, worker_task)
            if cancel_wait in done or not self._current(job, run_number):
                return  # cancelled, purged or deleted: already recorded
            if self._ttl_left(job) <= 0:
                self._expire(job)
            else:
                log.info("sandbox: job %s timed out after %.1f s", job.id, job.execution_timeout_s)
                self._finish(job, JobState.TIMED_OUT)
        finally:
            cancel_wait.cancel()
            if not worker_task.done():
                worker_task.cancel()
            await asyncio.gather(worker_task, cancel_wait, return_exceptions=True)

    async def _stop_worker(self, job: SandboxJob, worker_task: asyncio.Task[Any]) -> None:
        """Ask the worker to stop (the event), then cancel it if it does not within the grace time."""
        job.cancel_event.set()
        done, _ = await asyncio.wait({worker_task}, timeout=self.cancel_grace_s)
        if not done:
            worker_task.cancel()
        await asyncio.gather(worker_task, return_exceptions=True)

    def _complete(self, job: SandboxJob, run_number: int, worker_task: asyncio.Task[Any]) -> None:
        if not self._current(job, run_number):
            return
        if worker_task.cancelled():
            self._finish(job, JobState.FAILED, error="The worker was cancelled.")
            return
        exc = worker_task.exception()
        if exc is not None:
            log.info("sandbox: job %s failed: %s", job.id, exc)
            self._finish(job, JobState.FAILED, error=error_from_exception(exc, job.worker_id))
            return
        output = worker_task.result()
        if isinstance(output, dict) and output.get("error"):
            # runpod-python: a handler output with "error" makes the job FAILED with that error.
            err = output["error"]
            self._finish(job, JobState.FAILED, error=err if isinstance(err, str) else json.dumps(err))
            return
        faults = self._faults()
        if faults.complete_without_output:
            output = None
        elif faults.complete_with_failed_output:
            output = {
                "status": "failed",
                "message": "Simulated failure: the worker finished but produced no LoRA.",
                "simulation": True,
            }
        self._finish(job, JobState.COMPLETED, output=output)

    def _expire(self, job: SandboxJob) -> None:
        log.info("sandbox: job %s deleted, its ttl of %.1f s ran out", job.id, job.ttl_s)
        self.delete(job)

    def _finish(self, job: SandboxJob, state: JobState, *, output: Any = None, error: str | None = None) -> None:
        if job.status.is_terminal or job.deleted:
            return
        job.status = state
        job.output = output
        job.error = error
        job.finished_at = self.now()
        if state is JobState.COMPLETED:
            self.counters["completed"] += 1
        elif state is JobState.FAILED:
            self.counters["failed"] += 1
        log.info("sandbox: job %s %s", job.id, state.value)
        faults = self._faults()
        if job.webhook and (state in (JobState.COMPLETED, JobState.FAILED) or faults.webhook_on_cancel):
            self.spawn_delivery(job, job.webhook_body(self.now()))

    # --- health ---

    def health(self) -> dict[str, Any]:
        faults = self._faults()
        queued = [j for j in self.jobs.values() if j.status is JobState.IN_QUEUE]
        running = sum(1 for j in self.jobs.values() if j.status is JobState.IN_PROGRESS)
        spare = max(0, self.max_workers - running)
        if faults.stuck_in_queue and queued:
            throttled, initializing = spare, 0
        else:
            throttled = 0
            delayed = sum(1 for j in queued if self.now() - j.queued_at < faults.queue_delay_s)
            initializing = min(spare, delayed)
        return {
            "jobs": {
                "completed": self.counters["completed"],
                "failed": self.counters["failed"],
                "inProgress": running,
                "inQueue": len(queued),
                "retried": self.counters["retried"],
            },
            "workers": {
                "idle": spare - throttled - initializing,
                "initializing": initializing,
                "ready": 0,
                "running": running,
                "throttled": throttled,
                "unhealthy": 0,
            },
            "sandbox": True,
        }
