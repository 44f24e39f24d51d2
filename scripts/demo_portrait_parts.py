"""Drawing helpers of the demo portraits: a canvas in head units, colours, clothes, hair, hats.

See demo_portraits.py for the coordinate system. Shapes here are flat-coloured polygons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from demo_portraits import Character

RGB = tuple[int, int, int]
Fill = tuple[int, ...] | str
Point = tuple[float, float]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def darker(colour: RGB, k: float) -> RGB:
    return (round(colour[0] * k), round(colour[1] * k), round(colour[2] * k))


def lighter(colour: RGB, t: float) -> RGB:
    return mix(colour, (255, 255, 255), t)


class Canvas:
    """An RGBA layer addressed in head units around the head centre."""

    def __init__(self, full: int, hx: float, hy: float, u: float) -> None:
        self.image = Image.new("RGBA", (full, full))
        self._draw = ImageDraw.Draw(self.image)
        self.hx, self.hy, self.u = hx, hy, u

    def p(self, x: float, y: float) -> Point:
        return (self.hx + x * self.u, self.hy + y * self.u)

    def _box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        (a, b), (c, d) = self.p(x0, y0), self.p(x1, y1)
        return (a, b, c, d)

    def _width(self, width: float) -> int:
        return max(1, round(width * self.u))

    def _paint(self, fill: Fill, paint: Callable[[ImageDraw.ImageDraw], None]) -> None:
        # ImageDraw replaces RGBA pixels instead of blending them: translucent shapes go through
        # their own layer so that a blush does not punch a hole in the face.
        if isinstance(fill, tuple) and len(fill) == 4 and fill[3] < 255:
            overlay = Image.new("RGBA", self.image.size)
            paint(ImageDraw.Draw(overlay))
            self.image.alpha_composite(overlay)
        else:
            paint(self._draw)

    def ellipse(self, x0: float, y0: float, x1: float, y1: float, fill: Fill) -> None:
        self._paint(fill, lambda d: d.ellipse(self._box(x0, y0, x1, y1), fill=fill))

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, fill: Fill) -> None:
        self._paint(fill, lambda d: d.rectangle(self._box(x0, y0, x1, y1), fill=fill))

    def rounded_rectangle(
        self, x0: float, y0: float, x1: float, y1: float, radius: float, colour: Fill, width: float = 0
    ) -> None:
        box, r = self._box(x0, y0, x1, y1), radius * self.u
        if width:
            self._paint(colour, lambda d: d.rounded_rectangle(box, r, outline=colour, width=self._width(width)))
        else:
            self._paint(colour, lambda d: d.rounded_rectangle(box, r, fill=colour))

    def polygon(self, points: Sequence[Point], fill: Fill) -> None:
        self._paint(fill, lambda d: d.polygon([self.p(x, y) for x, y in points], fill=fill))

    def line(self, points: Sequence[Point], fill: Fill, width: float) -> None:
        pts = [self.p(x, y) for x, y in points]
        self._paint(fill, lambda d: d.line(pts, fill=fill, width=self._width(width), joint="curve"))

    def arc(
        self, x0: float, y0: float, x1: float, y1: float, start: float, end: float, fill: Fill, width: float
    ) -> None:
        box, w = self._box(x0, y0, x1, y1), self._width(width)
        self._paint(fill, lambda d: d.arc(box, start, end, fill=fill, width=w))

    def chord(self, x0: float, y0: float, x1: float, y1: float, start: float, end: float, fill: Fill) -> None:
        self._paint(fill, lambda d: d.chord(self._box(x0, y0, x1, y1), start, end, fill=fill))


def _arc_points(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 40) -> list[Point]:
    """Points of an ellipse from `start` to `end` degrees (0 = right, 90 = down, as in PIL)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in (start + (end - start) * i / n for i in range(n + 1))
    ]


# --- body -------------------------------------------------------------------------------------


