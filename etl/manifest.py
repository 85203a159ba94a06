"""manifest.json: what an export holds. Written last, so its presence means complete."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
# 2: pixel_stats is etl.pixel_stats.PixelStats (CONTRACTS.md, "Drift statistics").
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Manifest:
    classes: list[str]
    fine_label_ids: list[int]
    source: dict[str, Any]
    counts: dict[str, dict[str, Any]]
    lists: dict[str, str]
    files: dict[str, str]
    pixel_stats: dict[str, Any]  # etl.pixel_stats.PixelStats.to_json() of the train images
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        # Sorted keys and no timestamp: the same export gives the same bytes, so a
        # re-upload sees an unchanged manifest.
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls(**json.loads(text))

    def paths(self) -> list[str]:
        """Every file of the export relative to its folder, manifest last."""
        return [*sorted(self.files), *sorted(self.lists), MANIFEST_NAME]


def load_manifest(out: Path) -> Manifest:
    return Manifest.from_json((out / MANIFEST_NAME).read_text())


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so `path` is either absent or whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
