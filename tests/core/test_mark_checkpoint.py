"""Marking a checkpoint as the good one (issue 12): the registry records that checkpoint's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actor_trainer.core.errors import MarkGoodRefusedError
from actor_trainer.core.events import EventBus, VersionChanged
from actor_trainer.core.library import Library
from actor_trainer.core.model_registry import ModelRegistry
from tests.library_factory import completed_version, make_library

CKPT = "s3://bucket/actors/0000/models/actor_0000_V2_step000500.safetensors"


def library(tmp_path: Path) -> Library:
    v2 = completed_version("job-2", "V2", checkpoints=[{"step": 500, "url": CKPT}])
    return Library(make_library(tmp_path / "lib", versions={0: [v2, completed_version("job-1", "V1")]}, images={}))


@pytest.mark.asyncio
async def test_a_checkpoint_marked_good_is_the_validated_file(tmp_path: Path) -> None:
    lib = library(tmp_path)
    events = EventBus()
    changed: list[str] = []
    events.subscribe(lambda e: changed.append(e.version.name) if isinstance(e, VersionChanged) else None)
    registry = ModelRegistry(lib, events)

    await registry.mark_good(0, "V1")
    actor, version = await registry.mark_good(0, "V2", 500)
    assert version.goodCheckpointStep == 500 and version.isGood
    model = actor.validated_lora_model
    assert model is not None and model.lora_url == CKPT and model.version_name == "V2"
    raw = json.loads((lib.root / "actors.json").read_text())
    assert raw[0]["validated_lora_model"]["checkpoint_step"] == 500
    assert raw[0]["validated_lora_model"]["lora_url"] == CKPT
    by_name = {v.name: v for v in lib.load_versions(0)}
    assert not by_name["V1"].isGood and by_name["V2"].goodCheckpointStep == 500
    assert set(changed) == {"V1", "V2"}

    # The final LoRA of the same version instead: the checkpoint mark goes.
    actor, version = await registry.mark_good(0, "V2")
    assert version.goodCheckpointStep is None and actor.validated_lora_model is not None
    assert actor.validated_lora_model.lora_url == version.loraUrl

    # Unmarking clears the checkpoint too.
    await registry.mark_good(0, "V2", 500)
    await registry.unmark_good(0, "V2")
    v2 = next(v for v in lib.load_versions(0) if v.name == "V2")
    assert not v2.isGood and v2.goodCheckpointStep is None


def test_a_checkpoint_not_kept_is_refused_and_nothing_written(tmp_path: Path) -> None:
    lib = library(tmp_path)
    before = (lib.root / "actors.json").read_bytes()
    with pytest.raises(MarkGoodRefusedError, match="no checkpoint at step 1000"):
        lib.mark_good(0, "V2", 1000)
    assert (lib.root / "actors.json").read_bytes() == before