def draw_body(cv: Canvas, c: Character) -> None:
    sw = 1.6 if c.child else 2.0 if c.feminine else 2.3  # half the shoulder width
    nw = 0.3 if c.child else 0.33 if c.feminine else 0.39  # half the neck width
    y0 = 1.62 if c.child else 1.75
    cloth, trim = c.clothing, darker(c.clothing, 0.82)
    skin_shadow = darker(c.skin, 0.8)

    if c.clothing_style == "hoodie":  # the hood lies behind the neck
        cv.ellipse(-nw - 0.5, y0 - 0.4, nw + 0.5, y0 + 0.6, trim)
    cv.ellipse(-sw, y0, sw, y0 + 2.6, cloth)
    cv.rectangle(-sw, y0 + 1.3, sw, 8.0, cloth)
    for side in (-1, 1):  # arm seams
        x = side * (sw - 0.55)
        cv.arc(x - 0.5, y0 + 0.7, x + 0.5, y0 + 4.0, 180 if side < 0 else 270, 270 if side < 0 else 360, trim, 0.04)

    # the neck, with the shadow the chin casts on it
    cv.rectangle(-nw, 0.6, nw, y0 + 0.15, c.skin)
    cv.ellipse(-nw, y0 - 0.15, nw, y0 + 0.4, c.skin)
    cv.ellipse(-nw - 0.02, 0.7, nw + 0.02, 1.45, skin_shadow)

    style = c.clothing_style
    if style in ("tshirt", "hoodie", "uniform"):
        cv.arc(-nw - 0.1, y0 - 0.2, nw + 0.1, y0 + 0.5, 0, 180, trim, 0.09)
    if style == "hoodie":
        for side in (-1, 1):
            x = side * 0.22
            cv.line([(x, y0 + 0.35), (x + side * 0.05, y0 + 1.25)], c.accent, 0.045)
            cv.rectangle(x + side * 0.05 - 0.035, y0 + 1.2, x + side * 0.05 + 0.035, y0 + 1.38, lighter(c.accent, 0.3))
    elif style in ("suit", "coat"):
        inner = (246, 246, 242) if style == "suit" else darker(cloth, 0.7)
        cv.polygon([(-nw - 0.1, y0 - 0.05), (nw + 0.1, y0 - 0.05), (0, y0 + 1.6)], inner)
        for side in (-1, 1):
            cv.polygon(
                [
                    (side * (nw + 0.1), y0 - 0.1),
                    (side * 0.04, y0 + 1.6),
                    (side * 0.45, y0 + 1.0),
                    (side * (nw + 0.5), y0 + 0.15),
                ],
                trim,
            )
        if style == "suit":
            for side in (-1, 1):
                cv.polygon([(side * (nw + 0.04), y0 - 0.12), (side * 0.02, y0 + 0.25), (side * 0.2, y0 + 0.4)], "white")
            cv.polygon([(-0.09, y0 + 0.22), (0.09, y0 + 0.22), (0.06, y0 + 0.4), (-0.06, y0 + 0.4)], c.accent)
            blade = [(-0.06, y0 + 0.4), (0.06, y0 + 0.4), (0.15, y0 + 1.4), (0, y0 + 1.62), (-0.15, y0 + 1.4)]
            cv.polygon(blade, c.accent)
        else:  # a scarf wound around the neck
            cv.rounded_rectangle(-nw - 0.2, y0 - 0.25, nw + 0.2, y0 + 0.2, 0.2, c.accent)
            tail = [(0.05, y0 + 0.1), (0.32, y0 + 0.1), (0.36, y0 + 1.3), (0.08, y0 + 1.25)]
            cv.polygon(tail, darker(c.accent, 0.88))
    elif style == "shirt":
        cv.polygon([(-0.24, y0 - 0.05), (0.24, y0 - 0.05), (0, y0 + 0.55)], c.skin)
        for side in (-1, 1):
            collar = [(side * (nw + 0.12), y0 - 0.18), (side * 0.02, y0 + 0.58), (side * 0.5, y0 + 0.45)]
            cv.polygon(collar, lighter(cloth, 0.15))
        cv.line([(0, y0 + 0.6), (0, y0 + 3.0)], trim, 0.03)
        for i in range(3):
            cv.ellipse(-0.045 + 0.08, y0 + 0.8 + i * 0.45, 0.045 + 0.08, y0 + 0.89 + i * 0.45, c.accent)
    elif style == "cardigan":
        cv.polygon([(-nw - 0.15, y0 - 0.05), (nw + 0.15, y0 - 0.05), (0, y0 + 1.35)], c.accent)
        cv.arc(-nw - 0.05, y0 - 0.2, nw + 0.05, y0 + 0.35, 0, 180, darker(c.accent, 0.85), 0.06)
        for side in (-1, 1):
            cv.line([(side * (nw + 0.15), y0 - 0.05), (0, y0 + 1.35)], trim, 0.08)
        for i in range(3):
            cv.ellipse(-0.05, y0 + 1.5 + i * 0.4, 0.05, y0 + 1.6 + i * 0.4, lighter(cloth, 0.5))
    elif style == "kurta":
        cv.rounded_rectangle(-nw - 0.06, y0 - 0.25, nw + 0.06, y0 + 0.12, 0.08, trim)
        cv.rectangle(-0.07, y0 + 0.12, 0.07, y0 + 1.5, trim)
        for i in range(3):
            cv.ellipse(-0.04, y0 + 0.3 + i * 0.4, 0.04, y0 + 0.38 + i * 0.4, c.accent)
    elif style == "uniform":
        cv.polygon([(-sw * 0.7, y0 + 0.25), (sw * 0.7, y0 + 0.25), (0, y0 + 1.45)], (245, 245, 245))
        cv.polygon([(-nw - 0.12, y0 + 0.1), (nw + 0.12, y0 + 0.1), (0, y0 + 1.15)], cloth)
        for side in (-1, 1):
            cv.line([(side * sw * 0.62, y0 + 0.35), (0, y0 + 1.33)], cloth, 0.04)
        cv.polygon([(0, y0 + 1.15), (-0.3, y0 + 1.0), (-0.25, y0 + 1.35)], c.accent)
        cv.polygon([(0, y0 + 1.15), (0.3, y0 + 1.0), (0.25, y0 + 1.35)], c.accent)
        cv.ellipse(-0.08, y0 + 1.08, 0.08, y0 + 1.24, darker(c.accent, 0.8))
    elif style == "bomber":
        cv.arc(-nw - 0.14, y0 - 0.3, nw + 0.14, y0 + 0.55, 0, 180, c.accent, 0.16)
        cv.line([(0.02, y0 + 0.5), (0.02, y0 + 3.0)], (200, 200, 205), 0.04)
    elif style == "blouse":
        cv.ellipse(-0.55, y0 - 0.25, 0.55, y0 + 0.7, c.skin)
        cv.arc(-0.55, y0 - 0.25, 0.55, y0 + 0.7, 0, 180, trim, 0.06)
        cv.arc(-0.4, y0 - 0.3, 0.4, y0 + 0.45, 20, 160, (228, 190, 80), 0.025)
        cv.ellipse(-0.05, y0 + 0.4, 0.05, y0 + 0.52, (228, 190, 80))


