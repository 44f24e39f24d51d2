"""The realistic range of the values that cost money (core/realistic_range.py): one rule, a
sentence per unusual value saying why and what it costs; the defaults and every auto-adjust
proposal inside it; the sandbox's LoRA capped in rank whatever the rank asked."""

from __future__ import annotations

import json
import struct
import tracemalloc

import pytest

from actor_trainer.core.auto_adjust import auto_adjust, steps_fit
from actor_trainer.core.models import TrainingParameters
from actor_trainer.core.realistic_range import UnusualValuesError, lora_size_bytes, unusual_values
from actor_trainer.sandbox.lora import MAX_WRITTEN_RANK, make_lora_bytes

IMAGE_COUNTS = range(1, 201)


def test_the_defaults_are_inside_the_range_for_every_image_count() -> None:
    for n in IMAGE_COUNTS:
        assert unusual_values(TrainingParameters(), n) == [], n


@pytest.mark.parametrize(
    "start",
    [
        TrainingParameters(),
        TrainingParameters(network_dim=99_999, network_alpha=2048, learning_rate=5, max_train_steps=100_000),
        TrainingParameters(network_dim=1, network_alpha=0, learning_rate=1e-7, max_train_steps=1, batch_size=8),
    ],
)
def test_every_auto_adjust_proposal_is_inside_the_range(start: TrainingParameters) -> None:
    for n in IMAGE_COUNTS:
        proposal = auto_adjust(n, start)
        assert unusual_values(proposal.params, n) == [], (n, proposal.params)


def test_each_unusual_value_says_why_and_what_it_costs() -> None:
    found = {
        u.field: u
        for u in unusual_values(
            TrainingParameters(network_dim=256, network_alpha=512, learning_rate=5, max_train_steps=100_000), 6
        )
    }
    assert set(found) == {"network_dim", "network_alpha", "learning_rate", "max_train_steps"}
    rank = found["network_dim"].message
    assert rank.startswith("Rank 256 is above the 1–128") and "2.45 GB" in rank and "153 MB at rank 16" in rank
    assert "alpha/rank = 2×" in found["network_alpha"].message
    assert "Learning rate 5 is above 0.001" in found["learning_rate"].message
    steps = found["max_train_steps"].message
    assert steps.startswith("100000 steps are many for 6 image(s)") and "up to 2250 is usual" in steps
    assert "The steps take about 41 h 40 min of GPU time, billed." in steps
    slow = unusual_values(TrainingParameters(learning_rate=1e-6), 6)
    assert [u.field for u in slow] == ["learning_rate"] and "below 1e-05" in slow[0].message
    error = UnusualValuesError(slow)
    assert "--force" in error.hint and slow[0].message in error.message
    assert slow[0].to_json() == {
        "check": "realistic_range",
        "field": "learning_rate",
        "value": 1e-6,
        "message": slow[0].message,
    }


def test_the_steps_rule_is_the_dataset_doctors() -> None:
    """Too many steps for the images, by the same `steps_fit` verdict the doctor warns with;
    fewer steps than proposed cost little and are not refused."""
    for n in (3, 15, 16, 45, 90):
        for steps in (10, 500, 1500, 2250, 2251, 3750, 3751, 5000, 20_000):
            params = TrainingParameters(max_train_steps=steps, lr_warmup_steps=0)
            flagged = any(u.field == "max_train_steps" for u in unusual_values(params, n))
            assert flagged == (steps_fit(n, steps).verdict == "too_few_images"), (n, steps)
    assert unusual_values(TrainingParameters(max_train_steps=30), 6) == []
    assert unusual_values(TrainingParameters(max_train_steps=100_000)) == []  # no image count: not judged


def test_lora_size_follows_the_rank_and_the_save_dtype() -> None:
    assert lora_size_bytes(16, "bf16") == 4_786_176 * 16 * 2
    assert lora_size_bytes(16, "fp32") == 2 * lora_size_bytes(16, "fp16")


def _header(data: bytes) -> dict[str, object]:
    (length,) = struct.unpack("<Q", data[:8])
    return dict(json.loads(data[8 : 8 + length]))


def test_the_sandbox_lora_is_capped_in_rank_and_says_so() -> None:
    tracemalloc.start()
    try:
        data = make_lora_bytes(network_dim=99_999, network_alpha=1, metadata={}, seed=3)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    capped = make_lora_bytes(network_dim=MAX_WRITTEN_RANK, network_alpha=1, metadata={}, seed=3)
    assert abs(len(data) - len(capped)) < 2048  # the same tensors; only the metadata differs
    assert peak < 100 * 2**20  # rank 99,999 uncapped needed tens of GB
    header = _header(data)
    meta = header["__metadata__"]
    assert isinstance(meta, dict)
    assert meta["ss_network_dim"] == "99999" and meta["simulation_written_rank"] == str(MAX_WRITTEN_RANK)
    assert f"written at rank {MAX_WRITTEN_RANK}, not the requested 99999" in meta["simulation_note"]
    down = header["lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight"]
    up = header["lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight"]
    assert isinstance(down, dict) and isinstance(up, dict)
    assert down["shape"] == [MAX_WRITTEN_RANK, 3072] and up["shape"] == [9216, MAX_WRITTEN_RANK]
    small = _header(make_lora_bytes(network_dim=8, network_alpha=1, metadata={}, seed=3))
    assert small["lora_unet_single_blocks_1_linear1.lora_down.weight"]["shape"] == [8, 3072]  # type: ignore[index]
    assert small["__metadata__"]["simulation_written_rank"] == "8"  # type: ignore[index]
