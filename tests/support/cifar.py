"""Real CIFAR-100 images from the shared archive, read by the ETL's own reader (which
unpickles without trusting the archive and validates every split)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from etl.archive import read_archive
from etl.writer import png_bytes, rows_to_hwc

__all__ = ["CifarImage", "load_images", "load_split", "png_bytes"]

CLASS_NAMES = {8: "bicycle", 48: "motorcycle"}


@dataclass(frozen=True)
class CifarImage:
    filename: str
    label: str
    pixels: np.ndarray  # (32, 32, 3) uint8

    def png(self) -> bytes:
        return png_bytes(self.pixels)


def load_images(archive: Path, count: int, split: str = "test") -> list[CifarImage]:
    """The first `count` images of a split."""
    stored = getattr(read_archive(archive, progress=False), split)
    pixels = rows_to_hwc(stored.data[:count])
    return [
        CifarImage(name, CLASS_NAMES[int(label)], image)
        for name, label, image in zip(stored.filenames, stored.fine_labels, pixels, strict=False)
    ]


def load_split(archive: Path, split: str = "train") -> tuple[np.ndarray, list[int], list[str]]:
    """(images uint8 N x 32 x 32 x 3, fine labels, filenames) of one split."""
    stored = getattr(read_archive(archive, progress=False), split)
    return rows_to_hwc(stored.data).copy(), stored.fine_labels.tolist(), list(stored.filenames)