# --- hair -------------------------------------------------------------------------------------

# Hairlines, traced from the right temple to the left one (x, y in head units); the cap of hair is
# the top of an ellipse closed by this line.
_HAIRLINES: dict[str, list[Point]] = {
    "short": [
        (1.06, 0.02),
        (0.98, -0.45),
        (0.65, -0.72),
        (0.15, -0.8),
        (-0.2, -0.66),
        (-0.6, -0.72),
        (-0.96, -0.45),
        (-1.06, 0.02),
    ],
    "messy": [
        (1.06, 0.0),
        (0.95, -0.45),
        (0.75, -0.5),
        (0.55, -0.68),
        (0.35, -0.5),
        (0.1, -0.72),
        (-0.15, -0.48),
        (-0.4, -0.7),
        (-0.62, -0.5),
        (-0.9, -0.55),
        (-1.06, 0.0),
    ],
    "undercut": [(1.02, -0.35), (0.85, -0.7), (0.3, -0.85), (-0.3, -0.85), (-0.85, -0.7), (-1.02, -0.35)],
    "quiff": [(1.05, -0.05), (0.95, -0.55), (0.5, -0.8), (-0.4, -0.85), (-0.92, -0.55), (-1.05, -0.05)],
    "long": [
        (1.28, 1.9),
        (0.98, 1.9),
        (0.93, 0.3),
        (0.82, -0.45),
        (0.45, -0.85),
        (0.12, -1.02),
        (-0.5, -0.82),
        (-0.86, -0.35),
        (-0.95, 0.3),
        (-1.0, 1.9),
        (-1.28, 1.9),
    ],
    "bob": [
        (1.24, 1.0),
        (1.0, 1.05),
        (0.95, 0.2),
        (0.92, -0.34),
        (0.55, -0.4),
        (0.25, -0.33),
        (-0.1, -0.4),
        (-0.45, -0.33),
        (-0.92, -0.36),
        (-0.95, 0.2),
        (-1.0, 1.05),
        (-1.24, 1.0),
    ],
    "bun": [(1.05, -0.02), (0.9, -0.55), (0.4, -0.86), (0.0, -0.9), (-0.4, -0.86), (-0.9, -0.55), (-1.05, -0.02)],
    "afro": [(1.04, 0.05), (0.88, -0.55), (0.4, -0.78), (-0.4, -0.78), (-0.88, -0.55), (-1.04, 0.05)],
    "pigtails": [(1.05, 0.1), (0.9, -0.5), (0.45, -0.82), (0.0, -0.92), (-0.45, -0.82), (-0.9, -0.5), (-1.05, 0.1)],
    "wavy": [
        (1.2, 0.7),
        (1.08, 0.55),
        (1.12, 0.35),
        (0.98, 0.15),
        (0.92, -0.4),
        (0.55, -0.78),
        (0.1, -0.8),
        (-0.35, -0.6),
        (-0.75, -0.72),
        (-0.94, -0.4),
        (-1.0, 0.15),
        (-1.12, 0.35),
        (-1.08, 0.55),
        (-1.2, 0.7),
    ],
}


