"""The sandbox's LoRA writer without numpy (issue 11, item 3): sandbox/lora_dtypes.py, lora_noise.py.

numpy is a test dependency only. It is the reference here twice: the numpy writer the sandbox used
before (copied below as it was) must write the very same file from the same values, and the
`safetensors` library must read the file and write the same tensors and metadata back.
"""

from __future__ import annotations

import json
import math
import random
import struct
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load, save

from actor_trainer.sandbox.lora import lora_module_names, make_lora_bytes
from actor_trainer.sandbox.lora_dtypes import DTYPE_WIDTHS, SAFETENSORS_DTYPES, from_bits, to_bits
from actor_trainer.sandbox.lora_noise import SLOTS, noise_tables, normal_bytes

SAVE_DTYPES = list(SAFETENSORS_DTYPES)

# --- the numpy writer the sandbox used until issue 11, item 3 (the reference) ----------------------


def np_bfloat16_bits(values: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def np_float8_e5m2_bits(values: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(values, dtype=np.float16).view(np.uint16).astype(np.uint32)
    return ((bits + 0x7F + ((bits >> 8) & 1)) >> 8).astype(np.uint8)


def np_float8_e4m3fn_bits(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    sign = (np.signbit(v).astype(np.uint8)) << 7
    a = np.minimum(np.abs(v), 448.0)
    out = np.zeros(a.shape, dtype=np.uint8)
    small = a < 2.0**-6
    out[small] = np.rint(a[small] / 2.0**-9).astype(np.uint8)
    big = ~small
    exponent = np.floor(np.log2(a[big]))
    steps = np.rint((a[big] / 2.0**exponent - 1.0) * 8.0)
    carry = steps >= 8
    exponent[carry] += 1
    steps[carry] = 0
    out[big] = ((exponent + 7).astype(np.uint8) << 3) | steps.astype(np.uint8)
    return out | sign


def np_encode(values: np.ndarray, save_dtype: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    return {
        "fp32": lambda: np.ascontiguousarray(values, dtype="<f4"),
        "fp16": lambda: np.ascontiguousarray(values, dtype="<f2"),
        "bf16": lambda: np_bfloat16_bits(values).astype("<u2"),
        "fp8_e5m2": lambda: np_float8_e5m2_bits(values),
        "fp8_e4m3fn": lambda: np_float8_e4m3fn_bits(values),
    }[save_dtype]()


def np_save_safetensors(tensors: Mapping[str, np.ndarray], save_dtype: str, metadata: Mapping[str, str]) -> bytes:
    header: dict[str, object] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        data = np_encode(array, save_dtype).tobytes()
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[save_dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = dict(sorted(metadata.items()))
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


# --- helpers ---------------------------------------------------------------------------------------


def split(data: bytes) -> tuple[dict[str, dict[str, object]], bytes, bytes]:
    """(header, raw header bytes, tensor data) of a safetensors file."""
    (length,) = struct.unpack("<Q", data[:8])
    raw = data[8 : 8 + length]
    return json.loads(raw), raw, data[8 + length :]


def decoded(data: bytes, save_dtype: str) -> dict[str, np.ndarray]:
    """Every tensor as float32 values, decoded by from_bits (no numpy dtype needed for bf16/fp8)."""
    header, _raw, body = split(data)
    width = DTYPE_WIDTHS[save_dtype]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]  # type: ignore[misc]
        chunk = body[start:end]
        values = [
            from_bits(int.from_bytes(chunk[i : i + width], "little"), save_dtype) for i in range(0, len(chunk), width)
        ]
        out[name] = np.array(values, dtype=np.float32).reshape(info["shape"])  # type: ignore[arg-type]
    return out


# --- the dtypes ------------------------------------------------------------------------------------


def awkward_values() -> np.ndarray:
    """Float32 values where rounding goes wrong first: ties, subnormals, limits, signs."""
    rng = np.random.default_rng(11)
    specials = [0.0, -0.0, 1.0, -1.0, 448.0, 449.0, 464.0, 480.0, 1e6, -1e6, 65504.0, 65520.0, 70000.0]
    specials += [2.0**-6, 2.0**-6 * (1 - 2**-10), 2.0**-9, 2.0**-10, 3 * 2.0**-10, 2.0**-16, 2.0**-24, 2.0**-25]
    specials += [2.0**-126, 2.0**-149, 3.0e38, -3.0e38, float("inf"), float("-inf")]
    ties = np.array([0x3F808000, 0x3F818000, 0x3F80C000, 0xBF818000, 0x00018000], dtype=np.uint32).view(np.float32)
    fp16_ties = np.array([0x3C80, 0x3D80, 0x3CC0, 0xBD80, 0x0080, 0x0180], dtype=np.uint16).view(np.float16)
    normal = rng.standard_normal(3000).astype(np.float32) * np.float32(10.0) ** rng.integers(-8, 4, 3000)
    every_fp16 = np.arange(0, 0x10000, 7, dtype=np.uint32).astype(np.uint16).view(np.float16)
    every_fp16 = every_fp16[np.isfinite(every_fp16)]
    return np.concatenate(
        [np.array(specials, np.float32), ties, fp16_ties.astype(np.float32), normal, every_fp16.astype(np.float32)]
    )


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES)
def test_each_value_gets_the_bits_the_numpy_writer_gave_it(save_dtype: str) -> None:
    values = awkward_values()
    with np.errstate(over="ignore", invalid="ignore"):
        want = np_encode(values, save_dtype).view(f"<u{DTYPE_WIDTHS[save_dtype]}").astype(np.int64).tolist()
    got = [to_bits(float(v), save_dtype) for v in values]
    wrong = [(float(v), hex(g), hex(w)) for v, g, w in zip(values, got, want, strict=True) if g != w]
    assert not wrong, f"{len(wrong)} of {len(values)} differ, e.g. (value, ours, numpy's): {wrong[:5]}"


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES)
def test_from_bits_reads_back_every_finite_value(save_dtype: str) -> None:
    width = DTYPE_WIDTHS[save_dtype]
    codes = range(0, 1 << (8 * width), 1 if width < 4 else 65537)
    for code in codes:
        value = from_bits(code, save_dtype)
        if math.isfinite(value):
            assert to_bits(value, save_dtype) == code, (hex(code), value)


# --- the file, against the numpy writer and the safetensors library ---------------------------------


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES)
def test_the_file_is_the_one_the_numpy_writer_makes_of_the_same_values(save_dtype: str) -> None:
    meta = {"ss_output_name": "actor_0003_V2", "ss_tag_frequency": json.dumps({"1_x": {"é": 2}})}
    data = make_lora_bytes(network_dim=4, network_alpha=8, metadata=meta, seed=5, blocks=1, save_dtype=save_dtype)
    values = decoded(data, save_dtype)
    header, _raw, _body = split(data)
    assert np_save_safetensors(values, save_dtype, header["__metadata__"]) == data  # type: ignore[arg-type]


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES)
def test_the_safetensors_library_reads_the_header_and_metadata(tmp_path: Path, save_dtype: str) -> None:
    path = tmp_path / "lora.safetensors"
    path.write_bytes(
        make_lora_bytes(network_dim=4, network_alpha=2, metadata={"a": "b"}, seed=9, save_dtype=save_dtype)
    )
    with safe_open(str(path), framework="numpy") as fh:
        names = set(fh.keys())
        meta = fh.metadata()
        down = fh.get_slice("lora_unet_single_blocks_1_linear2.lora_down.weight")
        shape, dtype = down.get_shape(), down.get_dtype()
    assert names == {f"{m}.{p}" for m in lora_module_names(2) for p in ("lora_down.weight", "lora_up.weight", "alpha")}
    assert meta["a"] == "b" and meta["ss_network_dim"] == "4" and meta["simulation"] == "true"
    assert shape == [4, 15360] and dtype == SAFETENSORS_DTYPES[save_dtype]
    (length,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert length % 8 == 0  # padded with spaces, as the library pads


@pytest.mark.parametrize("save_dtype", ["fp32", "fp16"])
def test_the_safetensors_library_writes_back_the_same_tensors_and_metadata(save_dtype: str) -> None:
    data = make_lora_bytes(
        network_dim=3, network_alpha=1.5, metadata={"x": "1"}, seed=2, blocks=1, save_dtype=save_dtype
    )
    header, _raw, body = split(data)
    again = save(load(data), metadata=header["__metadata__"])  # type: ignore[arg-type]
    header2, _raw2, body2 = split(again)
    assert header2 == header  # the same names, dtypes, shapes, offsets and metadata (in its own key order)
    assert body2 == body


# --- the random weights ----------------------------------------------------------------------------


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES)
@pytest.mark.parametrize("scale", [1 / math.sqrt(3072), 1e-3, 1.0])
def test_the_tables_draw_each_cell_with_its_share_of_the_slots(save_dtype: str, scale: float) -> None:
    tables = noise_tables(scale, save_dtype)
    assert sum(tables.counts) == SLOTS and all(tables.counts)
    drawn: Counter[int] = Counter()
    for first in range(256):  # every pair of random bytes once
        if tables.use_fine[first]:
            drawn.update(tables.fine)  # the second byte decides
        else:
            drawn[tables.coarse[first]] += 256
    assert tables.fine[:128] == tables.fine[128:]  # the second byte's top bit is the sign's alone
    deferring = sum(1 for f in tables.use_fine if f)
    for index, want in enumerate(tables.counts):
        # a slot of the fine table (128 of them) is worth 2 × `deferring` of the SLOTS: at most one off
        assert abs(drawn[index] - want) <= 2 * deferring, (index, drawn[index], want)
    assert sum(drawn.values()) == SLOTS


