"""What a frozen build says about itself: its version, when and from which commit it was built.

`packaging/actor-trainer.spec` writes `build_info.json` at the root of the bundle (the folder
`sys._MEIPASS` names) from pyproject's version, the commit and its date (SOURCE_DATE_EPOCH when
`scripts/package` sets it). A source checkout or a wheel has no such file: `build_info()` is None.
Read by the About box; no Qt here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

#: The file's name inside the bundle (the spec's datas target).
BUILD_INFO_FILE = "build_info.json"


@dataclass(frozen=True)
class BuildInfo:
    version: str
    built: str  # ISO 8601 UTC, e.g. 2026-12-02T07:14:45Z
    commit: str  # a full hash, or "unknown"

    def describe(self) -> str:
        short = self.commit[:10] if self.commit != "unknown" else self.commit
        return f"{self.version}, built {self.built[:10]} from commit {short}"


def build_info(bundle: Path | None = None) -> BuildInfo | None:
    """The bundle's build information, or None outside a frozen build (or when it is unreadable)."""
    if bundle is None:
        meipass = getattr(sys, "_MEIPASS", None)
        if not (getattr(sys, "frozen", False) and meipass):
            return None
        bundle = Path(meipass)
    try:
        data = json.loads((bundle / BUILD_INFO_FILE).read_text(encoding="utf-8"))
        return BuildInfo(version=str(data["version"]), built=str(data["built"]), commit=str(data["commit"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
