"""Random normal weights for the sandbox's LoRA, made directly as the Save dtype's bytes.

Standard library only, and quick without numpy (a rank-32 LoRA is about five million values)
because no Python code runs per value: bytes are mapped with `bytes.translate`, combined with
big-integer AND/OR and interleaved with slice assignment. Every value is drawn on its own:

- its *cell* — the exponent and the top three mantissa bits (an eighth of a power of two) — with
  the probability that a normal value of deviation `scale` lands in it, picked by two random bytes
  through two tables (shares of 65,536 slots; the first byte's ~30 leftover values defer to the
  second byte): each cell's probability within 0.1% of the normal one; uniform within a cell;
- its sign, from a random bit (the second byte's top one, which the tables do not read);
- the rest of its mantissa, uniform random bits. The 8-bit dtypes have none: their cells are single
  values, drawn with the probability of *rounding* to them (e4m3fn saturates, as a cast does).

The same `random.Random` state gives the same bytes on every platform (`randbytes` is Mersenne
Twister's `getrandbits`).
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from statistics import NormalDist

from actor_trainer.sandbox.lora_dtypes import DTYPE_WIDTHS, MAX_FINITE_BITS, check_save_dtype, from_bits

#: how finely the cell probabilities are drawn: two random bytes
SLOTS = 1 << 16
#: mantissa bits of each dtype; a cell fixes the top three of them (all of an 8-bit dtype's)
_MANTISSA_BITS = {"fp32": 23, "fp16": 10, "bf16": 7, "fp8_e4m3fn": 3, "fp8_e5m2": 2}
_CELL_MANTISSA_BITS = 3
_SIGN = bytes(b & 0x80 for b in range(256))


@dataclass(frozen=True)
class NoiseTables:
    """How two random bytes pick a cell, and what each cell fixes in each byte of a value."""

    cells: tuple[int, ...]  # cell index → the cell (the value's magnitude bits above the random ones)
    counts: tuple[int, ...]  # cell index → its share of the SLOTS
    coarse: bytes  # first byte → cell index (0 where the second byte decides)
    use_fine: bytes  # first byte → 0xFF where the second byte decides, else 0
    fine: bytes  # second byte → cell index (its low 7 bits; the top one is the sign)
    fixed: tuple[bytes, ...]  # byte j of a value (little-endian): cell index → its fixed bits
    random_masks: tuple[int, ...]  # byte j of a value: which of its bits are uniform random


def normal_bytes(rng: random.Random, count: int, scale: float, save_dtype: str) -> bytes:
    """`count` values from a normal distribution of deviation `scale`, as `save_dtype`'s bytes."""
    tables = noise_tables(float(scale), save_dtype)
    if count <= 0:
        return b""
    first, second = rng.randbytes(count), rng.randbytes(count)
    cells = first.translate(tables.coarse)
    if tables.use_fine != bytes(256):
        cells = _merge(cells, second.translate(tables.fine), mask=first.translate(tables.use_fine))
    sign = second.translate(_SIGN)  # the fine table reads only the second byte's low 7 bits
    width = len(tables.fixed)
    planes = []
    for j, (fixed, mask) in enumerate(zip(tables.fixed, tables.random_masks, strict=True)):
        if mask == 0xFF:
            planes.append(rng.randbytes(count))  # no fixed bits here
            continue
        parts = [cells.translate(fixed)]
        if mask:
            parts.append(rng.randbytes(count).translate(bytes(b & mask for b in range(256))))
        if j == width - 1:
            parts.append(sign)
        planes.append(_merge(*parts))
    if width == 1:
        return planes[0]
    out = bytearray(count * width)
    for j, plane in enumerate(planes):
        out[j::width] = plane
    return bytes(out)


@functools.lru_cache(maxsize=32)
def noise_tables(scale: float, save_dtype: str) -> NoiseTables:
    """The tables for a normal distribution of deviation `scale` in `save_dtype` (cached)."""
    check_save_dtype(save_dtype)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"the weights' deviation must be a positive number, not {scale}")
    random_bits = max(0, _MANTISSA_BITS[save_dtype] - _CELL_MANTISSA_BITS)
    last = MAX_FINITE_BITS[save_dtype] >> random_bits  # the last finite cell takes the tail
    cdf = NormalDist(0.0, scale).cdf

    def start(cell: int) -> float:  # where the cell's values begin (magnitudes)
        if cell == 0:
            return 0.0
        if cell > last:
            return math.inf
        if random_bits:  # the cell's values are its random bits' range: from its first value on
            return from_bits(cell << random_bits, save_dtype)
        return (from_bits(cell - 1, save_dtype) + from_bits(cell, save_dtype)) / 2  # rounds to it

    edges = [start(cell) for cell in range(last + 2)]
    masses = [
        2.0 * (cdf(edges[c + 1]) - cdf(edges[c])) if c < last else 2.0 * (1.0 - cdf(edges[c])) for c in range(last + 1)
    ]
    counts = _apportion(masses, SLOTS)
    used = [(cell, n) for cell, n in enumerate(counts) if n]
    if len(used) > 256:
        raise ValueError(f"a deviation of {scale} spreads over more than 256 cells of {save_dtype}")
    coarse, use_fine, from_second = bytearray(256), bytearray(256), []
    at = 0
    for index, (_cell, n) in enumerate(used):
        coarse[at : at + n // 256] = bytes([index]) * (n // 256)
        at += n // 256
        from_second.append(n % 256)
    use_fine[at:] = b"\xff" * (256 - at)
    fine = bytearray(128)
    if at < 256:  # the first byte's last (256 - at) values defer to the second byte's low 7 bits
        at2 = 0
        for index, k in enumerate(_apportion([float(r) for r in from_second], 128)):
            fine[at2 : at2 + k] = bytes([index]) * k
            at2 += k
    width = DTYPE_WIDTHS[save_dtype]
    fixed = tuple(
        bytes(((cell << random_bits) >> (8 * j)) & 0xFF for cell, _ in used) + bytes(256 - len(used))
        for j in range(width)
    )
    masks = tuple((((1 << random_bits) - 1) >> (8 * j)) & 0xFF for j in range(width))
    return NoiseTables(
        cells=tuple(cell for cell, _ in used),
        counts=tuple(n for _, n in used),
        coarse=bytes(coarse),
        use_fine=bytes(use_fine),
        fine=bytes(fine) * 2,  # the top bit is the sign's
        fixed=fixed,
        random_masks=masks,
    )


def _apportion(weights: list[float], total: int) -> list[int]:
    """Whole shares of `total` in proportion to `weights` (largest remainders; ties to the first)."""
    whole = sum(weights)
    exact = [w / whole * total for w in weights]
    shares = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _merge(*planes: bytes, mask: bytes | None = None) -> bytes:
    """The bitwise OR of equal-length byte strings; with `mask`, the last one is ANDed with it first."""
    if len(planes) == 1 and mask is None:
        return planes[0]
    values = [int.from_bytes(plane, "little") for plane in planes]
    if mask is not None:
        values[-1] &= int.from_bytes(mask, "little")
    merged = 0
    for value in values:
        merged |= value
    return merged.to_bytes(len(planes[0]), "little")