def draw_back_hair(cv: Canvas, c: Character) -> None:
    hair, shade = c.hair, darker(c.hair, 0.85)
    style = c.hair_style
    if style == "long":
        cv.rounded_rectangle(-1.32, -1.2, 1.32, 2.5, 1.0, hair)
        cv.line([(0.2, -0.6), (0.25, 2.3)], shade, 0.04)
    elif style == "bob":
        cv.rounded_rectangle(-1.3, -1.25, 1.3, 1.12, 0.9, hair)
    elif style == "afro":
        cv.ellipse(-1.72, -2.15, 1.72, 1.05, hair)
        for i in range(26):  # a fixed pattern of curls gives the mass some texture
            a = i * 2.399
            r = 1.45 * math.sqrt((i + 0.5) / 26)
            x, y = r * math.cos(a), -0.55 + r * 0.95 * math.sin(a)
            cv.arc(x - 0.13, y - 0.13, x + 0.13, y + 0.13, 200, 340, shade, 0.035)
    elif style == "pigtails":
        for side in (-1, 1):
            x = side * 1.38
            cv.ellipse(x - 0.32, 0.0, x + 0.32, 1.5, hair)
            cv.ellipse(x - 0.14, -0.05, x + 0.14, 0.2, c.accent)
    elif style == "bun":
        cv.ellipse(-0.48, -1.95, 0.48, -1.0, hair)
        cv.arc(-0.32, -1.75, 0.32, -1.15, 200, 340, shade, 0.04)
    elif style == "wavy":
        cv.rounded_rectangle(-1.25, -1.2, 1.25, 0.8, 0.8, hair)


def draw_headscarf_back(cv: Canvas, c: Character) -> None:
    """A hijab: the cloth around the head and the drape over the shoulders (under the face)."""
    cloth = c.accent
    cv.polygon([(-1.25, 0.4), (-1.9, 2.2), (-1.6, 3.2), (1.6, 3.2), (1.9, 2.2), (1.25, 0.4)], cloth)
    cv.ellipse(-1.32, -1.58, 1.32, 1.7, cloth)
    cv.arc(-1.2, 0.2, 1.2, 2.6, 30, 150, darker(cloth, 0.85), 0.05)


