"""The base of every library record (split out of models.py, issue 8; models.py re-exports it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Record(BaseModel):
    """A JSON record that preserves unknown fields and omits unset optional ones when written."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True)

    #: Keys written even when their value is None (the original web app's shapes show them as null).
    _always_written: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        for name, field in type(self).model_fields.items():
            key = field.alias or name
            if (
                key in data
                and data[key] is None
                and name not in self.model_fields_set
                and key not in self._always_written
            ):
                del data[key]
        return data
