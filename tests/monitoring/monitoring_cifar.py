"""Real CIFAR-100 images from the shared archive, read by the ETL's own reader (which
unpickles without trusting the archive and validates every split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from etl.archive import read_archive
from etl.writer import png_bytes, rows_to_hwc

__all__ = ["load_split", "png_bytes"]


def load_split(archive: Path, split: str = "train") -> tuple[np.ndarray, list[int], list[str]]:
    """(images uint8 N x 32 x 32 x 3, fine labels, filenames) of one split."""
    stored = getattr(read_archive(archive, progress=False), split)
    return rows_to_hwc(stored.data).copy(), stored.fine_labels.tolist(), list(stored.filenames)
