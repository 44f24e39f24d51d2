"""RunPod's `GET /health` answer, and what it most likely means for the user (docs/runpod.md).

Jobs stuck IN_QUEUE are the most common field failure; the counters tell "waiting for a GPU"
(throttled, or scaled to zero) from "broken endpoint" (unhealthy workers, or idle workers that do
not take queued jobs).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class HealthJobs(_Open):
    completed: int = 0
    failed: int = 0
    inProgress: int = 0
    inQueue: int = 0
    retried: int = 0


class HealthWorkers(_Open):
    idle: int = 0
    initializing: int = 0
    ready: int = 0
    running: int = 0
    throttled: int = 0
    unhealthy: int = 0


class EndpointCondition(StrEnum):
    """What the health counters most likely mean, for the user."""

    IDLE = "idle"
    WORKING = "working"
    STARTING = "starting"
    WAITING_FOR_GPU = "waiting_for_gpu"
    BROKEN = "broken"


class EndpointHealth(_Open):
    """The answer of `GET /health`. `sandbox` is true when the endpoint is the local simulation."""

    jobs: HealthJobs = HealthJobs()
    workers: HealthWorkers = HealthWorkers()
    sandbox: bool = False

    def condition(self) -> EndpointCondition:
        """Tells "waiting for a GPU" from "broken endpoint" (docs/runpod.md, "Health and stuck queues").

        One reading is a snapshot: a job submitted a moment ago can sit in the queue next to an idle
        worker for a second. Trust BROKEN when two readings some seconds apart agree."""
        j, w = self.jobs, self.workers
        healthy = w.idle + w.ready + w.running + w.initializing
        if w.unhealthy and not healthy:
            return EndpointCondition.BROKEN
        if j.inQueue and not w.running and (w.idle or w.ready) and not w.initializing:
            # Free workers that do not pick up queued jobs: the workers or the image are broken.
            return EndpointCondition.BROKEN
        if j.inProgress or w.running:
            return EndpointCondition.WORKING
        if j.inQueue and w.initializing:
            return EndpointCondition.STARTING
        if j.inQueue:
            return EndpointCondition.WAITING_FOR_GPU
        return EndpointCondition.IDLE

    def summary(self) -> str:
        """One or two plain sentences about the endpoint, with what to do when it looks stuck."""
        j, w = self.jobs, self.workers
        counts = (
            f"{j.inQueue} queued, {j.inProgress} running, {j.completed} completed, {j.failed} failed; "
            f"workers: {w.running} running, {w.idle + w.ready} idle, {w.initializing} starting, "
            f"{w.throttled} throttled, {w.unhealthy} unhealthy."
        )
        condition = self.condition()
        if condition is EndpointCondition.BROKEN:
            text = (
                "Broken endpoint: jobs are queued but no healthy worker takes them. "
                "Check the worker logs in the RunPod console (crash loop, bad image, missing models)."
            )
        elif condition is EndpointCondition.WAITING_FOR_GPU:
            why = (
                "the GPU type is busy (workers throttled)"
                if w.throttled
                else "no worker is running (scaled to zero, or max workers is 0)"
            )
            text = f"Waiting for a GPU: {why}. Queued jobs start when a worker becomes available."
        elif condition is EndpointCondition.STARTING:
            text = "A worker is starting (pulling the image, loading models); queued jobs start after it."
        elif condition is EndpointCondition.WORKING:
            text = "The endpoint is working."
        else:
            text = "The endpoint is idle."
        prefix = "Sandbox (simulation): " if self.sandbox else ""
        return f"{prefix}{text} Jobs: {counts}"
