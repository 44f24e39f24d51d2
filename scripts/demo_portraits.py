"""Flat-shaded illustrated portraits for the demo library, drawn with Pillow.

A `Character` is what stays the same across an actor's pictures (skin, hair, eyes, clothes,
accessories, face shape); a `Shot` is what changes from picture to picture (head turn and tilt,
expression, framing, backdrop, light). `render(character, shot)` draws one portrait.

Everything is drawn on a 2× canvas and scaled down, which gives anti-aliased edges without
gradients inside shapes: flat colours keep the PNGs small.

Geometry is in "head units" relative to the head centre: the face is about 2 units wide and
2.6 tall, the chin is at y = +1.28, the shoulders start near y = +1.75 (y grows downwards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from demo_portrait_parts import (
    RGB,
    Canvas,
    darker,
    draw_back_hair,
    draw_body,
    draw_front_hair,
    draw_hat,
    draw_headscarf_back,
    mix,
)
from PIL import Image, ImageChops, ImageDraw

SUPERSAMPLE = 2


@dataclass(frozen=True)
class Character:
    """What makes an actor recognisable in every picture."""

    skin: RGB
    hair: RGB
    hair_style: str  # short messy undercut quiff long bob bun afro pigtails bald wavy hijab
    eyes: RGB
    clothing: RGB
    clothing_style: str  # tshirt hoodie suit shirt cardigan kurta uniform bomber blouse coat
    accent: RGB  # tie, scarf, inner shirt, headscarf...
    child: bool
    age: int
    feminine: bool
    face_w: float = 1.0
    face_h: float = 1.0
    jaw: float = 0.22  # how much the face narrows towards the chin
    brow: float = 0.07  # eyebrow thickness, in head units
    glasses: str | None = None  # round | square
    hat: str | None = None  # flatcap | beanie | cap
    hat_color: RGB = (60, 60, 60)
    beard: str | None = None  # full | moustache | goatee
    earrings: bool = False
    freckles: tuple[tuple[float, float], ...] = ()
    lips: RGB | None = None
    blush: bool = False


@dataclass(frozen=True)
class Shot:
    """What changes between two pictures of the same actor."""

    yaw: float  # -1 … 1: head turned towards the viewer's left … right
    tilt: float  # degrees, positive = counter-clockwise
    expression: str  # neutral smile grin laugh surprised smirk serious
    unit: float  # pixels per head unit on the final image (≈70 for a classic head-and-shoulders)
    cx: float  # head centre on the final image, as a fraction of its width/height
    cy: float
    bg_top: RGB
    bg_bottom: RGB
    backdrop: str  # plain circles wall stripes
    light: int  # -1 light from the left, +1 from the right, 0 from the front
    shadow: float  # 0 … 1: how dark the shaded side is
    tint: tuple[float, float, float]  # colour of the light, multiplied in


def render(character: Character, shot: Shot, size: int = 512) -> Image.Image:
    """Draw one portrait, `size`×`size`, RGB."""
    full = size * SUPERSAMPLE
    u = shot.unit * SUPERSAMPLE
    hx, hy = shot.cx * full, shot.cy * full

    background = _backdrop(shot, full)
    back = Canvas(full, hx, hy, u)  # long hair, buns, drapes: behind the shoulders
    body = Canvas(full, hx, hy, u)
    head = Canvas(full, hx, hy, u)
    draw_back_hair(back, character)
    draw_body(body, character)
    _draw_head(head, character, shot)
    pivot = (hx, hy + 1.2 * u)  # the head turns around the base of the neck
    figure = Image.new("RGBA", (full, full))
    for layer, rotate in ((back.image, True), (body.image, False), (head.image, True)):
        if rotate and abs(shot.tilt) > 0.01:
            layer = layer.rotate(shot.tilt, resample=Image.Resampling.BICUBIC, center=pivot)
        figure.alpha_composite(layer)

    figure = _cel_shade(figure, shot, hx, hy, u)
    _drop_shadow(background, figure, shot, u)
    background.alpha_composite(figure)
    image = background.convert("RGB")
    if shot.tint != (1.0, 1.0, 1.0):
        r, g, b = image.split()
        image = Image.merge(
            "RGB",
            tuple(ch.point(lambda v, k=k: min(255, round(v * k))) for ch, k in zip((r, g, b), shot.tint, strict=True)),
        )
    return image.resize((size, size), Image.Resampling.LANCZOS)


# --- background -------------------------------------------------------------------------------


def _backdrop(shot: Shot, full: int) -> Image.Image:
    # A vertical gradient: every row is one colour, which PNG's filters compress to almost nothing.
    column = Image.new("RGB", (1, full))
    column.putdata([mix(shot.bg_top, shot.bg_bottom, y / (full - 1)) for y in range(full)])
    image = column.resize((full, full), Image.Resampling.NEAREST).convert("RGBA")
    overlay = Image.new("RGBA", (full, full))
    draw = ImageDraw.Draw(overlay)
    light = (*mix(shot.bg_top, (255, 255, 255), 0.5), 50)
    dark = (*darker(shot.bg_bottom, 0.8), 70)
    if shot.backdrop == "circles":
        for i, (fx, fy, fr) in enumerate(((0.18, 0.22, 0.16), (0.86, 0.3, 0.1), (0.78, 0.78, 0.22))):
            x, y, r = fx * full, fy * full, fr * full
            draw.ellipse((x - r, y - r, x + r, y + r), fill=light if i % 2 == 0 else dark)
    elif shot.backdrop == "wall":
        draw.rectangle((0, full * 0.72, full, full), fill=dark)
        draw.rectangle((0, full * 0.72, full, full * 0.735), fill=light)
    elif shot.backdrop == "stripes":
        step = full // 6
        for x in range(-full, full, step):
            draw.polygon([(x, full), (x + step // 2, full), (x + step // 2 + full, 0), (x + full, 0)], fill=light)
    image.alpha_composite(overlay)
    return image


def _drop_shadow(background: Image.Image, figure: Image.Image, shot: Shot, u: float) -> None:
    """A hard, offset shadow of the figure on the backdrop (flat, like a paper cut-out)."""
    dx = round(-shot.light * 0.12 * u) if shot.light else round(0.08 * u)
    alpha = figure.getchannel("A").point(lambda a: 60 if a > 127 else 0)
    shadow = Image.new("RGBA", figure.size, (0, 0, 0, 0))
    shadow.paste((20, 20, 40, 255), mask=alpha)
    moved = Image.new("RGBA", figure.size)
    moved.paste(shadow, (dx, round(0.06 * u)))
    background.alpha_composite(moved)


def _cel_shade(figure: Image.Image, shot: Shot, hx: float, hy: float, u: float) -> Image.Image:
    """Darken the side of the figure away from the light with one hard-edged tone."""
    lit = Image.new("L", figure.size, 0)
    draw = ImageDraw.Draw(lit)
    if shot.light:
        cx = hx - shot.light * 0.55 * u
        draw.ellipse((cx - 1.45 * u, hy - 1.9 * u, cx + 1.45 * u, hy + 1.22 * u), fill=255)
        # the body: only the far shoulder falls into shade
        bx = hx - shot.light * 0.7 * u
        draw.ellipse((bx - 2.45 * u, hy + 1.15 * u, bx + 2.45 * u, hy + 7.0 * u), fill=255)
        draw.rectangle((hx - 0.6 * u, hy + 0.5 * u, hx + 0.6 * u, hy + 2.3 * u), fill=255)  # the neck
    else:
        # light from the front: only a band under the chin and the outer edges fall into shade
        draw.ellipse((hx - 1.0 * u, hy - 1.7 * u, hx + 1.0 * u, hy + 1.3 * u), fill=255)
        draw.rectangle((hx - 1.8 * u, hy + 1.6 * u, hx + 1.8 * u, figure.height), fill=255)
    shade = ImageChops.subtract(figure.getchannel("A"), lit)
    tone = round(255 * (1 - 0.35 * shot.shadow))
    shaded = ImageChops.multiply(figure, Image.new("RGBA", figure.size, (tone, tone, min(255, tone + 18), 255)))
    return Image.composite(shaded, figure, shade.point(lambda a: 255 if a > 127 else 0))


# --- the head ---------------------------------------------------------------------------------


def _face_outline(c: Character, dx: float) -> list[tuple[float, float]]:
    rx, ry = 1.0 * c.face_w, 1.28 * c.face_h
    points = []
    for step in range(120):
        t = 2 * math.pi * step / 120
        s = math.sin(t)
        x = rx * math.cos(t) * (1 - c.jaw * max(0.0, s) ** 2)
        points.append((x + dx, ry * s))
    return points


def _draw_head(cv: Canvas, c: Character, shot: Shot) -> None:
    skin_shadow = darker(c.skin, 0.86)
    turn = shot.yaw
    fx = turn * 0.22  # features slide towards the side the head turns to
    # ears: the one on the side the head turns away from shows fully, the other hides
    for side in (-1, 1):
        if c.hair_style == "hijab":
            break
        visible = 1.0 - max(0.0, side * turn) * 0.8
        ex = side * (0.98 * c.face_w - 0.1 * max(0.0, side * turn)) + turn * 0.05
        cv.ellipse(ex - 0.16 * visible, 0.0, ex + 0.16 * visible, 0.52, c.skin)
        cv.ellipse(ex - 0.08 * visible, 0.1, ex + 0.08 * visible, 0.42, skin_shadow)
        if c.earrings:
            cv.ellipse(ex - 0.06, 0.5, ex + 0.06, 0.68, (230, 190, 70))
    if c.hair_style == "hijab":
        draw_headscarf_back(cv, c)
    cv.polygon(_face_outline(c, turn * 0.05), c.skin)
    if c.blush:
        for side in (-1, 1):
            x = side * 0.55 + fx
            cv.ellipse(x - 0.2, 0.42, x + 0.2, 0.62, (235, 120, 120, 55))
    for x, y in c.freckles:
        cv.ellipse(x + fx - 0.025, y - 0.025, x + fx + 0.025, y + 0.025, darker(c.skin, 0.78))
    if c.age >= 45:
        for start, end in ((145, 215), (-35, 35)):  # nasolabial folds: "(" and ")" beside the mouth
            cv.arc(fx - 0.34, 0.36, fx + 0.34, 0.96, start, end, skin_shadow, 0.03)
    if c.age >= 58:
        for side in (-1, 1):  # crow's feet and the lines under the eyes
            x = side * 0.42 + fx
            cv.line([(x + side * 0.22, 0.02), (x + side * 0.32, -0.03)], skin_shadow, 0.025)
            cv.line([(x + side * 0.22, 0.1), (x + side * 0.32, 0.13)], skin_shadow, 0.025)
            cv.arc(x - 0.14, 0.06, x + 0.14, 0.3, 20, 160, skin_shadow, 0.025)
    _draw_eyes(cv, c, shot, fx)
    _draw_nose(cv, c, turn)
    if c.beard:
        _draw_beard(cv, c, fx)
    _draw_mouth(cv, c, shot.expression, fx)
    draw_front_hair(cv, c, turn)
    if c.hat:
        draw_hat(cv, c, turn)
    if c.glasses:
        _draw_glasses(cv, c, fx, turn)


def _draw_eyes(cv: Canvas, c: Character, shot: Shot, fx: float) -> None:
    ink = (40, 28, 24)
    w = 0.17 if c.child else 0.15
    h = 0.12 if c.child else 0.095
    happy = shot.expression == "laugh"
    wide = shot.expression == "surprised"
    for side in (-1, 1):
        far = max(0.0, side * shot.yaw)  # the eye on the side we turn to is further away
        sw = w * (1 - 0.3 * far)
        x, y = side * 0.4 + fx, 0.12
        brow_y = y - (0.3 if wide else 0.22) + (0.04 if shot.expression == "serious" else 0.0)
        inner = 0.03 if shot.expression == "serious" else 0.0
        cv.polygon(
            [
                (x - side * 0.12, brow_y + inner + 0.02),
                (x + side * 0.02, brow_y - 0.05),
                (x + side * 0.24 * (1 - 0.3 * far), brow_y + 0.01),
                (x + side * 0.22 * (1 - 0.3 * far), brow_y + c.brow * 0.6),
                (x + side * 0.02, brow_y - 0.05 + c.brow),
                (x - side * 0.12, brow_y + inner + 0.02 + c.brow * 0.8),
            ],
            darker(c.hair, 0.8) if c.hair_style != "hijab" else (50, 35, 30),
        )
        if happy:
            cv.arc(x - sw, y - h * 0.6, x + sw, y + h * 1.4, 200, 340, ink, 0.035)
            continue
        hh = h * (1.25 if wide else 1.0)
        cv.ellipse(x - sw, y - hh, x + sw, y + hh, (250, 248, 244))
        gaze = shot.yaw * 0.05
        r = (0.085 if c.child else 0.072) * (1 - 0.2 * far)
        cv.ellipse(x + gaze - r, y - r, x + gaze + r, y + r, c.eyes)
        p = r * 0.5
        cv.ellipse(x + gaze - p, y - p, x + gaze + p, y + p, (20, 16, 14))
        q = r * 0.35
        cv.ellipse(x + gaze + r * 0.2 - q, y - r * 0.6 - q, x + gaze + r * 0.2 + q, y - r * 0.6 + q, "white")
        cv.arc(x - sw, y - hh, x + sw, y + hh, 190, 350, ink, 0.035)
        if c.feminine and not c.child:
            cv.line([(x + side * sw * 0.9, y - hh * 0.45), (x + side * (sw + 0.06), y - hh * 0.95)], ink, 0.025)


def _draw_nose(cv: Canvas, c: Character, turn: float) -> None:
    nx = turn * 0.33
    shade = darker(c.skin, 0.8)
    length = 0.44 if c.child else 0.52
    side = 1 if turn >= 0 else -1
    cv.line([(nx - side * 0.02, 0.22), (nx + side * 0.07, length), (nx - side * 0.03, length + 0.05)], shade, 0.035)
    cv.ellipse(nx - 0.11, length - 0.02, nx - 0.04, length + 0.04, shade)
    cv.ellipse(nx + 0.04, length - 0.02, nx + 0.11, length + 0.04, shade)


def _draw_mouth(cv: Canvas, c: Character, expression: str, fx: float) -> None:
    lip = c.lips or darker(c.skin, 0.62)
    inside = (110, 40, 45)
    w = 0.19 if c.child else 0.23
    mx, my = fx, 0.82 if not c.child else 0.76
    if expression in ("grin", "laugh"):
        cv.chord(mx - w, my - 0.1, mx + w, my + 0.16, 0, 180, inside)
        cv.chord(mx - w * 0.82, my - 0.02, mx + w * 0.82, my + 0.07, 0, 180, (250, 250, 246))
        cv.arc(mx - w, my - 0.1, mx + w, my + 0.16, 0, 180, lip, 0.03)
        cv.line([(mx - w, my + 0.03), (mx + w, my + 0.03)], lip, 0.03)
    elif expression == "smile":
        cv.arc(mx - w, my - 0.14, mx + w, my + 0.08, 25, 155, lip, 0.05)
    elif expression == "surprised":
        cv.ellipse(mx - 0.08, my - 0.04, mx + 0.08, my + 0.16, inside)
        cv.arc(mx - 0.08, my - 0.04, mx + 0.08, my + 0.16, 0, 360, lip, 0.03)
    elif expression == "smirk":
        cv.line([(mx - w * 0.8, my + 0.02), (mx + w * 0.3, my + 0.03), (mx + w, my - 0.05)], lip, 0.045)
    elif expression == "serious":
        cv.line([(mx - w * 0.8, my + 0.03), (mx + w * 0.8, my + 0.03)], lip, 0.045)
    else:  # neutral: a soft line with a hint of a lower lip
        cv.arc(mx - w * 0.85, my - 0.06, mx + w * 0.85, my + 0.06, 20, 160, lip, 0.04)
        cv.arc(mx - w * 0.35, my + 0.04, mx + w * 0.35, my + 0.14, 30, 150, darker(c.skin, 0.88), 0.03)


def _draw_beard(cv: Canvas, c: Character, fx: float) -> None:
    hair = c.hair
    my = 0.82
    if c.beard == "full":
        # the jaw line (right → chin → left), closed by a cheek line above the mouth
        jaw = [(x, y) for x, y in _face_outline(c, 0.0) if y > 0.3]
        cheeks = [(-0.5 + fx, 0.6), (fx, 0.66), (0.5 + fx, 0.6)]
        cv.polygon([*jaw, *cheeks], hair)
    if c.beard in ("full", "moustache"):
        cv.polygon(
            [
                (fx - 0.32, my + 0.02),
                (fx - 0.2, my - 0.16),
                (fx, my - 0.12),
                (fx + 0.2, my - 0.16),
                (fx + 0.32, my + 0.02),
                (fx, my - 0.04),
            ],
            darker(hair, 0.9),
        )
    if c.beard == "goatee":
        cv.polygon(
            [
                (fx - 0.2, my + 0.1),
                (fx, my + 0.14),
                (fx + 0.2, my + 0.1),
                (fx + 0.16, 1.12),
                (fx, 1.24),
                (fx - 0.16, 1.12),
            ],
            darker(hair, 0.85),
        )


def _draw_glasses(cv: Canvas, c: Character, fx: float, turn: float) -> None:
    frame = (35, 32, 36)
    for side in (-1, 1):
        far = max(0.0, side * turn)
        x, y = side * 0.4 + fx, 0.12
        rw = 0.24 * (1 - 0.3 * far)
        box = (x - rw, y - 0.17, x + rw, y + 0.17)
        cv.ellipse(*box, (200, 225, 255, 45))
        if c.glasses == "round":
            cv.arc(*box, 0, 360, frame, 0.035)
        else:
            cv.rounded_rectangle(*box, 0.07, frame, 0.035)
        cv.line([(x + side * rw, y - 0.05), (side * 0.98 * c.face_w + turn * 0.05, 0.05)], frame, 0.03)
    cv.arc(fx - 0.16, 0.02, fx + 0.16, 0.2, 200, 340, frame, 0.03)