def draw_front_hair(cv: Canvas, c: Character, turn: float) -> None:
    hair, shade = c.hair, darker(c.hair, 0.85)
    style = c.hair_style
    dx = turn * 0.06
    if style == "hijab":
        cloth = c.accent
        cv.polygon(
            [
                *_arc_points(dx, -0.05, 1.12, 1.45, 180, 360),
                (1.0, 0.2),
                (0.85, -0.45),
                (0.4, -0.72),
                (-0.4, -0.72),
                (-0.85, -0.45),
                (-1.0, 0.2),
            ],
            cloth,
        )
        cv.arc(-0.95, -0.78, 0.95, 0.6, 200, 340, darker(cloth, 0.85), 0.04)
        return
    if style == "bald":
        for side in (-1, 1):
            cv.polygon([(side * 1.07, -0.5), (side * 0.92, -0.5), (side * 0.93, -0.04), (side * 1.05, 0.0)], hair)
        cv.ellipse(-0.35, -1.15, 0.05, -0.95, (255, 255, 255, 60))
        return
    line = [(x + dx, y) for x, y in _HAIRLINES[style]]
    rx, ry = (1.1, 1.55) if style in ("undercut", "quiff") else (1.1, 1.42)
    if style == "undercut":  # short sides, clippered: the skin shows through
        for side in (-1, 1):
            cv.polygon(
                [(side * 1.06, -0.5), (side * 0.9, -0.55), (side * 0.93, 0.15), (side * 1.04, 0.2)],
                mix(hair, c.skin, 0.45),
            )
    outer = _arc_points(dx, -0.05, rx, ry, 180, 360)
    if style == "messy":  # spiky top
        outer = [
            (x * (1.0 + 0.07 * (i % 2)), -0.05 + (y + 0.05) * (1.0 + 0.07 * (i % 2)))
            for i, (x, y) in enumerate(_arc_points(dx, -0.05, rx, ry, 180, 360, n=22))
        ]
    cv.polygon([*outer, *line], hair)
    if style in ("short", "messy", "undercut", "quiff"):
        for side in (-1, 1):  # sideburns
            cv.polygon([(side * 1.05, -0.1), (side * 0.93, -0.1), (side * 0.95, 0.32), (side * 1.02, 0.32)], hair)
    if style == "quiff" and not c.hat:
        cv.polygon(
            [
                (-0.75 + dx, -0.8),
                (-0.35 + dx, -1.62),
                (0.45 + dx, -1.72),
                (0.98 + dx, -1.25),
                (0.9 + dx, -0.8),
                (0.3 + dx, -1.05),
            ],
            hair,
        )
        cv.line([(-0.3 + dx, -1.3), (0.5 + dx, -1.45)], shade, 0.04)
    elif style in ("long", "pigtails"):
        cv.line([(dx + 0.1, -1.45), (dx + 0.1 if style == "long" else dx, -0.98)], shade, 0.035)
    elif style == "bun":
        for x in (-0.5, 0.0, 0.5):
            cv.line([(x * 0.8 + dx, -0.9), (x * 0.5 + dx, -1.4)], shade, 0.03)
    elif style == "short":
        cv.line([(0.15 + dx, -0.8), (0.35 + dx, -1.3)], shade, 0.035)


def draw_hat(cv: Canvas, c: Character, turn: float) -> None:
    hat, shade = c.hat_color, darker(c.hat_color, 0.78)
    dx = turn * 0.06
    if c.hat == "flatcap":
        cv.chord(-1.16 + dx, -1.48, 1.16 + dx, 0.0, 180, 360, hat)
        cv.ellipse(-0.98 + dx + turn * 0.15, -0.9, 1.0 + dx + turn * 0.15, -0.5, shade)
        cv.line([(-0.6 + dx, -1.1), (0.7 + dx, -1.25)], shade, 0.03)
    elif c.hat == "beanie":
        cv.chord(-1.15 + dx, -1.62, 1.15 + dx, 0.1, 180, 360, hat)
        cv.rounded_rectangle(-1.18 + dx, -0.9, 1.18 + dx, -0.5, 0.12, shade)
        for i in range(-5, 6):
            x = i * 0.2 + dx
            cv.line([(x, -0.86), (x, -0.54)], darker(hat, 0.7), 0.03)
    elif c.hat == "cap":
        cv.chord(-1.13 + dx, -1.55, 1.13 + dx, 0.0, 180, 360, hat)
        cv.chord(-0.95 + dx + turn * 0.3, -1.0, 1.3 + dx + turn * 0.3, -0.45, 0, 180, shade)
        cv.ellipse(-0.08 + dx, -1.6, 0.08 + dx, -1.48, shade)
        cv.line([(dx, -1.5), (dx, -0.8)], shade, 0.03)
