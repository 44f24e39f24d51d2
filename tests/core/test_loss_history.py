"""Issue 10, item 6: a version keeps its loss history, sampled and bounded (core/run_recorder.py)."""

from __future__ import annotations

from actor_trainer.core.models import Progress, TrainingVersion
from actor_trainer.core.run_recorder import LOSS_HISTORY_MAX, record_loss


def test_history_grows_with_newer_steps_only_and_stays_bounded() -> None:
    v = TrainingVersion(id="job-1", name="V1")
    for step in (10, 10, 5, 20):  # repeats and an older step add nothing
        v.progress = Progress(step=step, total=100_000, loss=1.0 / step)
        record_loss(v)
    assert [s for s, _ in v.lossHistory or []] == [10, 20]
    v.progress = Progress(step=30, total=100_000, loss=None)  # no loss: nothing
    record_loss(v)
    assert len(v.lossHistory or []) == 2
    for step in range(30, 100_001, 10):
        v.progress = Progress(step=step, total=100_000, loss=0.5)
        record_loss(v)
    history = v.lossHistory or []
    assert len(history) <= LOSS_HISTORY_MAX
    assert history[0][0] == 10 and history[-1][0] == 100_000  # the whole run, first and newest kept
    steps = [s for s, _ in history]
    assert steps == sorted(set(steps))
    # It survives the record's JSON round trip (what a relaunched app reads).
    again = TrainingVersion.model_validate(v.to_json())
    assert [tuple(p) for p in again.lossHistory or []] == [tuple(p) for p in history]
