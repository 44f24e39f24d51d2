"""How long the simulated worker takes for a job: the sandbox's stand-in for a GPU's speed.

With timing "scaled" — the default of the app and the CLI (the `sandbox_timing` setting,
ACTOR_TRAINER_SANDBOX_TIMING; core/settings.py) — `duration_s` (ACTOR_TRAINER_SANDBOX_SECONDS,
20 s by default) is the time of a reference job, 2000 steps at 512 px, batch 1 (the default
parameters), and a job takes

    duration_s × (steps / 2000) × (resolution / 512)² × batch size

the same shape a real GPU has (time per step grows with the pixels and the batch, docs/runpod.md),
so the estimate (core/estimate.py) learnt in the sandbox behaves as it would on an endpoint. A demo
run at the default parameters takes 20 s, auto-adjusted ones 15–30 s (1500–3000 steps).

With timing "fixed" every job takes `duration_s`, whatever it asks for: the test suite sets it
(tests/conftest.py), and `make_worker` uses it unless told otherwise, so a caller that gives a
duration gets that duration.
"""

from __future__ import annotations

from typing import Any

from actor_trainer.sandbox.workflow_params import DATASET_NODE

REFERENCE_STEPS = 2000
REFERENCE_RESOLUTION = 512


def resolution_of(workflow: Any) -> int:
    """The training resolution the workflow's dataset node asks for (the larger of width and
    height), or the reference resolution when it says none."""
    if isinstance(workflow, dict):
        for node in workflow.values():
            if isinstance(node, dict) and node.get("class_type") == DATASET_NODE:
                inputs = node.get("inputs") or {}
                sizes = [v for v in (inputs.get("width"), inputs.get("height")) if isinstance(v, int) and v > 0]
                if sizes:
                    return max(sizes)
    return REFERENCE_RESOLUTION


def simulated_seconds(duration_s: float, *, steps: int, resolution: int, batch_size: int, timing: str) -> float:
    """The simulated run time of one job (see the module docstring)."""
    if timing != "scaled":
        return duration_s
    factor = (steps / REFERENCE_STEPS) * (resolution / REFERENCE_RESOLUTION) ** 2 * max(1, batch_size)
    return duration_s * factor
