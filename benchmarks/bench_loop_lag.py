"""How long does the event loop stall while the app works? (docs/architecture.md, "One event loop":
"must not stall for more than a frame or two").

A probe coroutine asks to wake every 5 ms and records how late it wakes. It runs first on an idle
loop (the baseline), then while the app's core does its heavy work on the same loop: syncing the
demo library to the sandbox bucket (hashing, copying), reading the library's summaries, and a
whole sandbox training run (webhook server, sandbox endpoint, worker decoding images and writing
the LoRA, polling). Prints the lag percentiles side by side.

    .venv/bin/python benchmarks/bench_loop_lag.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICK_S = 0.005


class LagProbe:
    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.lags_ms.append(max(0.0, (time.perf_counter() - start - TICK_S) * 1000))

    def stop(self) -> None:
        self._stop.set()


async def measure(label: str, work: Callable[[], Awaitable[object]]) -> tuple[str, list[float], float]:
    probe = LagProbe()
    task = asyncio.create_task(probe.run())
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    probe.stop()
    await task
    return label, probe.lags_ms, elapsed


def row(label: str, lags: list[float], elapsed: float) -> str:
    lags = sorted(lags) or [0.0]
    p50 = statistics.median(lags)
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    return f"{label:<44} {elapsed:>7.2f} s {len(lags):>7} {p50:>8.2f} {p99:>8.2f} {max(lags):>8.2f}"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ.update(
            {
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_CACHE_HOME": str(home / "cache"),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            }
        )
        from actor_trainer.core.models import TrainingParameters
        from actor_trainer.core.settings import Settings, resolve_config
        from actor_trainer.runtime import Services

        library = Path(tmp) / "library"
        shutil.copytree(ROOT / "data", library)
        config = dataclasses.replace(
            resolve_config(Settings(), data_dir=library), sandbox_duration_s=6.0, poll_seconds=1.0
        )
        services = Services(config)
        results = [await measure("idle loop (baseline)", lambda: asyncio.sleep(3.0))]
        await services.start()
        try:
            lib = services.library

            async def sync_all() -> None:
                for actor in await asyncio.to_thread(lib.load_actors):
                    scan = await asyncio.to_thread(lib.scan_training_data, actor.id)
                    await services.storage.sync(actor.id, scan.files)

            async def summaries() -> None:
                for _ in range(20):
                    await asyncio.to_thread(lib.summaries)

            async def train() -> None:
                orchestrator = services.require_orchestrator()
                version = await orchestrator.submit(10, TrainingParameters(max_train_steps=500), allow_concurrent=True)
                while True:
                    current = await asyncio.to_thread(lib.get_version, 10, version.id)
                    if current.status.is_terminal:
                        return
                    await asyncio.sleep(0.2)

            results.append(await measure("sync 12 actors (151 images) to the bucket", sync_all))
            results.append(await measure("read library summaries ×20", summaries))
            results.append(await measure("sandbox training run, 25 images, 6 s", train))
        finally:
            await services.stop()
    print(f"event-loop lag (probe wakes every {TICK_S * 1000:.0f} ms; lag = how late it woke)")
    print(f"{'work on the loop':<44} {'elapsed':>9} {'wakes':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, lags, elapsed in results:
        print(row(label, lags, elapsed))
    print("a frame at 60 Hz is 16.7 ms")


if __name__ == "__main__":
    asyncio.run(main())
