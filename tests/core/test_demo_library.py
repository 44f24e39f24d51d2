"""The demo library shipped in data/: valid records, real images, and the special cases it promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from actor_trainer.core.models import Actor, ActorRegistry, TrainingVersion, VersionsFile, VersionStatus

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
SCRIPT = ROOT / "scripts" / "make_demo_library.py"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
NAME = re.compile(r"^(\d{4})_([a-z]+(?:_[a-z]+)*)_(\d{1,3})_(male|female)$")
LORA_URL = re.compile(r"^s3://demo-bucket/actors/(\d{4})/models/actor_(\d{4})_(V\d+)\.safetensors$")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def actors() -> list[Actor]:
    raw = _read_json(DATA / "actors.json")
    assert isinstance(raw, list)
    return ActorRegistry(actors=[Actor.model_validate(r) for r in raw]).actors


@pytest.fixture(scope="module")
def versions(actors: list[Actor]) -> dict[int, list[TrainingVersion]]:
    out = {}
    for actor in actors:
        path = DATA / "actor_training_versions" / f"{actor.folder_name}.json"
        out[actor.id] = VersionsFile.model_validate(_read_json(path)).versions if path.exists() else []
    return out


def _files(actor: Actor) -> list[Path]:
    folder = DATA / "actors" / actor.folder_name / "training_data"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _images(actor: Actor) -> list[Path]:
    return [p for p in _files(actor) if p.suffix.lower() in IMAGE_SUFFIXES]


def test_every_actor_parses_with_unique_ids_and_conventional_names(actors: list[Actor]) -> None:
    assert 10 <= len(actors) <= 14
    assert len({a.id for a in actors}) == len(actors)
    for actor in actors:
        match = NAME.match(actor.name)
        assert match, actor.name
        assert match.groups() == (actor.folder_name, actor.ethnicity, str(actor.age), actor.sex)
        assert actor.description and actor.description.endswith(".")


def test_the_cast_is_diverse(actors: list[Actor]) -> None:
    assert len({a.ethnicity for a in actors}) >= 6
    assert {a.sex for a in actors} == {"male", "female"}
    ages = [a.age for a in actors if a.age is not None]
    assert min(ages) <= 10 and max(ages) >= 65


def test_files_survive_a_load_save_round_trip() -> None:
    # The files are what the models write: loading and saving them again changes nothing.
    raw_actors = _read_json(DATA / "actors.json")
    assert [Actor.model_validate(r).to_json() for r in raw_actors] == raw_actors
    for path in sorted((DATA / "actor_training_versions").glob("*.json")):
        raw = _read_json(path)
        assert VersionsFile.model_validate(raw).to_json() == raw, path.name


def test_image_counts_and_the_actor_without_training_data(actors: list[Actor]) -> None:
    empty = [a for a in actors if not _images(a)]
    assert len(empty) == 1
    assert _files(empty[0]) == []
    for actor in actors:
        if actor is not empty[0]:
            assert 6 <= len(_images(actor)) <= 25, actor.name


def test_every_actor_has_a_square_poster(actors: list[Actor]) -> None:
    for actor in actors:
        posters = sorted((DATA / "actors" / actor.folder_name).glob("poster.*"))
        assert len(posters) == 1, actor.name
        assert posters[0].suffix in {".jpg", ".jpeg", ".webp", ".png"}
        with Image.open(posters[0]) as poster:
            poster.load()
            assert poster.size[0] == poster.size[1] and poster.size[0] in (384, 512)


def test_formats_are_mixed(actors: list[Actor]) -> None:
    suffixes = [p.suffix for a in actors for p in _images(a)]
    assert suffixes.count(".png") >= 20 and suffixes.count(".jpg") >= 20
    assert suffixes.count(".webp") >= 2
    assert suffixes.count(".jpeg") == 1


def test_every_image_decodes(actors: list[Actor]) -> None:
    for actor in actors:
        for path in _images(actor):
            with Image.open(path) as image:
                image.load()
                assert image.size == (512, 512), path
                assert image.format == {".png": "PNG", ".webp": "WEBP"}.get(path.suffix, "JPEG"), path


def test_captions_belong_to_images_and_name_the_trigger(actors: list[Actor]) -> None:
    captioned = 0
    for actor in actors:
        stems = {p.stem for p in _images(actor)}
        for caption in (p for p in _files(actor) if p.suffix == ".txt"):
            assert caption.stem in stems, caption
            assert caption.read_text(encoding="utf-8").startswith(f"{actor.name}, a portrait of ")
            captioned += 1
    assert captioned >= 20


def test_exactly_one_actor_has_one_unsupported_file(actors: list[Actor]) -> None:
    strays = {a.id: [p for p in _files(a) if p.suffix.lower() not in IMAGE_SUFFIXES | {".txt"}] for a in actors}
    with_strays = {k: v for k, v in strays.items() if v}
    assert len(with_strays) == 1
    (files,) = with_strays.values()
    assert len(files) == 1
    assert files[0].read_bytes().startswith(b"%PDF-")


def test_versions_are_terminal_newest_first_and_consistent(
    actors: list[Actor], versions: dict[int, list[TrainingVersion]]
) -> None:
    all_versions = [v for vs in versions.values() for v in vs]
    assert {v.status for v in all_versions} >= {VersionStatus.COMPLETED, VersionStatus.FAILED}
    assert len({v.id for v in all_versions}) == len(all_versions)
    assert sum(1 for vs in versions.values() if vs) >= 3
    for actor in actors:
        history = versions[actor.id]
        numbers = [v.number for v in history]
        assert numbers == sorted(numbers, reverse=True) == list(range(len(history), 0, -1)), actor.name
        assert [v.timestamp for v in history] == sorted((v.timestamp for v in history), reverse=True)
        for v in history:
            assert v.status.is_terminal  # nothing for the app to reconcile against an unknown endpoint
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-e1", v.id)
            assert v.imageCount <= len(_images(actor))
            if v.status is VersionStatus.COMPLETED:
                match = LORA_URL.match(v.loraUrl or "")
                assert match and match.groups() == (actor.folder_name, actor.folder_name, v.name)
                assert v.completedAt and v.completedAt > v.timestamp
            else:
                assert v.loraUrl is None and not v.isGood
                assert v.failedAt and v.failedAt > v.timestamp
            if v.status is VersionStatus.FAILED:
                assert v.error and v.error.message
                assert "Traceback" in v.error.details["error_traceback"]
    messages = " ".join(v.error.message for v in all_versions if v.error)
    assert "CUDA out of memory" in messages and "is not supported" in messages


def test_exactly_one_validated_model_matching_its_version(
    actors: list[Actor], versions: dict[int, list[TrainingVersion]]
) -> None:
    validated = [a for a in actors if a.validated_lora_model is not None]
    assert len(validated) == 1
    actor = validated[0]
    model = actor.validated_lora_model
    assert model is not None
    good = [(a, v) for a in actors for v in versions[a.id] if v.isGood]
    assert len(good) == 1
    owner, version = good[0]
    assert owner is actor
    assert version.status is VersionStatus.COMPLETED
    assert (model.version_id, model.version_name, model.lora_url) == (version.id, version.name, version.loraUrl)
    assert version.completedAt and model.marked_at > version.completedAt


def test_demo_library_fits_the_size_budget() -> None:
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024


def test_committed_data_is_what_the_script_makes(tmp_path: Path) -> None:
    # --plan-only writes every record and caption and lists every file, without drawing pictures.
    out = tmp_path / "library"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--plan-only", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    planned = json.loads(done.stdout)
    committed = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file())
    assert planned == committed
    for path in out.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (DATA / path.relative_to(out)).read_bytes(), path
