"""Benchmark: writing the sandbox's simulated LoRA without numpy, beside the numpy writer it replaced.

    .venv/bin/python benchmarks/bench_lora_write.py [--rank 32] [--blocks 2] [--repeat 3]

For each Save dtype, in the same run and alternating, so that a busy machine slows both alike:
  1. baseline: the numpy writer the sandbox used until issue 11, item 3 (numpy's default_rng
     normals, then the same encoders; tests/core/test_lora_writer.py keeps its code);
  2. now: `make_lora_bytes` (standard library only; sandbox/lora_noise.py).
Prints the median of `--repeat` runs of each (the first run of "now" builds its cached tables,
and so does the worker's first LoRA). numpy is needed for the baseline only (a dev dependency).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actor_trainer.sandbox.lora import _modules, make_lora_bytes
from actor_trainer.sandbox.lora_dtypes import SAFETENSORS_DTYPES
from tests.core.test_lora_writer import np_save_safetensors


def numpy_lora(rank: int, blocks: int, seed: int, save_dtype: str) -> bytes:
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}
    alpha = np.array(rank, dtype=np.float32)
    for prefix, fin, fout in _modules(blocks):
        tensors[f"{prefix}.lora_down.weight"] = rng.standard_normal((rank, fin), dtype=np.float32) / np.sqrt(fin)
        tensors[f"{prefix}.lora_up.weight"] = rng.standard_normal((fout, rank), dtype=np.float32) * 1e-3
        tensors[f"{prefix}.alpha"] = alpha
    return np_save_safetensors(tensors, save_dtype, {"simulation": "true"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    values = sum(args.rank * (fin + fout) for _, fin, fout in _modules(args.blocks))
    print(f"rank {args.rank}, {args.blocks} blocks: {values:,} values; median of {args.repeat} runs")
    print(f"{'save dtype':<12} {'numpy (before)':>15} {'stdlib (now)':>13} {'file':>10}")
    for save_dtype in SAFETENSORS_DTYPES:
        before: list[float] = []
        now: list[float] = []
        size = 0
        for seed in range(args.repeat):
            started = time.perf_counter()
            numpy_lora(args.rank, args.blocks, seed, save_dtype)
            before.append(time.perf_counter() - started)
            started = time.perf_counter()
            size = len(
                make_lora_bytes(
                    network_dim=args.rank,
                    network_alpha=args.rank,
                    metadata={},
                    seed=seed,
                    blocks=args.blocks,
                    save_dtype=save_dtype,
                )
            )
            now.append(time.perf_counter() - started)
        print(
            f"{save_dtype:<12} {statistics.median(before):>13.3f} s {statistics.median(now):>11.3f} s "
            f"{size / 1e6:>7.1f} MB"
        )
    print(f"(first run of 'now' included table building; machine load: {', '.join(f'{x:.1f}' for x in _load())})")


def _load() -> tuple[float, ...]:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return (math.nan,)


if __name__ == "__main__":
    main()
