"""Progress updates as the contract wants them: `{"phase", "step", "total", "message"}`.

Contract v2 adds the "sampling" phase (ranked with "training": sampling happens between training
segments) and, through `extra`, the worker's `contract_version` and every sample so far (cumulative:
RunPod's /status shows only the latest payload)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from job_spec import Job

log = logging.getLogger("actor_trainer_worker")

PHASES = ("downloading", "caching", "training", "saving", "uploading")
#: a phase's rank: phases only move forward; "sampling" alternates with "training"
RANK = {**{p: i for i, p in enumerate(PHASES)}, "sampling": PHASES.index("training")}

Progress = Callable[[dict[str, Any]], None]


class Reporter:
    """Sends progress updates: phases only move forward, `step` never decreases.

    At most one update per `min_interval` seconds within a phase (each one is an HTTP call to
    RunPod), except a phase's first update, the one reaching `total`, and those sent with `force`.
    """

    def __init__(
        self, send: Progress, total: int, min_interval: float, extra: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self._send, self.total, self._min_interval = send, total, min_interval
        self.extra = extra  # v2: fields added to every payload (contract_version, samples so far)
        self.last: tuple[str, str] | None = None  # (phase, message) of the last update sent
        self._phase, self._step, self._sent_at = -1, 0, 0.0
        self._sent_total = False

    def __call__(self, phase: str, message: str, step: int | None = None, *, force: bool = False) -> None:
        rank = RANK[phase]
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
        payload: dict[str, Any] = {"phase": phase, "step": self._step, "total": self.total, "message": message}
        if self.extra is not None:
            payload.update(self.extra())
        self.last = (phase, message)
        try:
            self._send(payload)
        except Exception:  # progress is best effort: never fail a training over it
            log.warning("could not send a progress update", exc_info=True)


class TrainingEvents:
    """ComfyUI's node events as progress: the init node is caching, loops are training, saves saving.

    A loop node reports 0 … steps−1; when the next node starts (or the prompt ends) its last step
    is reported as done. Chained loops add up: 10000 + 2500 of 12500.
    """

    def __init__(self, spec: Job, report: Reporter) -> None:
        self.spec, self.report = spec, report
        self.offsets: dict[str, tuple[int, int]] = {}
        before = 0
        for node_id, steps in spec.loops:
            self.offsets[node_id] = (before, steps)
            before += steps
        self.current: str | None = None

    def __call__(self, node: str, value: int | None, maximum: int | None) -> None:
        if value is None and self.current is not None and node != self.current:
            self.finish()
        if node in self.offsets:
            offset, steps = self.offsets[node]
            self.current = node
            step = offset + max(0, min(value or 0, steps))
            self.report("training", f"step {step}/{self.spec.max_train_steps}", step)
        elif node == self.spec.init_node:
            detail = f" {value}/{maximum}" if value is not None else ""
            self.report("caching", f"loading the models and caching latents{detail}")
        elif node in self.spec.save_nodes:
            self.report("saving", "saving the LoRA")
        elif node in self.spec.validate_nodes:
            step = self.spec.validate_nodes[node]
            self.report("sampling", f"sampling at step {step}", step, force=value is None)
        elif node in self.spec.checkpoint_nodes:
            self.report("training", f"saving the checkpoint of step {self.spec.checkpoint_nodes[node]}")

    def finish(self) -> None:
        """The running loop has ended: all its steps are done."""
        if self.current is None:
            return
        offset, steps = self.offsets[self.current]
        self.current = None
        self.report("training", f"step {offset + steps}/{self.spec.max_train_steps}", offset + steps)
