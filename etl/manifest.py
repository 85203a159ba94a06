"""manifest.json: what an export holds. Written last, so its presence means complete."""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
# ITU-R BT.601 luma weights (the ones PIL uses for mode "L"), in thousandths.
LUMA_MILLI = np.array([299, 587, 114], dtype=np.int64)


@dataclass(frozen=True)
class Manifest:
    classes: list[str]
    fine_label_ids: list[int]
    source: dict[str, Any]
    counts: dict[str, dict[str, Any]]
    lists: dict[str, str]
    files: dict[str, str]
    pixel_stats: dict[str, Any]
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


class PixelStats:
    """Per-channel mean/std and luma brightness of RGB images, accumulated in chunks.

    Sums are exact integers, so the result does not depend on the order in which
    threads add their chunks, and the manifest's bytes stay reproducible.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pixels = 0
        self._sum = [0, 0, 0]
        self._sq = [0, 0, 0]
        self._luma_sum = 0
        self._luma_sq = 0

    def add(self, planes: np.ndarray) -> None:
        """`planes`: uint8 (N, 3, 1024), the CIFAR row layout."""
        x = planes.astype(np.int64)
        sums = x.sum(axis=(0, 2))
        squares = np.square(x).sum(axis=(0, 2))
        luma = np.einsum("c,ncp->np", LUMA_MILLI, x)  # luma x 1000 x 255, an integer
        luma_sum, luma_sq = int(luma.sum()), int(np.square(luma).sum())
        with self._lock:
            self._pixels += x.shape[0] * x.shape[2]
            for c in range(3):
                self._sum[c] += int(sums[c])
                self._sq[c] += int(squares[c])
            self._luma_sum += luma_sum
            self._luma_sq += luma_sq

    def result(self, split: str) -> dict[str, Any]:
        n = max(self._pixels, 1)
        mean = [s / n / 255 for s in self._sum]
        std = [
            math.sqrt(max(q / n / 255**2 - m**2, 0.0)) for q, m in zip(self._sq, mean, strict=True)
        ]
        scale = 1000 * 255
        luma_mean = self._luma_sum / n / scale
        luma_std = math.sqrt(max(self._luma_sq / n / scale**2 - luma_mean**2, 0.0))
        return {
            "split": split,
            "scale": "0..1 (pixel value / 255)",
            "channel_mean": [round(v, 6) for v in mean],
            "channel_std": [round(v, 6) for v in std],
            "brightness": "0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 luma)",
            "brightness_mean": round(luma_mean, 6),
            "brightness_std": round(luma_std, 6),
        }
