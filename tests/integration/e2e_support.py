"""Shared set-up for end-to-end runs: a real library, the sandbox endpoint, the webhook server,
the local bucket — everything over real HTTP on 127.0.0.1, as the app runs it."""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from actor_trainer.core.events import Event, LogEvent, VersionChanged
from actor_trainer.core.models import TrainingParameters, TrainingVersion
from actor_trainer.core.settings import Config, Settings, resolve_config
from actor_trainer.runtime import Services
from tests.library_factory import make_library
from tests.waits import WAIT_S, tasks_named, wait_until

FAST_PARAMS = TrainingParameters(max_train_steps=40, network_dim=4, network_alpha=4)


class Recorder:
    """Collects every event the services emit."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def logs(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, LogEvent)]

    def terminal_changes(self, ref: str) -> list[TrainingVersion]:
        return [
            e.version
            for e in self.events
            if isinstance(e, VersionChanged)
            and ref in (e.version.id, e.version.requestId)
            and e.version.status.is_terminal
        ]


# The recorder `running()` subscribed to each Services, so that `wait_terminal` can wait for events.
_recorders: weakref.WeakKeyDictionary[Services, Recorder] = weakref.WeakKeyDictionary()


def sandbox_config(library_root: Path, **overrides: object) -> Config:
    config = resolve_config(Settings(), data_dir=library_root)
    assert config.sandbox
    defaults: dict[str, object] = {"poll_seconds": 0.3, "sandbox_duration_s": 0.8}
    defaults.update(overrides)
    return dataclasses.replace(config, **defaults)  # type: ignore[arg-type]


@asynccontextmanager
async def running(
    tmp_path: Path, *, sync: bool = True, **overrides: object
) -> AsyncIterator[tuple[Services, Recorder]]:
    root = make_library(tmp_path / "lib")
    services = Services(sandbox_config(root, **overrides))
    recorder = Recorder()
    services.events.subscribe(recorder)
    _recorders[services] = recorder
    await services.start()
    assert services.sandbox is not None
    services.sandbox.result_window_s = 30.0
    services.sandbox.webhooks.retry_interval_s = 0.2
    try:
        if sync:
            library = services.library
            for actor in library.load_actors():
                scan = library.scan_training_data(actor.id)
                result = await services.storage.sync(actor.id, scan.files)
                assert result.ok
        yield services, recorder
    finally:
        await services.stop()


async def webhooks_applied(services: Services, job_id: str) -> None:
    """Wait until the sandbox has sent every webhook for the job and the app's webhook server has
    finished handling each one (its `webhook-delivery-<id>` tasks are over)."""
    sandbox = services.sandbox
    assert sandbox is not None
    await wait_until(
        lambda: (
            (job_id not in sandbox.jobs or sandbox.jobs[job_id].status.is_terminal)
            and not tasks_named(f"sandbox-webhook-{job_id}")
            and not tasks_named(f"webhook-delivery-{job_id[:40]}")
        )
    )


async def wait_terminal(services: Services, actor_id: int, ref: str, limit_s: float = WAIT_S) -> TrainingVersion:
    """Wait until the version is terminal on disk and, for services built by `running()`, until the
    app has announced it (the VersionChanged event, and with it the log line of the transition: the
    file is written first, the announcement follows a moment later)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    recorder = _recorders.get(services)
    while True:
        version = await asyncio.to_thread(services.library.get_version, actor_id, ref)
        announced = recorder is None or [v.status for v in recorder.terminal_changes(ref)][-1:] == [version.status]
        if version.status.is_terminal and announced:
            return version
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{version.name} still {version.status.label} after {limit_s} s")
        await asyncio.sleep(0.05)
