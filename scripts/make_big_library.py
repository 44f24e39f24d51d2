"""Write a large, valid actor library (default 10,000 actors) quickly, for benchmarks and manual tests.

    python scripts/make_big_library.py OUT_DIR [--actors 10000] [--posters 8] [--max-images 3]

The layout is the app's (actors.json, actors/NNNN/poster.png, actors/NNNN/training_data/*).
Every poster and training image is a hard link to one of a few shared files (a symlink or a copy
where hard links are not possible), so 10,000 actors take a couple of seconds (the disk space
is mostly the 20,000 folders).
Actors are deterministic for a given --seed. OUT_DIR must be empty or absent.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.models import ActorRegistry

MAX_ACTORS = 10_000  # ids are four digits (0000–9999)
SEXES = ("male", "female")
ETHNICITIES = ("european", "african", "east_asian", "south_asian", "latino", "middle_eastern")
TRAITS = (
    "a lanky teenager in a green hoodie",
    "a paramedic with short curls",
    "a retired boxer with a broken nose",
    "a violinist who wears round glasses",
    "a chef with flour on her sleeves",
    "a mountain guide with a grey beard",
    "a librarian in a tweed jacket",
    "a street dancer with bleached hair",
)
SOURCES_DIR = ".bench-sources"


def _portrait(path: Path, index: int, size: tuple[int, int] = (400, 600)) -> None:
    """A simple portrait-shaped poster: a coloured background and a head-and-shoulders silhouette."""
    hue_rgb = [(60 + 23 * index) % 256, (140 + 57 * index) % 256, (200 + 91 * index) % 256]
    image = Image.new("RGB", size, tuple(hue_rgb))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w * 0.3, h * 0.15, w * 0.7, h * 0.5), fill=(235, 200, 170))
    draw.rounded_rectangle((w * 0.15, h * 0.55, w * 0.85, h * 1.1), radius=int(w * 0.2), fill=(40, 40, 60))
    image.save(path)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        try:
            target.symlink_to(source.resolve())
        except OSError:
            shutil.copyfile(source, target)


def actor_records(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` actor records in the library's shape (id, name, description, sex, ethnicity, age, ...)."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for actor_id in range(count):
        sex = rng.choice(SEXES)
        ethnicity = rng.choice(ETHNICITIES)
        age: int | None = rng.randint(16, 75) if rng.random() > 0.02 else None
        record: dict[str, Any] = {
            "id": actor_id,
            "name": f"{actor_id:04d}_{ethnicity}_{age if age is not None else 'x'}_{sex}",
            "description": f"{rng.choice(TRAITS).capitalize()}.",
            "sex": sex,
            "ethnicity": ethnicity,
            "age": age,
            "validated_lora_model": None,
        }
        if rng.random() < 0.1:
            record["validated_lora_model"] = {
                "version_id": f"job-{actor_id:04d}-v1",
                "version_name": "V1",
                "lora_url": f"s3://bucket/actors/{actor_id:04d}/models/actor_{actor_id:04d}_V1.safetensors",
                "marked_at": "2026-01-15T11:00:00Z",
            }
        records.append(record)
    return records


def make_big_library(out: Path, actors: int = MAX_ACTORS, posters: int = 8, max_images: int = 3, seed: int = 1) -> Path:
    """Create the library in `out` (empty or absent) and return it."""
    if not 1 <= actors <= MAX_ACTORS:
        raise ValueError(f"--actors must be between 1 and {MAX_ACTORS}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder")
    records = actor_records(actors, seed)
    ActorRegistry(actors=records)  # the same validation the app applies when it reads the file

    sources = out / SOURCES_DIR
    sources.mkdir(parents=True)
    poster_files = []
    for i in range(max(1, posters)):
        path = sources / f"poster_{i}.png"
        _portrait(path, i)
        poster_files.append(path)
    image_files = []
    for i in range(max_images):
        path = sources / f"train_{i}.png"
        _portrait(path, i + 100, size=(256, 256))
        image_files.append(path)
    caption = sources / "caption.txt"
    caption.write_text("a portrait photo\n", encoding="utf-8")

    for record in records:
        actor_id = record["id"]
        folder = out / "actors" / f"{actor_id:04d}"
        training = folder / "training_data"
        training.mkdir(parents=True)
        _link(poster_files[actor_id % len(poster_files)], folder / "poster.png")
        # 0..max_images images, so some actors have no training data at all.
        for i in range(actor_id % (max_images + 1)):
            _link(image_files[i], training / f"img_{i:02d}.png")
            if actor_id % 2 == 0:
                _link(caption, training / f"img_{i:02d}.txt")
    atomic_write_json(out / "actors.json", records)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="library folder to create (empty or absent)")
    parser.add_argument("--actors", type=int, default=MAX_ACTORS, help="number of actors (max 10000)")
    parser.add_argument("--posters", type=int, default=8, help="distinct poster files shared by all actors")
    parser.add_argument("--max-images", type=int, default=3, help="training images per actor cycle 0..N")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        make_big_library(args.out, args.actors, args.posters, args.max_images, args.seed)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.actors} actors written to {args.out} in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
