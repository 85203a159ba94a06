"""Real CIFAR-100 images from the shared archive, read without trusting its pickles.

The pickles go through the ETL's restricted unpickler, so a tampered archive cannot
run code.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from etl.unpickle import load_restricted


def load_split(archive: Path, split: str = "train") -> tuple[np.ndarray, list[int], list[str]]:
    """(images uint8 N x 32 x 32 x 3, fine labels, filenames) of one split."""
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(f"cifar-100-python/{split}")
        if member is None:
            raise FileNotFoundError(f"{archive} has no cifar-100-python/{split}")
        batch = load_restricted(member, f"{archive}:{split}")
    images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    names = [n.decode() if isinstance(n, bytes) else n for n in batch[b"filenames"]]
    return images.transpose(0, 2, 3, 1).copy(), list(batch[b"fine_labels"]), names


def png_bytes(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image, "RGB").save(out, format="PNG")
    return out.getvalue()
