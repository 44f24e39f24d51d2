"""The contact sheet (core/contact_sheet.py): rows = versions, columns = prompts."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageStat

from actor_trainer.core.contact_sheet import (
    CELL,
    HEADER_HEIGHT,
    LABEL_WIDTH,
    PAD,
    compare_columns,
    samples_at,
    sheet_rows,
    write_contact_sheet,
)
from actor_trainer.core.models import Sample, TrainingVersion

PROMPTS = ["portrait of tok", "tok full body", "tok in a cafe"]


def version(name: str, steps: list[int]) -> TrainingVersion:
    samples = [
        Sample(url=f"file:///{name}/{s}_{i}.png", prompt=p, seed=42, step=s, index=i)
        for s in steps
        for i, p in enumerate(PROMPTS)
    ]
    history = [(s, 0.5 - s / 10000) for s in steps]
    return TrainingVersion(id=f"job-{name}", name=name, samples=samples, lossHistory=history)


def test_rows_are_versions_columns_are_prompts(tmp_path: Path) -> None:
    v1, v2 = version("V1", [500, 1000]), version("V2", [500])
    assert [s.step for s in samples_at(v1)] == [1000] * 3  # the last checkpoint by default
    chosen = [(v1, None), (v2, None), (v1, 500)]  # a repeat, at a checkpoint
    columns = compare_columns(chosen)
    assert columns == PROMPTS
    rows = sheet_rows(chosen, columns)
    assert [r.title for r in rows] == ["V1", "V2", "V1@500"]
    assert rows[0].lines[0] == "step 1000" and rows[2].lines[0] == "step 500"
    assert any(line.startswith("loss 0.4") for line in rows[0].lines)
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    for r, row in enumerate(rows):
        for c in range(len(columns)):
            path = tmp_path / f"{r}_{c}.png"
            Image.new("RGB", (64, 64), colours[c]).save(path)
            row.images.append(path if (r, c) != (1, 2) else None)  # one missing image
    out = tmp_path / "sheet.png"
    width, height = write_contact_sheet(out, rows, columns, title="Ann")
    sheet = Image.open(out)
    expected = (LABEL_WIDTH + 3 * (CELL + PAD) + PAD, HEADER_HEIGHT + 3 * (CELL + PAD) + PAD)
    assert sheet.size == (width, height) == expected
    # Each cell shows its column's image; the missing one is an empty frame.
    for r in range(3):
        for c in range(3):
            x, y = LABEL_WIDTH + c * (CELL + PAD), HEADER_HEIGHT + r * (CELL + PAD)
            mean = ImageStat.Stat(sheet.convert("RGB").crop((x + 40, y + 40, x + CELL - 40, y + CELL - 40))).mean
            if (r, c) == (1, 2):
                assert max(mean) < 40
            else:
                assert max(range(3), key=lambda i: mean[i]) == c


def test_good_is_shown_only_on_the_file_marked() -> None:
    """A version whose final LoRA is good shows "(good)" on its final row only, not on its checkpoint
    rows; a version whose checkpoint is good shows it on that checkpoint's row only."""
    final_good = version("V1", [500, 1000]).model_copy(update={"isGood": True})
    checkpoint_good = version("V2", [500, 1000]).model_copy(update={"isGood": True, "goodCheckpointStep": 500})
    chosen = [(final_good, None), (final_good, 500), (checkpoint_good, None), (checkpoint_good, 500)]
    titles = [r.title for r in sheet_rows(chosen, compare_columns(chosen))]
    assert titles == ["V1  (good)", "V1@500", "V2", "V2@500  (good)"]
