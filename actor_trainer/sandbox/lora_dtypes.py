"""Writing the sandbox's LoRA tensors in the Save dtype the run asked for (issue 10, item 11).

Standard library only (issue 11, item 3: numpy and its OpenBLAS were ~43 MB of the frozen bundle
for this alone). A value is rounded to float32 first (the dtype the weights are made in), then to
the Save dtype with round to nearest even, as torch's casts do: bfloat16 and float8 bits are made
here, float16 by `struct` (whose "e" format rounds that way too). The `.safetensors` file is written
directly: an 8-byte little-endian header length, the JSON header (each tensor's dtype, shape and
data offsets, plus `__metadata__`), padded with spaces to a multiple of 8 bytes, then the data.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass

#: TrainingParameters.save_dtype → the safetensors dtype name
SAFETENSORS_DTYPES = {"fp32": "F32", "fp16": "F16", "bf16": "BF16", "fp8_e4m3fn": "F8_E4M3", "fp8_e5m2": "F8_E5M2"}
#: bytes per value
DTYPE_WIDTHS = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8_e4m3fn": 1, "fp8_e5m2": 1}
#: the largest finite value's bits without the sign (e4m3fn has no infinity; 0x7F is its NaN)
MAX_FINITE_BITS = {"fp32": 0x7F7FFFFF, "fp16": 0x7BFF, "bf16": 0x7F7F, "fp8_e4m3fn": 0x7E, "fp8_e5m2": 0x7B}

_F32_INF = 0x7F800000
_F16_INF = 0x7C00


def check_save_dtype(save_dtype: str) -> str:
    """`save_dtype`'s safetensors name; ValueError naming the choices when it is not one."""
    name = SAFETENSORS_DTYPES.get(save_dtype)
    if name is None:
        raise ValueError(f"unknown save dtype {save_dtype!r}; expected one of {', '.join(SAFETENSORS_DTYPES)}")
    return name


def float32_bits(value: float) -> int:
    """`value` rounded to float32 (to nearest even; beyond float32's range: infinity)."""
    try:
        return int.from_bytes(struct.pack("<f", value), "little")
    except OverflowError:
        return _F32_INF | (0x80000000 if value < 0 else 0)


def float16_bits(value: float) -> int:
    """`value` rounded to float32, then to float16 (to nearest even; beyond its range: infinity)."""
    single: float = struct.unpack("<f", float32_bits(value).to_bytes(4, "little"))[0]
    try:
        return int.from_bytes(struct.pack("<e", single), "little")
    except OverflowError:
        return _F16_INF | (0x8000 if single < 0 else 0)


def to_bfloat16_bits(value: float) -> int:
    """The upper 16 bits of `value` as float32, rounded to nearest even."""
    bits = float32_bits(value)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def to_float8_e5m2_bits(value: float) -> int:
    # e5m2 is float16 with the low 8 mantissa bits dropped (same exponent range).
    bits = float16_bits(value)
    return ((bits + 0x7F + ((bits >> 8) & 1)) >> 8) & 0xFF


def to_float8_e4m3fn_bits(value: float) -> int:
    """e4m3fn: bias 7, 3 mantissa bits, no infinities, largest finite 448 (values beyond saturate)."""
    single: float = struct.unpack("<f", float32_bits(value).to_bytes(4, "little"))[0]
    sign = 0x80 if math.copysign(1.0, single) < 0 else 0
    if math.isnan(single):
        return sign | 0x7F
    a = min(abs(single), 448.0)
    if a < 2.0**-6:
        return sign | round(a / 2.0**-9)  # subnormals (8 rolls into exponent 1)
    mantissa, exponent = math.frexp(a)  # a = mantissa * 2**exponent, 0.5 <= mantissa < 1
    exponent -= 1
    steps = round((mantissa * 2.0 - 1.0) * 8.0)
    if steps >= 8:
        exponent, steps = exponent + 1, 0
    return sign | ((exponent + 7) << 3) | steps


def to_bits(value: float, save_dtype: str) -> int:
    """`value`'s bits in `save_dtype` (one of SAFETENSORS_DTYPES), as an unsigned integer."""
    check_save_dtype(save_dtype)
    if save_dtype == "fp32":
        return float32_bits(value)
    if save_dtype == "fp16":
        return float16_bits(value)
    if save_dtype == "bf16":
        return to_bfloat16_bits(value)
    if save_dtype == "fp8_e5m2":
        return to_float8_e5m2_bits(value)
    return to_float8_e4m3fn_bits(value)


def encode(value: float, save_dtype: str) -> bytes:
    """The raw little-endian bytes of `value` in `save_dtype`."""
    return to_bits(value, save_dtype).to_bytes(DTYPE_WIDTHS[save_dtype], "little")


def from_bits(bits: int, save_dtype: str) -> float:
    """The value of `bits` in `save_dtype` (the inverse of to_bits for representable values)."""
    check_save_dtype(save_dtype)
    if save_dtype == "fp32":
        return float(struct.unpack("<f", bits.to_bytes(4, "little"))[0])
    if save_dtype == "bf16":
        return float(struct.unpack("<f", (bits << 16).to_bytes(4, "little"))[0])
    if save_dtype == "fp16":
        return float(struct.unpack("<e", bits.to_bytes(2, "little"))[0])
    if save_dtype == "fp8_e5m2":
        return float(struct.unpack("<e", (bits << 8).to_bytes(2, "little"))[0])
    sign = -1.0 if bits & 0x80 else 1.0
    exponent, steps = (bits >> 3) & 0xF, bits & 7
    if exponent == 0xF and steps == 7:
        return math.nan
    if exponent == 0:
        return sign * steps * 2.0**-9
    return sign * (1.0 + steps / 8.0) * 2.0 ** (exponent - 7)


@dataclass(frozen=True)
class EncodedTensor:
    """A tensor's shape and its values' raw little-endian bytes, already in the file's dtype."""

    shape: tuple[int, ...]
    data: bytes


def save_safetensors(tensors: Mapping[str, EncodedTensor], save_dtype: str, metadata: Mapping[str, str]) -> bytes:
    """`tensors` (each already in `save_dtype`) as a safetensors file, tensors in name order."""
    dtype_name = check_save_dtype(save_dtype)
    width = DTYPE_WIDTHS[save_dtype]
    header: dict[str, object] = {}
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name]
        if len(tensor.data) != math.prod(tensor.shape) * width:
            raise ValueError(f"{name}: {len(tensor.data)} bytes do not hold a {save_dtype} tensor of {tensor.shape}")
        header[name] = {
            "dtype": dtype_name,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(tensor.data)],
        }
        offset += len(tensor.data)
    header["__metadata__"] = dict(sorted(metadata.items()))
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    return b"".join([struct.pack("<Q", len(encoded)), encoded, *(tensors[name].data for name in sorted(tensors))])
