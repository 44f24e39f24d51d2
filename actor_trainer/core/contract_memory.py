"""Which worker contract each endpoint speaks (docs/worker-contract.md, "Versions").

The app remembers, per endpoint id, the highest `contract_version` a worker stated in a progress
payload or result (a small JSON file in the config folder). Samples and Try are offered only where
the endpoint speaks v2, so no job is sent that a v1 worker would fail on; until a v2 answer was
seen, an endpoint is taken for v1. The sandbox speaks v2. The setting `worker_contract` (or
ACTOR_TRAINER_WORKER_CONTRACT) overrides the memory: "1", "2" or "auto".
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Literal

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.contract import CONTRACT_V1, CONTRACT_V2, contract_version_of

log = logging.getLogger(__name__)

WorkerContract = Literal["auto", "1", "2"]
WORKER_CONTRACT_CHOICES: tuple[str, ...] = ("auto", "1", "2")
ENV_OVERRIDE = "ACTOR_TRAINER_WORKER_CONTRACT"
FILE_NAME = "worker_contracts.json"
#: the endpoint label of the simulated endpoint (core/settings.py Config.endpoint_label)
SANDBOX_ENDPOINT = "SANDBOX"


def resolve_override(setting: str | None = None) -> WorkerContract:
    """The environment's override, else the setting's, else "auto"; an unknown value is "auto"."""
    for value in (os.environ.get(ENV_OVERRIDE), setting):
        text = (value or "").strip().lower()
        if text in WORKER_CONTRACT_CHOICES:
            return text  # type: ignore[return-value]
    return "auto"


class ContractMemory:
    """The per-endpoint memory, safe to share between threads (writes re-read and merge the file)."""

    def __init__(self, folder: Path | None = None, override: str | None = None) -> None:
        if folder is None:
            from actor_trainer.core.settings import config_dir

            folder = config_dir()
        self.path = folder / FILE_NAME
        self.override: WorkerContract = resolve_override(override)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, int]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("Ignoring %s: %s", self.path, exc)
            return {}
        endpoints = raw.get("endpoints") if isinstance(raw, dict) else None
        if not isinstance(endpoints, dict):
            return {}
        return {str(k): v for k, v in endpoints.items() if isinstance(v, int) and not isinstance(v, bool) and v >= 1}

    def remembered(self, endpoint: str) -> int | None:
        """The highest version seen from `endpoint`, or None when none was stated yet."""
        with self._lock:
            return self._read().get(endpoint)

    def version_for(self, endpoint: str) -> int:
        """The contract version to speak to `endpoint`: the override, v2 for the sandbox, else the memory (v1)."""
        if self.override != "auto":
            return int(self.override)
        if endpoint.upper() == SANDBOX_ENDPOINT:
            return CONTRACT_V2
        return self.remembered(endpoint) or CONTRACT_V1

    def speaks_v2(self, endpoint: str) -> bool:
        return self.version_for(endpoint) >= CONTRACT_V2

    def note(self, endpoint: str, version: int | None) -> bool:
        """Remember `version` for `endpoint` if it is higher than what was seen; True when it was."""
        if version is None or isinstance(version, bool) or version < 1 or not endpoint:
            return False
        with self._lock:
            known = self._read()
            if known.get(endpoint, 0) >= version:
                return False
            known[endpoint] = version
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, {"endpoints": dict(sorted(known.items()))})
        log.info("Endpoint %s speaks worker contract version %d", endpoint, version)
        return True

    def note_payload(self, endpoint: str, payload: Any) -> bool:
        """Remember the `contract_version` stated in a progress payload, result or status object."""
        return self.note(endpoint, contract_version_of(payload))


def speaks_v2(endpoint: str, *, folder: Path | None = None, setting: str | None = None) -> bool:
    """Whether samples and Try may be offered on `endpoint` (see ContractMemory)."""
    return ContractMemory(folder, setting).speaks_v2(endpoint)
