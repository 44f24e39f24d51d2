"""The library store: counts from the real folders, atomic writes, typed errors, mark good."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actor_trainer.core.errors import (
    ActorNotFoundError,
    CorruptFileError,
    InvalidTransitionError,
    MarkGoodRefusedError,
    VersionNotFoundError,
)
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingVersion, VersionStatus
from tests.library_factory import completed_version, make_library, write_png


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return Library(make_library(tmp_path / "lib"))


def test_actor_lookup_by_id_padded_id_and_name(library: Library) -> None:
    assert library.get_actor("0").id == 0
    assert library.get_actor("0001").id == 1
    assert library.get_actor("0001_AFRICAN_34_female").id == 1
    with pytest.raises(ActorNotFoundError):
        library.get_actor("7")


def test_training_data_counts_images_pairs_captions_and_flags_the_rest(library: Library) -> None:
    folder = library.training_data_folder(0)
    write_png(folder / "front view.JPG")  # upper-case suffix still counts
    (folder / "img_00.txt").write_text("0000_european_16_male, a portrait")
    (folder / "orphan.txt").write_text("no image of this name")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    (folder / ".DS_Store").write_bytes(b"junk")
    scan = library.scan_training_data(0)
    assert scan.image_count == 7
    assert [c.name for c in scan.captions] == ["img_00.txt"]
    assert sorted(p.name for p in scan.unsupported) == ["notes.pdf", "orphan.txt"]
    assert len(scan.files) == 8
    assert library.scan_training_data(5).image_count == 0  # no folder: zero, not an error


def test_unknown_fields_survive_append_update_and_mark_good(tmp_path: Path) -> None:
    actors = [{"id": 0, "name": "0000_x", "pipeline_tag": {"shot": 12}, "validated_lora_model": None}]
    versions = {
        0: [
            completed_version(
                "job-1-e1",
                "V1",
                reviewer="kim",
                parameters={"learning_rate": 0.0004, "max_train_steps": 2000, "network_dim": 8, "custom_flag": True},
            )
        ]
    }
    lib = Library(make_library(tmp_path / "lib", actors=actors, versions=versions))
    lib.append_version(0, lambda name: TrainingVersion(id="req-2", requestId="req-2", name=name))
    lib.update_version(0, "req-2", lambda v: v.move_to(VersionStatus.QUEUED))
    lib.mark_good(0, "job-1-e1")
    saved_actor = json.loads(lib.actors_file.read_text())[0]
    assert saved_actor["pipeline_tag"] == {"shot": 12}
    assert saved_actor["validated_lora_model"]["version_id"] == "job-1-e1"
    saved_versions = json.loads(lib.versions_file(0).read_text())["versions"]
    v1 = next(v for v in saved_versions if v["name"] == "V1")
    assert v1["reviewer"] == "kim" and v1["parameters"]["custom_flag"] is True and v1["isGood"] is True
    assert [v["name"] for v in saved_versions] == ["V2", "V1"]  # newest first


def test_version_names_are_never_reused(library: Library) -> None:
    path = library.versions_file(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"versions": [completed_version("a", "V1"), completed_version("b", "V4")]}))
    created = library.append_version(0, lambda name: TrainingVersion(id="r", requestId="r", name=name))
    assert created.name == "V5"


def test_corrupt_file_raises_typed_error_and_is_never_overwritten(library: Library) -> None:
    original = library.actors_file.read_bytes()
    library.actors_file.write_bytes(original[: len(original) // 2])  # truncated
    truncated = library.actors_file.read_bytes()
    with pytest.raises(CorruptFileError) as info:
        library.load_actors()
    assert info.value.path == library.actors_file and "not valid JSON" in info.value.problem
    with pytest.raises(CorruptFileError):
        library.append_version(0, lambda name: TrainingVersion(id="r", requestId="r", name=name))
    with pytest.raises(CorruptFileError):
        library.mark_good(0, "whatever")
    assert library.actors_file.read_bytes() == truncated


def test_schema_error_names_the_record_and_field(library: Library) -> None:
    path = library.versions_file(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    bad = completed_version("a", "V1")
    bad["parameters"]["optimizer_type"] = "AdamW8bit"  # the spelling that wasted five GPU runs
    path.write_text(json.dumps({"versions": [bad]}))
    before = path.read_bytes()
    with pytest.raises(CorruptFileError) as info:
        library.load_versions(0)
    assert "version #1" in info.value.problem and "optimizer_type" in info.value.problem
    with pytest.raises(CorruptFileError):
        library.update_version(0, "a", lambda v: None)
    assert path.read_bytes() == before


def test_mark_good_is_exclusive_and_idempotent(library: Library) -> None:
    path = library.versions_file(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"versions": [completed_version("b", "V2"), completed_version("a", "V1", isGood=True)]}))
    actor, version = library.mark_good(0, "b")
    assert version.isGood and actor.validated_lora_model is not None
    assert actor.validated_lora_model.version_name == "V2"
    first = library.actors_file.read_bytes(), library.versions_file(0).read_bytes()
    library.mark_good(0, "b")  # pressing it twice never un-marks and writes nothing new
    assert (library.actors_file.read_bytes(), library.versions_file(0).read_bytes()) == first
    flags = {v.name: v.isGood for v in library.load_versions(0)}
    assert flags == {"V2": True, "V1": False}


def test_mark_good_refuses_unfinished_or_url_less_versions(library: Library) -> None:
    path = library.versions_file(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    failed = completed_version("f", "V1", status="failed", loraUrl=None)
    no_url = completed_version("n", "V2", loraUrl=None)
    path.write_text(json.dumps({"versions": [no_url, failed]}))
    before = library.actors_file.read_bytes()
    with pytest.raises(MarkGoodRefusedError, match="failed"):
        library.mark_good(0, "f")
    with pytest.raises(MarkGoodRefusedError, match="no LoRA URL"):
        library.mark_good(0, "n")
    with pytest.raises(VersionNotFoundError):
        library.mark_good(0, "missing")
    assert library.actors_file.read_bytes() == before


def test_states_only_move_forward_through_the_store(library: Library) -> None:
    library.append_version(0, lambda name: TrainingVersion(id="r1", requestId="r1", name=name))

    def adopt_job(v: TrainingVersion) -> None:
        v.id = "job-9-e1"
        v.move_to(VersionStatus.IN_PROGRESS)

    library.update_version(0, "r1", adopt_job)
    library.update_version(0, "job-9-e1", lambda v: v.move_to(VersionStatus.COMPLETED))
    with pytest.raises(InvalidTransitionError):
        library.update_version(0, "job-9-e1", lambda v: v.move_to(VersionStatus.IN_PROGRESS))
    saved = library.get_version(0, "r1")  # still findable by its request id
    assert saved.status is VersionStatus.COMPLETED and saved.job_id == "job-9-e1"
    assert saved.completedAt is not None


def test_legacy_status_names_are_understood(library: Library) -> None:
    path = library.versions_file(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"versions": [completed_version("t", "V1", status="training", loraUrl=None)]}))
    assert library.load_versions(0)[0].status is VersionStatus.IN_PROGRESS
    assert [v.id for _, v in library.in_flight_versions()] == ["t"]