@pytest.mark.parametrize("save_dtype", SAVE_DTYPES)
def test_the_weights_are_normal_with_the_deviation_asked_for(save_dtype: str) -> None:
    scale = 1 / math.sqrt(3072)
    count = 60_000
    data = normal_bytes(random.Random(4), count, scale, save_dtype)
    width = DTYPE_WIDTHS[save_dtype]
    assert len(data) == count * width
    values = np.array(
        [from_bits(int.from_bytes(data[i : i + width], "little"), save_dtype) for i in range(0, len(data), width)]
    )
    assert np.isfinite(values).all()
    coarse = save_dtype.startswith("fp8")  # 3 or 2 mantissa bits: the deviation moves with rounding
    assert abs(values.std() / scale - 1) < (0.06 if coarse else 0.03), values.std() / scale
    assert abs(values.mean()) < 0.02 * scale
    assert abs(np.signbit(values).mean() - 0.5) < 0.01
    if not coarse:  # the quartiles and the tails of a normal distribution
        assert abs((abs(values) < 0.6745 * scale).mean() - 0.5) < 0.01
        assert abs((abs(values) > 1.96 * scale).mean() - 0.05) < 0.005
    # values, not a few repeated ones
    assert len(set(values.tolist())) > (15 if coarse else 1000)


def test_the_weights_depend_on_the_random_state_only() -> None:
    first = normal_bytes(random.Random(1), 10_000, 0.02, "bf16")
    assert normal_bytes(random.Random(1), 10_000, 0.02, "bf16") == first
    assert normal_bytes(random.Random(2), 10_000, 0.02, "bf16") != first
    assert normal_bytes(random.Random(1), 0, 0.02, "bf16") == b""
    with pytest.raises(ValueError, match="fp64"):
        normal_bytes(random.Random(1), 10, 0.02, "fp64")
    with pytest.raises(ValueError, match="positive"):
        normal_bytes(random.Random(1), 10, 0.0, "fp16")


def test_the_lora_matrices_have_the_rank_written() -> None:
    data = make_lora_bytes(network_dim=8, network_alpha=8, metadata={}, seed=3, blocks=1)
    tensors = load(data)
    for name, tensor in tensors.items():
        if name.endswith("weight"):
            assert np.linalg.matrix_rank(tensor.astype(np.float64)) == 8, name
