"""Writes archives in the official CIFAR-100 python format, for tests and benchmarks.

The official pickles were written by Python 2 and numpy 1.x: protocol 2, text as
Python 2 `str` (BINSTRING opcodes) and numpy under `numpy.core`. Python 3's pickler
would spell bytes as `_codecs.encode(...)` calls and numpy as `numpy._core`, so this
module writes those opcodes itself, and its archives load exactly like the real one.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core.multiarray import _reconstruct

from etl.archive import TOP_DIR

FINE_LABEL_NAMES = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
]
COARSE_LABEL_NAMES = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
]

_PY2_GLOBALS = {
    id(_reconstruct): ("numpy.core.multiarray", "_reconstruct"),
    id(np.ndarray): ("numpy", "ndarray"),
    id(np.dtype): ("numpy", "dtype"),
}


class Py2Pickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch can be extended
    """Protocol 2 pickles spelled the way Python 2 + numpy 1.x wrote them."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        spelled = _PY2_GLOBALS.get(id(obj))
        if spelled is None:
            super().save_global(obj, name)
            return
        module, qualname = spelled
        self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("ascii"))
        self.memoize(obj)


def dumps_py2(obj: Any) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def split_dict(
    data: np.ndarray, fine_labels: Sequence[int], filenames: Sequence[str], batch_label: str
) -> dict[bytes, Any]:
    return {
        b"data": data,
        b"fine_labels": [int(v) for v in fine_labels],
        b"coarse_labels": [int(v) // 5 for v in fine_labels],
        b"filenames": [f.encode() for f in filenames],
        b"batch_label": batch_label.encode(),
    }


def meta_dict(fine_label_names: Sequence[str] = FINE_LABEL_NAMES) -> dict[bytes, Any]:
    return {
        b"fine_label_names": [n.encode() for n in fine_label_names],
        b"coarse_label_names": [n.encode() for n in COARSE_LABEL_NAMES],
    }


def write_members(path: Path, members: Mapping[str, bytes], *, compresslevel: int = 6) -> Path:
    """A .tar.gz holding `members` (name -> bytes), in the given order."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1230000000
            tar.addfile(info, io.BytesIO(data))
    return path


def write_archive(
    path: Path,
    train: Mapping[bytes, Any],
    test: Mapping[bytes, Any],
    meta: Mapping[bytes, Any] | None = None,
    *,
    compresslevel: int = 6,
) -> Path:
    """A CIFAR-100 python archive with the given split dicts (see `split_dict`)."""
    return write_members(
        path,
        {
            f"{TOP_DIR}/meta": dumps_py2(dict(meta or meta_dict())),
            f"{TOP_DIR}/train": dumps_py2(dict(train)),
            f"{TOP_DIR}/test": dumps_py2(dict(test)),
        },
        compresslevel=compresslevel,
    )


def random_split(
    rng: np.random.Generator, per_class: Mapping[int, int], batch_label: str, prefix: str = "img"
) -> dict[bytes, Any]:
    """A shuffled split with `per_class[fine id]` random images of each class."""
    labels = np.repeat(list(per_class), list(per_class.values()))
    rng.shuffle(labels)
    data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    names = [f"{prefix}_s_{i:06d}.png" for i in range(len(labels))]
    return split_dict(data, labels.tolist(), names, batch_label)
