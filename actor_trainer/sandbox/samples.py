"""The sandbox's drawings: training samples and "Try" images, made from the actor's own photos.

A real worker samples the LoRA with FluxTrainer's validation nodes (docs/worker-contract.md,
contract v2). The sandbox has no GPU, so it draws stand-ins that still behave like samples do:
each image is cut from one of the actor's training images (so it looks like the actor), chosen and
framed by the prompt (a portrait is a close crop, a full body the whole photo, a scene the photo on
a backdrop coloured by the prompt), and the earlier the step, the more it is blurred, noisy and
off-colour — the picture settles as the run trains. Every image is stamped SIMULATED, with its step
(or its seed, for a Try). Deterministic: the same sources, prompt, seed and step give the same bytes.

Pillow only, blocking: call from a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

#: the side of every sandbox drawing, in pixels (small: the sandbox stays fast)
SAMPLE_SIZE = 256
#: how many of the actor's images the worker keeps as sources (as thumbnails)
MAX_SOURCES = 12
STAMP = "SIMULATED"


def source_thumbnail(data: bytes, size: int = SAMPLE_SIZE * 2) -> Image.Image:
    """An RGB copy of a training image at most `size` px on its longer side (a source to draw from)."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        image.thumbnail((size, size))
        return image.convert("RGB")


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def _framing(prompt: str) -> str:
    text = prompt.lower()
    if "full body" in text or "full-body" in text or "standing" in text:
        return "full"
    if "three-quarter" in text or "three quarter" in text or "shoulder" in text:
        return "three-quarter"
    if "portrait" in text or "close" in text or "headshot" in text or "face" in text:
        return "portrait"
    return "scene"


def _frame(source: Image.Image, prompt: str, rng: random.Random, size: int) -> Image.Image:
    """Cut and place the source as the prompt asks."""
    w, h = source.size
    framing = _framing(prompt)
    if framing == "full":
        canvas = Image.new("RGB", (size, size), _colour(prompt, 0.35))
        fitted = ImageOps.contain(source, (size, size))
        canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
        return canvas
    if framing == "scene":
        canvas = Image.new("RGB", (size, size), _colour(prompt, 0.6))
        draw = ImageDraw.Draw(canvas)
        # A few soft shapes of the prompt's colours: the "scene" around the actor.
        for i in range(6):
            x, y = rng.randrange(size), rng.randrange(size)
            r = rng.randrange(size // 8, size // 3)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(f"{prompt}:{i}", 0.8))
        canvas = canvas.filter(ImageFilter.GaussianBlur(size / 24))
        fitted = ImageOps.contain(source, (size * 2 // 3, size * 2 // 3))
        canvas.paste(
            fitted, ((size - fitted.width) // 2 + rng.randrange(-size // 10, size // 10 + 1), size - fitted.height)
        )
        return canvas
    # portrait / three-quarter: a square crop near the top (where a face usually is)
    side = min(w, h) * (0.6 if framing == "portrait" else 0.8)
    cx = w / 2 + (w - side) / 2 * (0.0 if framing == "portrait" else rng.uniform(-0.8, 0.8))
    top = max(0.0, min(h - side, h * 0.05 + rng.uniform(0, (h - side) * 0.2)))
    box = (int(cx - side / 2), int(top), int(cx + side / 2), int(top + side))
    crop = source.crop(box).resize((size, size), Image.Resampling.LANCZOS)
    return ImageOps.mirror(crop) if framing == "three-quarter" and rng.random() < 0.5 else crop


def _colour(text: str, light: float) -> tuple[int, int, int]:
    rng = random.Random(_digest("colour", text))
    base = [rng.randrange(256) for _ in range(3)]
    return (
        int(base[0] * light + 255 * (1 - light) * 0.3),
        int(base[1] * light + 255 * (1 - light) * 0.3),
        int(base[2] * light + 255 * (1 - light) * 0.3),
    )


def _unsettle(image: Image.Image, rawness: float, rng: random.Random) -> Image.Image:
    """`rawness` 1 (first steps): blurred, noisy, off-colour; 0 (trained): the clean picture."""
    if rawness <= 0.0:
        return image
    size = image.size
    image = image.filter(ImageFilter.GaussianBlur(radius=8.0 * rawness))
    tint = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(image, tint, 0.45 * rawness)
    image = ImageEnhance.Color(image).enhance(max(0.0, 1.0 - 0.8 * rawness))
    noise = Image.frombytes("L", size, rng.randbytes(size[0] * size[1])).convert("RGB")
    return Image.blend(image, noise, 0.5 * rawness)


def _stamp(image: Image.Image, lines: Sequence[str]) -> None:
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, image.width // 14))
    y = 4.0
    for line in lines:
        left, top, right, bottom = draw.textbbox((0, 0), line, font=font)
        draw.rectangle((2, y - 1, 8 + right - left, y + bottom - top + 5), fill=(0, 0, 0))
        draw.text((5, y - top + 1), line, fill=(255, 210, 0), font=font)
        y += bottom - top + 8


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _pick(sources: Sequence[Image.Image], key: int) -> Image.Image:
    if not sources:
        raise ValueError("no source images to draw from")
    return sources[key % len(sources)]


def render_sample(
    sources: Sequence[Image.Image],
    *,
    prompt: str,
    seed: int,
    step: int,
    total: int,
    index: int,
    size: int = SAMPLE_SIZE,
) -> bytes:
    """One training sample (PNG): prompt number `index` at `step` of `total`. The same prompt and
    seed draw from the same photo at every step, so a strip of one prompt shows it settling."""
    rng = random.Random(_digest("sample", prompt, seed, index))
    image = _frame(_pick(sources, rng.randrange(1 << 30)), prompt, rng, size)
    rawness = max(0.0, 1.0 - step / max(1, total)) ** 1.5
    image = _unsettle(image, rawness, random.Random(_digest("noise", prompt, seed, step)))
    _stamp(image, [STAMP, f"step {step}"])
    return _png(image)


def render_trial(
    sources: Sequence[Image.Image],
    *,
    prompt: str,
    seed: int,
    index: int,
    strength: float = 1.0,
    size: int = SAMPLE_SIZE,
) -> bytes:
    """One "Try" image (PNG) for `prompt` and `seed` (image `index` of the batch uses seed+index).
    A strength far from 1 leaves it less settled, as a LoRA applied too weakly or too hard would."""
    image_seed = seed + index
    rng = random.Random(_digest("trial", prompt, image_seed))
    image = _frame(_pick(sources, rng.randrange(1 << 30)), prompt, rng, size)
    rawness = min(0.8, abs(1.0 - strength) * 0.5)
    image = _unsettle(image, rawness, random.Random(_digest("trial-noise", prompt, image_seed)))
    _stamp(image, [STAMP, f"seed {image_seed}"])
    return _png(image)
