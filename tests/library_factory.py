"""Small real libraries on disk for tests (written with the same models the app reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image


def write_png(path: Path, colour: tuple[int, int, int] = (200, 120, 90), size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
    return path


def make_library(
    root: Path,
    actors: list[dict[str, Any]] | None = None,
    images: dict[int, int] | None = None,
    versions: dict[int, list[dict[str, Any]]] | None = None,
) -> Path:
    """A library with `actors` (default: two), `images[actor_id]` PNGs each, and versions files."""
    root.mkdir(parents=True, exist_ok=True)
    actors = (
        actors
        if actors is not None
        else [
            {
                "id": 0,
                "name": "0000_european_16_male",
                "sex": "male",
                "ethnicity": "european",
                "age": 16,
                "description": "A lanky teenager in a green hoodie.",
                "validated_lora_model": None,
            },
            {
                "id": 1,
                "name": "0001_african_34_female",
                "sex": "female",
                "ethnicity": "african",
                "age": 34,
                "description": "A paramedic with short curls.",
                "validated_lora_model": None,
            },
        ]
    )
    (root / "actors.json").write_text(json.dumps(actors, indent=2), encoding="utf-8")
    images = images if images is not None else {a["id"]: 6 for a in actors}
    for actor_id, count in images.items():
        folder = root / "actors" / f"{actor_id:04d}" / "training_data"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            write_png(folder / f"img_{i:02d}.png", (10 * i % 255, 100, 150 + actor_id))
        write_png(root / "actors" / f"{actor_id:04d}" / "poster.png", (80, 80, 200))
    for actor_id, records in (versions or {}).items():
        path = root / "actor_training_versions" / f"{actor_id:04d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"versions": records}, indent=2), encoding="utf-8")
    return root


def completed_version(job_id: str, name: str, **extra: Any) -> dict[str, Any]:
    record = {
        "id": job_id,
        "name": name,
        "status": "completed",
        "loraUrl": f"s3://bucket/actors/0000/models/actor_0000_{name}.safetensors",
        "parameters": {"learning_rate": 0.0004, "max_train_steps": 2000, "network_dim": 8},
        "timestamp": "2026-01-15T10:30:00Z",
        "imageCount": 6,
        "isGood": False,
    }
    record.update(extra)
    return record
