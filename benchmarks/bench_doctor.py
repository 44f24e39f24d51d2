"""Benchmark: the dataset doctor on 500 pictures, cold and warm, beside plain baselines.

    .venv/bin/python benchmarks/bench_doctor.py [--count 500] [--size 1024] [--workers N]

Generates N captioned pictures (two thirds JPEG, one third PNG, `size` px, varied content) in a
temporary library, then times, in the same run and on the same files:
  1. baseline: reading every file's bytes;
  2. baseline: Pillow `open` + `verify` of every file (what a minimal "is it a picture" check costs);
  3. baseline: Pillow `open` + full decode of every file;
  4. the doctor, cold: an empty cache (every file read, hashed and decoded; JPEGs at reduced scale);
  5. the doctor, warm: the cache filled by 4 (the target: under 3 s for 500 pictures); best of 3.
The files are in the OS page cache for every row (they were just written), so "cold" means "the
doctor has never seen them", not "the disk is cold". The doctor's cache goes to a temp folder.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actor_trainer.core.dataset_doctor import check_actor
from actor_trainer.core.dataset_doctor_facts import FactsCache
from actor_trainer.core.library import Library
from actor_trainer.core.models import TrainingParameters
from tests.library_factory import make_library

TRIGGER = "bench_actor"


def picture(rng: random.Random, size: int) -> Image.Image:
    """Smooth colour blocks plus fine noise: content no two pictures share, compressing like a photo."""
    small = Image.new("RGB", (8, 8))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64)])
    base = small.resize((size, size), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((size, size), 24).convert("RGB")
    return Image.blend(base, noise, 0.12)


def generate(root: Path, count: int, size: int) -> Library:
    lib = make_library(root, actors=[{"id": 0, "name": TRIGGER}], images={0: 0})
    folder = lib / "actors" / "0000" / "training_data"
    rng = random.Random(2025)
    for i in range(count):
        image = picture(rng, size)
        if i % 3 == 2:
            image.save(folder / f"pic_{i:04d}.png", compress_level=1)  # quick to write, as slow to read
        else:
            image.save(folder / f"pic_{i:04d}.jpg", quality=90)
        (folder / f"pic_{i:04d}.txt").write_text(f"{TRIGGER}, picture {i}", encoding="utf-8")
    return Library(lib)


def timed(label: str, fn: object, rows: list[tuple[str, float]]) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    rows.append((label, seconds))
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default: up to 4)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-doctor-"))
    try:
        t0 = time.perf_counter()
        library = generate(tmp / "lib", args.count, args.size)
        made = time.perf_counter() - t0
        actor = library.get_actor(0)
        scan = library.scan_training_data(0)
        paths = [i.path for i in scan.images]
        total_mb = sum(i.size for i in scan.images) / 1e6
        print(
            f"{len(paths)} pictures of {args.size}×{args.size} px ({total_mb:.0f} MB; "
            f"{sum(p.suffix == '.jpg' for p in paths)} JPEG, {sum(p.suffix == '.png' for p in paths)} PNG) "
            f"+ captions, generated in {made:.1f} s; {os.cpu_count()} CPU(s)"
        )
        rows: list[tuple[str, float]] = []

        def read_all() -> None:
            for p in paths:
                p.read_bytes()

        def open_verify() -> None:
            for p in paths:
                with Image.open(p) as im:
                    im.verify()

        def open_decode() -> None:
            for p in paths:
                with Image.open(p) as im:
                    im.load()

        cache = FactsCache(tmp / "cache")
        params = TrainingParameters(resolution=512)

        def doctor() -> None:
            report = check_actor(library, actor, params, cache=cache, workers=args.workers)
            assert report.image_count == len(paths) and not report.has_blocking, report.summary()

        timed("baseline: read every file's bytes", read_all, rows)
        timed("baseline: Pillow open + verify", open_verify, rows)
        timed("baseline: Pillow open + full decode", open_decode, rows)
        timed("doctor, cold (empty cache)", doctor, rows)
        warm = min(timed(f"doctor, warm (run {n})", doctor, []) for n in (1, 2, 3))
        rows.append(("doctor, warm (best of 3)", warm))

        width = max(len(label) for label, _ in rows)
        for label, seconds in rows:
            print(f"  {label:<{width}}  {seconds:7.3f} s  ({seconds / len(paths) * 1000:6.2f} ms per picture)")
        verdict = "under" if warm < 3.0 else "OVER"
        print(f"warm check of {len(paths)} pictures: {warm:.3f} s — {verdict} the 3 s target")
        return 0 if warm < 3.0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
