"""Training parameters remembered per actor (the last ones the user set), in the config folder."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from pydantic import ValidationError

from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.models import TrainingParameters

log = logging.getLogger(__name__)


class ParameterMemory:
    """`{"<actor id>": {parameters}}` in one small JSON file. A damaged file is set aside, not lost."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("%s is unreadable; remembered parameters start afresh (the file is kept)", self.path)
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, actor_id: int) -> TrainingParameters | None:
        raw = self._read().get(str(actor_id))
        if not isinstance(raw, dict):
            return None
        try:
            return TrainingParameters.model_validate(raw)
        except ValidationError:
            return None

    def save(self, actor_id: int, params: TrainingParameters) -> None:
        with self._lock:
            data = self._read()
            if self.path.exists() and not data and self.path.stat().st_size > 2:
                # Unparsable: keep it aside rather than overwrite what someone may want back.
                self.path.replace(self.path.with_suffix(".damaged.json"))
            data[str(actor_id)] = params.model_dump(mode="json")
            atomic_write_json(self.path, data)

    def forget(self, actor_id: int) -> None:
        with self._lock:
            data = self._read()
            if data.pop(str(actor_id), None) is not None:
                atomic_write_json(self.path, data)
