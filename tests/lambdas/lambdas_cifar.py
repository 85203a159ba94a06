"""Real CIFAR-100 images from the shared archive, as PNG bytes.

The archive's members are pickles, read through the ETL's restricted unpickler, so a
tampered archive cannot run code.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from etl.unpickle import load_restricted

CLASS_NAMES = {8: "bicycle", 48: "motorcycle"}


@dataclass(frozen=True)
class CifarImage:
    filename: str
    label: str
    pixels: np.ndarray  # (32, 32, 3) uint8

    def png(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.pixels).save(buffer, format="PNG")
        return buffer.getvalue()


def load_images(archive: Path, count: int, split: str = "test") -> list[CifarImage]:
    """The first `count` images of a split."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"cifar-100-python/{split}")
        assert member is not None
        batch = load_restricted(member, f"{archive}:{split}")
    data = np.asarray(batch[b"data"][:count], dtype=np.uint8)
    pixels = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return [
        CifarImage(name.decode(), CLASS_NAMES[label], image)
        for name, label, image in zip(
            batch[b"filenames"], batch[b"fine_labels"], pixels, strict=False
        )
    ]
