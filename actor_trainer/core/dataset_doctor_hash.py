"""Near-duplicate pictures: a 64-bit difference hash (dHash) on Pillow, confirmed by colour.

dHash: the picture in grey, shrunk to 9×8, one bit per pair of horizontal neighbours ("is the left
one brighter?"). Re-saving, recompressing or resizing a picture changes at most a few of the 64 bits
(measured on the demo library: 0–2 bits for JPEG quality 30–95, WebP, and resizes down to 128 px; 5
bits for a 2 % crop). Two pictures are *near-duplicates* when their hashes differ in at most
`NEAR_DUPLICATE_BITS` bits **and** their 8×8 colour thumbnails differ by at most
`NEAR_DUPLICATE_COLOUR` levels (of 255) on average.

Why the colour check: the hash sees only brightness edges, and flat, smooth pictures (the demo's
illustrated portraits) can share a hash while the background is orange in one and blue in the other
(two demo pictures differ by only 2 bits). The thumbnails tell them apart: copies of one picture
stay within 3 levels, different pictures of the demo differ by 6.6 or more.

No imagehash/scipy: the few lines here are all it takes (and the installer's size budget is tight).
"""

from __future__ import annotations

from PIL import Image

#: Hashes differing in at most this many of their 64 bits may be near-duplicates (12.5 %).
NEAR_DUPLICATE_BITS = 8
#: ...and their 8×8 colour thumbnails must differ by at most this many levels (0–255) on average.
NEAR_DUPLICATE_COLOUR = 4.0

HASH_SIZE = 8  # 8 rows of 8 comparisons = 64 bits
THUMB_SIZE = 8  # 8×8 RGB = 192 bytes


def dhash(rgb: Image.Image) -> int:
    """The 64-bit difference hash of a picture (any size; best given already shrunk a little)."""
    grey = rgb.convert("L").resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.BOX)
    pixels = grey.tobytes()
    value = 0
    width = HASH_SIZE + 1
    for row in range(HASH_SIZE):
        base = row * width
        for col in range(HASH_SIZE):
            value = (value << 1) | (pixels[base + col] > pixels[base + col + 1])
    return value


def colour_thumb(rgb: Image.Image) -> bytes:
    """8×8 RGB bytes: the picture's colours in the large."""
    return rgb.convert("RGB").resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BOX).tobytes()


def hamming(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return (a ^ b).bit_count()


def colour_distance(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two thumbnails, in levels (0–255)."""
    if not a or len(a) != len(b):
        return 255.0
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def near_duplicates(hash_a: int, thumb_a: bytes, hash_b: int, thumb_b: bytes) -> bool:
    return hamming(hash_a, hash_b) <= NEAR_DUPLICATE_BITS and colour_distance(thumb_a, thumb_b) <= NEAR_DUPLICATE_COLOUR
