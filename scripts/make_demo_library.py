#!/usr/bin/env python3
"""Generate the demo library that ships with Actor Trainer (`data/`).

    .venv/bin/python scripts/make_demo_library.py            # rewrite data/ from scratch
    .venv/bin/python scripts/make_demo_library.py --out DIR  # write somewhere else
    .venv/bin/python scripts/make_demo_library.py --plan-only --out DIR
        # everything except the pictures, and a manifest of every file on stdout (fast; the tests
        # use it to check that the committed data/ is what this script makes)

Deterministic: the same script (and Pillow) always writes the same files. Layout and record shapes
are those of the data library (docs/architecture.md); every record is validated with the app's pydantic
models before it is written.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path[:0] = [str(SCRIPTS), str(ROOT)]

from demo_cast import BACKGROUNDS, CAST, UNSUPPORTED_FILE_ACTOR, UNSUPPORTED_FILE_NAME, CastMember  # noqa: E402
from demo_portraits import Character, Shot, render  # noqa: E402
from demo_versions import VALIDATED, build_versions, validated_model  # noqa: E402

from actor_trainer.core.models import Actor, ActorRegistry, VersionsFile  # noqa: E402

SEED = 20250115
IMAGE_SIZE = 512
SIZE_BUDGET = 10 * 1024 * 1024
# (actor id, picture number) → format, where a record or the cast needs a particular one.
FORCED_FORMATS = {(6, 3): "jpg", (3, 5): "jpeg"}
WEBP_ACTORS = (0, 2, 10, 11)  # one WebP picture each among their training images

EXPRESSION_WORDS = {
    "neutral": "neutral expression",
    "smile": "smiling",
    "grin": "grinning",
    "laugh": "laughing",
    "surprised": "surprised",
    "smirk": "smirking",
    "serious": "serious expression",
}
TINTS = {"neutral": (1.0, 1.0, 1.0), "warm": (1.05, 1.0, 0.92), "cool": (0.94, 0.98, 1.06), "golden": (1.08, 1.0, 0.84)}


@dataclass(frozen=True)
class Picture:
    """One image file to draw."""

    path: Path
    look: Character
    shot: Shot
    fmt: str  # png jpg jpeg webp


def make_shot(rng: random.Random, member: CastMember, index: int) -> tuple[Shot, str]:
    """A varied shot of an actor, and the words a caption would use for it."""
    hero = index == 0  # the first picture of each actor is a plain front view
    yaw = 0.0 if hero else round(rng.choice((-1, 1)) * rng.uniform(0.0, 0.6), 3)
    tilt = 0.0 if hero else round(rng.uniform(-9.0, 9.0), 2)
    expression = member.expressions[0] if hero else rng.choice(member.expressions)
    unit = round(rng.uniform(78.0, 118.0), 1)
    cy = max(rng.uniform(0.36, 0.46), (1.55 * unit + 12) / IMAGE_SIZE)
    bg_name = member.poster_bg if hero else rng.choice(sorted(BACKGROUNDS))
    light = rng.choice((-1, 0, 1))
    tint_name = rng.choice(sorted(TINTS))
    brightness = rng.uniform(0.94, 1.04)
    top, bottom = BACKGROUNDS[bg_name]
    shot = Shot(
        yaw=yaw,
        tilt=tilt,
        expression=expression,
        unit=unit,
        cx=round(0.5 + rng.uniform(-0.07, 0.07), 3),
        cy=round(cy, 3),
        bg_top=top,
        bg_bottom=bottom,
        backdrop=rng.choice(("plain", "circles", "wall", "stripes")),
        light=light,
        shadow=round(rng.uniform(0.35, 0.9), 2),
        tint=tuple(round(k * brightness, 3) for k in TINTS[tint_name]),  # type: ignore[arg-type]
    )
    view = (
        "facing the camera"
        if abs(yaw) < 0.2
        else "three-quarter view, looking to the left"
        if yaw < 0
        else "three-quarter view, looking to the right"
    )
    if abs(tilt) > 5:
        view += ", head tilted"
    light_words = {-1: "lit from the left", 0: "soft front light", 1: "lit from the right"}[light]
    if tint_name != "neutral":
        light_words += f", {tint_name} tones"
    caption = (
        f"{member.name}, a portrait of {member.subject}, {EXPRESSION_WORDS[expression]}, {view}, "
        f"{light_words}, {bg_name} background"
    )
    return shot, caption


def poster_shot(member: CastMember) -> Shot:
    top, bottom = BACKGROUNDS[member.poster_bg]
    return Shot(
        yaw=0.0,
        tilt=0.0,
        expression=member.expressions[0],
        unit=96.0,
        cx=0.5,
        cy=0.42,
        bg_top=top,
        bg_bottom=bottom,
        backdrop="plain",
        light=-1,
        shadow=0.5,
        tint=(1.0, 1.0, 1.0),
    )


def file_stems(rng: random.Random, member: CastMember) -> list[str]:
    n = member.images
    if member.naming == "portrait":
        return [f"portrait_{i:02d}" for i in range(1, n + 1)]
    if member.naming == "camera":
        number, stems = 4811 + rng.randrange(0, 400), []
        for _ in range(n):
            number += rng.randrange(1, 6)
            stems.append(f"IMG_{number}")
        return stems
    if member.naming == "mixed":
        # a name with spaces among them: keys and URLs must survive it (encoding a URL twice once broke such uploads)
        kinds = ("still", "closeup", "studio shot")
        return [f"{kinds[i % 3]}_{i:02d}" if i % 3 != 2 else f"{kinds[2]} {i:02d}" for i in range(1, n + 1)]
    return [f"{member.id:04d}_{i:02d}" for i in range(1, n + 1)]


def formats(rng: random.Random, member: CastMember) -> list[str]:
    n = member.images
    webp = 1 if member.id in WEBP_ACTORS and n else 0
    pool = ["webp"] * webp + ["png", "jpg"] * ((n - webp + 1) // 2)
    chosen = pool[:n]
    rng.shuffle(chosen)
    for (actor_id, number), fmt in FORCED_FORMATS.items():
        if actor_id == member.id:
            chosen[number - 1] = fmt
    return chosen


def tiny_pdf(text: str) -> bytes:
    """A minimal, valid one-page PDF (the "unsupported file" among an actor's pictures)."""
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def draw_picture(picture: Picture) -> None:
    image = render(picture.look, picture.shot, IMAGE_SIZE)
    if picture.fmt == "png":
        image.save(picture.path, "PNG", optimize=True)
    elif picture.fmt == "webp":
        image.save(picture.path, "WEBP", quality=85, method=6)
    else:
        image.save(picture.path, "JPEG", quality=85, optimize=True)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def validated_actors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    actors = [Actor.model_validate(r) for r in records]
    ActorRegistry(actors=actors)  # unique ids
    out = [a.to_json() for a in actors]
    if [Actor.model_validate(r).to_json() for r in out] != out:
        raise SystemExit("actors.json does not survive a load/save round trip")
    return out


def validated_versions(records: list[dict[str, Any]]) -> dict[str, Any]:
    data = VersionsFile.model_validate({"versions": records}).to_json()
    if VersionsFile.model_validate(data).to_json() != data:
        raise SystemExit("a versions file does not survive a load/save round trip")
    return data


def prepare_output(out: Path) -> None:
    if out.exists():
        entries = {p.name for p in out.iterdir()}
        if entries - {"actors.json", "actors", "actor_training_versions"}:
            raise SystemExit(f"{out} holds files that are not a demo library ({sorted(entries)}); not touching it")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def build(out: Path, plan_only: bool) -> list[str]:
    """Write the library into `out`; return the relative paths of every file (written or planned)."""
    prepare_output(out)
    rng = random.Random(SEED)
    pictures: list[Picture] = []
    actor_records: list[dict[str, Any]] = []
    (out / "actor_training_versions").mkdir()
    for member in CAST:
        folder = out / "actors" / f"{member.id:04d}"
        folder.mkdir(parents=True)
        pictures.append(
            Picture(folder / f"poster.{member.poster_ext}", member.look, poster_shot(member), member.poster_ext)
        )
        if member.images:
            data_dir = folder / "training_data"
            data_dir.mkdir()
            for index, (stem, fmt) in enumerate(zip(file_stems(rng, member), formats(rng, member), strict=True)):
                shot, caption = make_shot(rng, member, index)
                pictures.append(Picture(data_dir / f"{stem}.{fmt}", member.look, shot, fmt))
                if member.captions == "all" or (member.captions == "some" and index % 2 == 0):
                    (data_dir / f"{stem}.txt").write_text(caption + "\n", encoding="utf-8")
            if member.id == UNSUPPORTED_FILE_ACTOR:
                (data_dir / UNSUPPORTED_FILE_NAME).write_bytes(
                    tiny_pdf(f"{member.name}: costume and make-up notes, season 2")
                )
        versions = build_versions(member.id, rng)
        record: dict[str, Any] = {
            "id": member.id,
            "name": member.name,
            "description": member.description,
            "sex": member.sex,
            "ethnicity": member.ethnicity,
            "age": member.age,
            "validated_lora_model": validated_model(versions, VALIDATED[1]) if member.id == VALIDATED[0] else None,
        }
        actor_records.append(record)
        if versions:
            write_json(out / "actor_training_versions" / f"{member.id:04d}.json", validated_versions(versions))
    write_json(out / "actors.json", validated_actors(actor_records))
    if not plan_only:
        with ProcessPoolExecutor() as pool:
            list(pool.map(draw_picture, pictures, chunksize=4))
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    return sorted(written | {p.path.relative_to(out).as_posix() for p in pictures})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data", help="library folder (default: data/)")
    parser.add_argument("--plan-only", action="store_true", help="skip drawing; print the file manifest")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    files = build(out, args.plan_only)
    if args.plan_only:
        print(json.dumps(files, indent=1))
        return 0
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    images = sum(1 for f in files if "/training_data/" in f and f.rsplit(".", 1)[-1] in ("png", "jpg", "jpeg", "webp"))
    print(f"{out}: {len(CAST)} actors, {images} training images, {len(files)} files, {total / 1024 / 1024:.2f} MiB")
    if total > SIZE_BUDGET:
        print(f"over the {SIZE_BUDGET // 1024 // 1024} MiB budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
