"""What a LoRA `.safetensors` file says about itself, read from its header alone.

A safetensors file is an 8-byte little-endian header length, a JSON header (tensor names with
dtype, shape and byte offsets, plus an optional `__metadata__` object of strings) and the raw
tensor bytes. Reading only the header keeps this cheap for a 150 MB LoRA; the tensors are never
loaded. The header is still checked against the file size, so a truncated download is caught.

kohya's sd-scripts (and so ComfyUI-FluxTrainer) write training facts as `ss_*` metadata; the
sandbox's simulated worker writes the same keys plus `"simulation": "true"`.

The read is blocking file I/O: call it through `asyncio.to_thread` from the event loop.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actor_trainer.core.errors import ActorTrainerError

if TYPE_CHECKING:
    from actor_trainer.core.storage.base import Storage

#: safetensors refuses headers past 100 MB; so do we (a bogus length would otherwise be read).
MAX_HEADER_BYTES = 100 * 1024 * 1024

_DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}

_HINT = "Download the LoRA again; if it still fails, the worker wrote a broken file."


class LoraFileError(ActorTrainerError):
    """A file is not a readable safetensors LoRA (missing, not safetensors, truncated)."""

    def __init__(self, path: Path, problem: str, hint: str = _HINT) -> None:
        super().__init__(f"{path.name}: {problem}", hint)
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def parameter_count(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class LoraInfo:
    """The header of a LoRA file: its metadata and the shape of its tensors."""

    path: Path
    file_size: int
    metadata: dict[str, str]
    tensors: tuple[TensorInfo, ...] = field(repr=False)

    @property
    def tensor_count(self) -> int:
        return len(self.tensors)

    @property
    def parameter_count(self) -> int:
        return sum(t.parameter_count for t in self.tensors)

    @property
    def dtypes(self) -> tuple[str, ...]:
        """Distinct tensor dtypes, most common first (safetensors spelling: F16, BF16, F32...)."""
        counts = Counter(t.dtype for t in self.tensors)
        return tuple(dtype for dtype, _ in counts.most_common())

    @property
    def ranks(self) -> tuple[int, ...]:
        """Distinct ranks of the `lora_down` weights (first dimension), ascending."""
        return tuple(sorted({t.shape[0] for t in self.tensors if t.name.endswith("lora_down.weight") and t.shape}))

    @property
    def rank(self) -> int | None:
        """The LoRA's rank (the largest, if a dynamic-rank file mixes them); None if no lora_down."""
        return max(self.ranks) if self.ranks else None

    @property
    def is_simulation(self) -> bool:
        """True for files written by the sandbox's simulated worker: random weights, not a model."""
        return self.metadata.get("simulation", "").strip().lower() == "true"

    @property
    def network_dim(self) -> int | None:
        return _as_int(self.metadata.get("ss_network_dim")) or self.rank

    @property
    def network_alpha(self) -> float | None:
        return _as_float(self.metadata.get("ss_network_alpha"))

    @property
    def learning_rate(self) -> float | None:
        return _as_float(self.metadata.get("ss_learning_rate"))

    @property
    def max_train_steps(self) -> int | None:
        return _as_int(self.metadata.get("ss_max_train_steps"))

    @property
    def output_name(self) -> str | None:
        return self.metadata.get("ss_output_name") or None

    @property
    def base_model_version(self) -> str | None:
        return self.metadata.get("ss_base_model_version") or None

    @property
    def image_count(self) -> int | None:
        """Distinct training images: kohya's `ss_num_train_images` counts repeats, so the
        `img_count` of `ss_dataset_dirs` is preferred when present."""
        dirs = self.metadata.get("ss_dataset_dirs")
        if dirs:
            try:
                decoded = json.loads(dirs)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                counts = [v.get("img_count") for v in decoded.values() if isinstance(v, dict)]
                if counts and all(isinstance(c, int) for c in counts):
                    return sum(c for c in counts if isinstance(c, int))
        return _as_int(self.metadata.get("ss_num_train_images"))

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for showing the file to a user; only what the file actually says."""
        rows: list[tuple[str, str]] = []
        if self.is_simulation:
            rows.append(("Simulation", self.metadata.get("simulation_note") or "yes — not a trained model"))
        rows.append(("File size", _human_size(self.file_size)))
        optional: list[tuple[str, object]] = [
            ("Output name", self.output_name),
            ("Base model", self.base_model_version),
            ("Network module", self.metadata.get("ss_network_module")),
            ("Rank (network_dim)", self.network_dim),
            ("Alpha", _fmt_number(self.network_alpha)),
            ("Learning rate", _fmt_number(self.learning_rate)),
            ("Steps", self.max_train_steps),
            ("Training images", self.image_count),
            ("Optimizer", self.metadata.get("ss_optimizer")),
            ("LR scheduler", self.metadata.get("ss_lr_scheduler")),
            ("Seed", self.metadata.get("ss_seed")),
        ]
        rows.extend((label, str(value)) for label, value in optional if value not in (None, ""))
        rows.append(("Tensors", f"{self.tensor_count} ({', '.join(self.dtypes) or 'none'})"))
        rows.append(("Parameters", f"{self.parameter_count:,}"))
        return rows


def read_lora_info(path: Path) -> LoraInfo:
    """Read the header of the safetensors file at `path` without loading any tensor.

    Raises LoraFileError if the file cannot be opened, is not safetensors, or is truncated
    (its header points past the end of the file).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            file_size = fh.seek(0, 2)
            fh.seek(0)
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise LoraFileError(
                    path,
                    f"not a safetensors file: only {len(prefix)} bytes long (the header length alone takes 8)",
                )
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > MAX_HEADER_BYTES:
                raise LoraFileError(path, f"not a safetensors file: it announces a {header_len:,}-byte header")
            if 8 + header_len > file_size:
                raise LoraFileError(
                    path,
                    f"truncated: the header needs {8 + header_len:,} bytes but the file has {file_size:,}",
                )
            header_bytes = fh.read(header_len)
    except FileNotFoundError:
        raise LoraFileError(path, "the file does not exist", "Check the path, or download the LoRA again.") from None
    except IsADirectoryError:
        raise LoraFileError(path, "is a folder, not a file", "Choose the .safetensors file itself.") from None
    except OSError as exc:
        raise LoraFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
    return _parse_header(path, header_bytes, file_size)


