"""Versions side by side (issue 12): which samples to compare, and a contact sheet to review them.

`compare_columns` lines up the prompts of the chosen versions (and checkpoints); `sheet_rows` picks
each one's images for them; `render_contact_sheet` draws the sheet — one row per version, one
column per prompt, each row labelled with the version, its step, parameters and loss — as a PNG
(Pillow, blocking: call it in a thread). Used by `actor-trainer compare` and the Compare window.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from actor_trainer.core.atomic import atomic_write_bytes
from actor_trainer.core.models import Sample, TrainingVersion

CELL = 256
LABEL_WIDTH = 240
HEADER_HEIGHT = 84
PAD = 8
BACKGROUND = (24, 24, 28)
TEXT = (230, 230, 235)
MUTED = (150, 150, 160)


def sample_steps(version: TrainingVersion) -> list[int]:
    """The steps at which `version` has samples, ascending."""
    return sorted({s.step for s in version.samples or [] if s.step is not None})


def samples_at(version: TrainingVersion, step: int | None = None) -> list[Sample]:
    """The version's samples at `step` (default: its last sample step), by prompt index."""
    steps = sample_steps(version)
    if not steps:
        return []
    chosen = steps[-1] if step is None else step
    return sorted((s for s in version.samples or [] if s.step == chosen), key=lambda s: s.index)


def final_loss(version: TrainingVersion, step: int | None = None) -> float | None:
    """The loss at `step` (the last reported at or before it), or the run's last loss."""
    history = version.lossHistory or []
    if step is not None:
        history = [p for p in history if p[0] <= step]
    if history:
        return float(history[-1][1])
    if version.progress is not None and version.progress.loss is not None and step is None:
        return float(version.progress.loss)
    return None


def parameters_line(version: TrainingVersion) -> str:
    p = version.parameters
    return f"lr {p.learning_rate:g} · {p.max_train_steps} steps · dim/alpha {p.network_dim}/{p.network_alpha:g}"


@dataclass
class SheetRow:
    """One row: a version (at a checkpoint), its label lines, and one image per column (None: none)."""

    title: str
    lines: list[str]
    images: list[Path | None] = field(default_factory=list)
    samples: list[Sample | None] = field(default_factory=list)


def compare_columns(chosen: Sequence[tuple[TrainingVersion, int | None]]) -> list[str]:
    """The prompts of the chosen versions' samples, in order of first appearance (the columns)."""
    columns: list[str] = []
    for version, step in chosen:
        for s in samples_at(version, step):
            if s.prompt not in columns:
                columns.append(s.prompt)
    return columns


def sheet_rows(chosen: Sequence[tuple[TrainingVersion, int | None]], columns: Sequence[str]) -> list[SheetRow]:
    """One row per chosen version, with the sample of each column's prompt (images filled in later)."""
    rows: list[SheetRow] = []
    for version, step in chosen:
        picked = samples_at(version, step)
        at = picked[0].step if picked else step
        by_prompt = {s.prompt: s for s in picked}
        loss = final_loss(version, at)
        lines = [f"step {at}" if at is not None else "no samples", parameters_line(version)]
        if loss is not None:
            lines.append(f"loss {loss:.4f}")
        if picked:
            lines.append(f"seed {picked[0].seed}")
        # The row shows the final LoRA (step None) or one kept checkpoint: "(good)" only on the file marked.
        good = version.isGood and version.goodCheckpointStep == step
        title = f"{version.name}{'@' + str(step) if step is not None else ''}{'  (good)' if good else ''}"
        rows.append(SheetRow(title=title, lines=lines, samples=[by_prompt.get(c) for c in columns]))
    return rows


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _drawable(text: str) -> str:
    """Pillow's built-in font has no glyph for some punctuation: plain equivalents instead."""
    return text.replace("—", "-").replace("–", "-").replace("✓", "v").replace("…", "...")


def render_contact_sheet(
    rows: Sequence[SheetRow], columns: Sequence[str], *, title: str = "", cell: int = CELL
) -> Image.Image:
    """The sheet: a header of prompts, then one labelled row of images per version (blocking)."""
    title = _drawable(title)
    columns = [_drawable(c) for c in columns]
    cols = max(1, len(columns))
    width = LABEL_WIDTH + cols * (cell + PAD) + PAD
    height = HEADER_HEIGHT + len(rows) * (cell + PAD) + PAD
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    small, big = _font(12), _font(16)
    if title:
        draw.text((PAD, PAD), title, fill=TEXT, font=big)
    for c, prompt in enumerate(columns):
        x = LABEL_WIDTH + c * (cell + PAD)
        wrapped = textwrap.wrap(prompt, width=max(10, cell // 7))[:3]
        for i, line in enumerate(wrapped):
            draw.text((x, PAD + 24 + i * 15), line, fill=MUTED, font=small)
    for r, row in enumerate(rows):
        y = HEADER_HEIGHT + r * (cell + PAD)
        draw.text((PAD, y + 4), _drawable(row.title), fill=TEXT, font=big)
        for i, line in enumerate(_drawable(line) for line in row.lines):
            for j, part in enumerate(textwrap.wrap(line, width=34)[:2]):
                draw.text((PAD, y + 28 + (i * 2 + j) * 15), part, fill=MUTED, font=small)
        for c in range(len(columns)):
            x = LABEL_WIDTH + c * (cell + PAD)
            path = row.images[c] if c < len(row.images) else None
            if path is None:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), outline=(70, 70, 80))
                draw.text((x + cell // 2 - 30, y + cell // 2 - 8), "no sample", fill=MUTED, font=big)
                continue
            try:
                with Image.open(path) as image:
                    tile = ImageOps.contain(image.convert("RGB"), (cell, cell))
            except Exception:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), outline=(160, 60, 60))
                draw.text((x + 6, y + cell // 2), "unreadable", fill=(200, 90, 90), font=small)
                continue
            sheet.paste(tile, (x + (cell - tile.width) // 2, y + (cell - tile.height) // 2))
    return sheet


def write_contact_sheet(
    path: Path, rows: Sequence[SheetRow], columns: Sequence[str], *, title: str = "", cell: int = CELL
) -> tuple[int, int]:
    """Render the sheet and write it to `path` (PNG, atomically); returns its size (blocking)."""
    image = render_contact_sheet(rows, columns, title=title, cell=cell)
    out = io.BytesIO()
    image.save(out, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, out.getvalue())
    return image.size
