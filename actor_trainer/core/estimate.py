"""What a run will take and cost, learnt from this endpoint's finished runs (issue 13, item 2).

    time on the endpoint = queue and cold start + running
    running              = steps × seconds per step
    cost                 = time on the endpoint × the GPU class's price per second

- Seconds per step come from this endpoint's completed versions: RunPod's `executionTime` ÷ the
  version's steps (`executionTime` includes loading and saving, so short runs carry their overhead
  in the figure), grouped by resolution and batch size; the median of the group's last runs is used.
  Without a run in the group, the nearest group is scaled: time per step grows with the pixels
  ((resolution ratio)²) and with the batch size (linearly). Without any run on this endpoint,
  a documented default per GPU class (core/settings.py `GPU_CLASSES`, a Flux LoRA step at 512 px,
  batch 1) plus `DEFAULT_OVERHEAD_S` for loading and saving.
- Queue and cold start: the median `delayTime` of the endpoint's last runs, or `DEFAULT_DELAY_S`.
- Cost: RunPod bills from when a worker starts until it stops (docs/runpod.md); `delayTime` also
  holds time in the queue, which is not billed, so the cost is an upper bound.

No I/O except `load_history`, which reads the library (blocking: call it off the event loop).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from actor_trainer.core.contract_memory import ContractMemory
from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.library import Library
from actor_trainer.core.models import RunEstimate, TrainingParameters, TrainingVersion, VersionStatus
from actor_trainer.core.request_builder import SECONDS_PER_SAMPLE_STEP_AT_512, SECONDS_PER_STEP_AT_512, sampling_seconds
from actor_trainer.core.settings import GPU_CLASSES, Config, GpuClass, gpu_table

#: Loading the model, caching latents and text embeddings, saving the LoRA: before any history.
DEFAULT_OVERHEAD_S = 120.0
#: Waiting for a worker and its cold start (pulling the image, loading): before any history.
DEFAULT_DELAY_S = 60.0
#: How many of a group's (or the endpoint's) most recent runs are used.
RECENT_RUNS = 20
REFERENCE_RESOLUTION = 512


@dataclass(frozen=True)
class Estimate:
    execution_s: float
    delay_s: float
    cost: float | None  # US dollars; None when the GPU class has no price
    gpu: str | None
    basis: str  # how it was reached, in words
    runs: int  # finished runs it was learnt from (0: the GPU's default)

    @property
    def seconds(self) -> float:
        return self.execution_s + self.delay_s

    def summary(self) -> str:
        """ "≈ 38 min on the endpoint, ≈ $1.90"."""
        text = f"≈ {format_duration(self.seconds)} on the endpoint"
        if self.cost is not None:
            text += f", ≈ {format_cost(self.cost)}" if self.cost >= 0.01 else ", under $0.01"
        return text

    def to_record(self) -> RunEstimate:
        return RunEstimate(
            seconds=round(self.seconds, 1),
            executionSeconds=round(self.execution_s, 1),
            delaySeconds=round(self.delay_s, 1),
            cost=None if self.cost is None else round(self.cost, 4),
            gpu=self.gpu,
            basis=self.basis,
        )


@dataclass(frozen=True)
class Accuracy:
    runs: int
    within: float  # the largest relative error of those runs (0.12 = ±12 %)

    def text(self) -> str:
        """ "last 10 runs: within ±12 %"."""
        runs = "the last run" if self.runs == 1 else f"last {self.runs} runs"
        return f"{runs}: within ±{math.ceil(self.within * 100 - 1e-9):d} %"


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def format_cost(usd: float) -> str:
    return f"${usd:.2f}" if usd >= 0.01 else "< $0.01"


# --- history -------------------------------------------------------------------------------------


def load_history(library: Library, endpoint: str) -> list[TrainingVersion]:
    """Every version sent to `endpoint` (all actors), newest first. Unreadable files are skipped:
    an estimate must never stop a run."""
    folder = library.root / "actor_training_versions"
    found: list[TrainingVersion] = []
    try:
        entries = sorted(folder.glob("[0-9][0-9][0-9][0-9].json"))
    except OSError:
        return found
    for entry in entries:
        try:
            versions = library.load_versions(int(entry.stem))
        except (ActorTrainerError, OSError, ValueError):
            continue
        found.extend(v for v in versions if v.endpoint == endpoint)
    found.sort(key=_when, reverse=True)
    return found


def _when(v: TrainingVersion) -> datetime:
    at = v.completedAt or v.timestamp
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # other tools may write naive times


def _learnable(v: TrainingVersion) -> bool:
    return (
        v.status is VersionStatus.COMPLETED
        and v.executionTime is not None
        and v.executionTime > 0
        and v.parameters.max_train_steps > 0
    )


def _per_step(v: TrainingVersion) -> float:
    assert v.executionTime is not None
    return v.executionTime / 1000.0 / v.parameters.max_train_steps


def _work_factor(resolution: int, batch: int, from_resolution: int, from_batch: int) -> float:
    return (resolution / from_resolution) ** 2 * (batch / from_batch)


# --- the estimate --------------------------------------------------------------------------------


def estimate_run(
    params: TrainingParameters,
    history: Iterable[TrainingVersion],
    *,
    gpu: str | None,
    gpus: dict[str, GpuClass] | None = None,
    sandbox: bool = False,
    samples: bool = False,
    prices_as_of: str | None = None,
) -> Estimate:
    """The estimate for `params` from `history` (this endpoint's versions, newest first).

    `samples`: the run samples while it trains (a v2 endpoint, docs/worker-contract.md): the
    sampling time (core/request_builder.py `sampling_seconds`) is added, scaled to the GPU class.
    `prices_as_of`: the date of the prices in `gpus`, said in the basis."""
    table = gpus or GPU_CLASSES
    gpu_class = table.get(gpu) if gpu else None
    learnt = [v for v in history if _learnable(v)]
    steps = params.max_train_steps
    res, batch = params.resolution, params.batch_size

    groups: dict[tuple[int, int], list[float]] = {}
    sampled: dict[tuple[int, int], bool] = {}  # a run of the group sampled: its executionTime holds that
    for v in learnt:
        key = (v.parameters.resolution, v.parameters.batch_size)
        group = groups.setdefault(key, [])
        if len(group) < RECENT_RUNS:
            group.append(_per_step(v))
            sampled[key] = sampled.get(key, False) or bool(v.samples)
    where = f"{res} px, batch {batch}"
    learnt_sampling = False
    if (res, batch) in groups:
        per_step = groups[(res, batch)]
        learnt_sampling = sampled[(res, batch)]
        execution = steps * statistics.median(per_step)
        basis = f"from {_runs(len(per_step))} on this endpoint at {where}"
        runs = len(per_step)
    elif groups:
        (g_res, g_batch), per_step = min(
            groups.items(),
            key=lambda kv: (2 * abs(math.log2(res / kv[0][0])) + abs(math.log2(batch / kv[0][1])), -len(kv[1])),
        )
        execution = steps * statistics.median(per_step) * _work_factor(res, batch, g_res, g_batch)
        learnt_sampling = sampled[(g_res, g_batch)]
        basis = f"from {_runs(len(per_step))} on this endpoint at {g_res} px, batch {g_batch}, scaled to {where}"
        runs = len(per_step)
    elif gpu_class is not None:
        per_step_s = gpu_class.seconds_per_step * _work_factor(res, batch, REFERENCE_RESOLUTION, 1)
        execution = DEFAULT_OVERHEAD_S + steps * per_step_s
        basis = f"default for {gpu_class.label}, no history yet"
        runs = 0
    else:
        fallback = GPU_CLASSES[next(iter(GPU_CLASSES))]
        execution = DEFAULT_OVERHEAD_S + steps * fallback.seconds_per_step * _work_factor(res, batch, 512, 1)
        basis = f"default for {fallback.label} (GPU class {gpu or 'not set'} unknown), no history yet"
        runs = 0

    # Learnt from runs that sampled, the seconds per step already hold the sampling: not twice.
    if samples and params.sample_settings.every > 0 and not learnt_sampling:
        speed = gpu_class.seconds_per_step if gpu_class else GPU_CLASSES[next(iter(GPU_CLASSES))].seconds_per_step
        extra = sampling_seconds(
            params.sample_settings, steps, SECONDS_PER_SAMPLE_STEP_AT_512 * speed / SECONDS_PER_STEP_AT_512
        )
        execution += extra
        basis += f"; sampling {format_duration(extra)}"

    delays = [v.delayTime / 1000.0 for v in learnt if v.delayTime is not None][:RECENT_RUNS]
    if delays:
        delay = statistics.median(delays)
        basis += f"; queue and cold start from {_runs(len(delays))}"
    else:
        delay = DEFAULT_DELAY_S
        basis += f"; queue and cold start {format_duration(DEFAULT_DELAY_S)} (default)"

    cost = None
    if gpu_class is not None:
        cost = (execution + delay) * gpu_class.usd_per_second
        basis += f"; {gpu_class.label} at ${gpu_class.usd_per_second:.5f}/s"
        notes = ([f"prices as of {prices_as_of}"] if prices_as_of else []) + (
            ["sandbox: nothing is billed"] if sandbox else []
        )
        if notes:
            basis += f" ({'; '.join(notes)})"
    return Estimate(execution_s=execution, delay_s=delay, cost=cost, gpu=gpu, basis=basis, runs=runs)


def _runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n} runs"


def accuracy(history: Sequence[TrainingVersion], last: int = 10) -> Accuracy | None:
    """How far the recorded estimates were from the actual times, over the last runs that have both."""
    errors: list[float] = []
    for v in history:
        actual = v.actual_seconds
        if v.estimate is None or actual is None or actual <= 0 or v.status is not VersionStatus.COMPLETED:
            continue
        errors.append(abs(v.estimate.seconds - actual) / actual)
        if len(errors) == last:
            break
    if not errors:
        return None
    return Accuracy(runs=len(errors), within=max(errors))


@dataclass(frozen=True)
class EstimateReport:
    estimate: Estimate
    accuracy: Accuracy | None

    def lines(self) -> list[str]:
        out = [self.estimate.summary(), f"  how: {self.estimate.basis}"]
        if self.accuracy is not None:
            out.append(f"  estimates so far: {self.accuracy.text()}")
        return out

    def tooltip(self) -> str:
        text = self.estimate.basis[0].upper() + self.estimate.basis[1:] + "."
        if self.accuracy is not None:
            text += f"\nEarlier estimates: {self.accuracy.text()}."
        return text


def estimate_for(
    library: Library,
    endpoint: str,
    params: TrainingParameters,
    *,
    gpu: str | None,
    gpus: dict[str, GpuClass] | None = None,
    samples: bool = False,
    prices_as_of: str | None = None,
) -> EstimateReport:
    """Read this endpoint's history and estimate `params` (blocking)."""
    history = load_history(library, endpoint)
    sandbox = endpoint.lower() == "sandbox"
    estimate = estimate_run(
        params, history, gpu=gpu, gpus=gpus, sandbox=sandbox, samples=samples, prices_as_of=prices_as_of
    )
    return EstimateReport(estimate=estimate, accuracy=accuracy(history))


def estimate_with_config(library: Library, config: Config, params: TrainingParameters) -> EstimateReport:
    """The estimate for the configured endpoint, GPU class and prices (blocking)."""
    return estimate_for(
        library,
        config.endpoint_label,
        params,
        gpu=config.gpu_class,
        gpus=gpu_table(config.gpu_prices),
        samples=ContractMemory(override=config.worker_contract).speaks_v2(config.endpoint_label),
        prices_as_of=config.gpu_prices_as_of,
    )
