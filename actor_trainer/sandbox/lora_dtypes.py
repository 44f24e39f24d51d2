"""Writing the sandbox's LoRA tensors in the Save dtype the run asked for (issue 10, item 11).

numpy has no bfloat16 or float8, so the bits are made here (round to nearest even, as torch's
casts do) and the `.safetensors` file is written directly: an 8-byte little-endian header length,
the JSON header (each tensor's dtype, shape and data offsets, plus `__metadata__`), then the data.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import numpy as np

#: TrainingParameters.save_dtype → the safetensors dtype name
SAFETENSORS_DTYPES = {"fp32": "F32", "fp16": "F16", "bf16": "BF16", "fp8_e4m3fn": "F8_E4M3", "fp8_e5m2": "F8_E5M2"}


def to_bfloat16_bits(values: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def to_float8_e5m2_bits(values: np.ndarray) -> np.ndarray:
    # e5m2 is float16 with the low 8 mantissa bits dropped (same exponent range).
    bits = np.ascontiguousarray(values, dtype=np.float16).view(np.uint16).astype(np.uint32)
    rounded = (bits + 0x7F + ((bits >> 8) & 1)) >> 8
    return rounded.astype(np.uint8)


def to_float8_e4m3fn_bits(values: np.ndarray) -> np.ndarray:
    # e4m3fn: bias 7, 3 mantissa bits, no infinities, largest finite 448 (values beyond saturate).
    v = np.asarray(values, dtype=np.float64)
    sign = (np.signbit(v).astype(np.uint8)) << 7
    a = np.minimum(np.abs(v), 448.0)
    out = np.zeros(a.shape, dtype=np.uint8)
    small = a < 2.0**-6
    out[small] = np.rint(a[small] / 2.0**-9).astype(np.uint8)  # subnormals (8 rolls into exponent 1)
    big = ~small
    exponent = np.floor(np.log2(a[big]))
    steps = np.rint((a[big] / 2.0**exponent - 1.0) * 8.0)
    carry = steps >= 8
    exponent[carry] += 1
    steps[carry] = 0
    out[big] = ((exponent + 7).astype(np.uint8) << 3) | steps.astype(np.uint8)
    return out | sign


def encode(values: np.ndarray, save_dtype: str) -> np.ndarray:
    """The raw little-endian bits of `values` in `save_dtype` (one of SAFETENSORS_DTYPES)."""
    if save_dtype == "fp32":
        return np.ascontiguousarray(values, dtype="<f4")
    if save_dtype == "fp16":
        return np.ascontiguousarray(values, dtype="<f2")
    if save_dtype == "bf16":
        return to_bfloat16_bits(values).astype("<u2")
    if save_dtype == "fp8_e5m2":
        return to_float8_e5m2_bits(values)
    if save_dtype == "fp8_e4m3fn":
        return to_float8_e4m3fn_bits(values)
    raise ValueError(f"unknown save dtype {save_dtype!r}; expected one of {', '.join(SAFETENSORS_DTYPES)}")


def save_safetensors(tensors: Mapping[str, np.ndarray], save_dtype: str, metadata: Mapping[str, str]) -> bytes:
    """`tensors` (float arrays) as a safetensors file whose every tensor is in `save_dtype`."""
    dtype_name = SAFETENSORS_DTYPES.get(save_dtype)
    if dtype_name is None:
        raise ValueError(f"unknown save dtype {save_dtype!r}; expected one of {', '.join(SAFETENSORS_DTYPES)}")
    header: dict[str, object] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        data = encode(array, save_dtype).tobytes()
        header[name] = {"dtype": dtype_name, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = dict(sorted(metadata.items()))
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)