def _parse_header(path: Path, header_bytes: bytes, file_size: int) -> LoraInfo:
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise LoraFileError(path, "not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise LoraFileError(path, "not a safetensors file: its header is not a JSON object")

    raw_meta = header.pop("__metadata__", None) or {}
    if not isinstance(raw_meta, dict) or not all(isinstance(v, str) for v in raw_meta.values()):
        raise LoraFileError(path, "malformed header: __metadata__ must map names to strings")
    metadata: dict[str, str] = {str(k): v for k, v in raw_meta.items()}

    data_size = file_size - 8 - len(header_bytes)
    tensors: list[TensorInfo] = []
    for name, entry in header.items():
        tensors.append(_parse_tensor(path, str(name), entry, data_size))
    tensors.sort(key=lambda t: t.name)
    return LoraInfo(path=path, file_size=file_size, metadata=metadata, tensors=tuple(tensors))


def _parse_tensor(path: Path, name: str, entry: Any, data_size: int) -> TensorInfo:
    if not isinstance(entry, dict):
        raise LoraFileError(path, f"malformed header: entry {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise LoraFileError(path, f"malformed header: tensor {name!r} has no dtype")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise LoraFileError(path, f"malformed header: tensor {name!r} has an invalid shape")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise LoraFileError(path, f"malformed header: tensor {name!r} has invalid data offsets")
    begin, end = offsets
    if end > data_size:
        raise LoraFileError(
            path,
            f"truncated: tensor {name!r} ends at byte {end:,} of the data, but only {data_size:,} bytes are there",
        )
    info = TensorInfo(name=name, dtype=dtype, shape=tuple(shape))
    item_size = _DTYPE_SIZES.get(dtype)
    if item_size is not None and info.parameter_count * item_size != end - begin:
        raise LoraFileError(
            path,
            f"malformed header: tensor {name!r} ({dtype} {list(shape)}) should take "
            f"{info.parameter_count * item_size:,} bytes, not {end - begin:,}",
        )
    return info


def _as_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _as_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def _fmt_number(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def _human_size(size: int) -> str:
    amount = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{size:,} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size:,} bytes"


async def fetch_lora(storage: Storage, url: str, dest: Path, progress: Callable[[int, int], None]) -> LoraInfo:
    """Download a LoRA from the bucket to `dest` (the storage writes atomically and removes its
    temporary file when cancelled), then read its header off the event loop."""
    await storage.download_url(url, dest, progress)
    return await asyncio.to_thread(read_lora_info, dest)
