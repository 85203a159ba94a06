"""Reading and validating a training channel: PNG images named by a `.lst` manifest.

The `.lst` format is the built-in image-classification algorithm's:
`<index>\\t<class index>\\t<path relative to the image folder>`. Everything is checked
before any training starts, so a bad channel fails in seconds with one clear line.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

INPUT_SIZE = 32


class ChannelError(ValueError):
    """A channel is missing, empty or inconsistent; the message says which and why."""


@dataclass(frozen=True)
class Channel:
    name: str
    images: np.ndarray  # uint8, N x 32 x 32 x 3 (RGB)
    labels: np.ndarray  # int64, N
    paths: tuple[str, ...]


def find_lst(image_dir: Path, lst_dir: Path | None, name: str) -> Path:
    """The one `.lst` file of the channel: in `lst_dir` if given, else in `image_dir`."""
    where = lst_dir or image_dir
    if not where.is_dir():
        raise ChannelError(f"channel {name!r}: {where} is not a directory")
    found = sorted(where.glob("*.lst"))
    if len(found) != 1:
        what = "no .lst file" if not found else f"{len(found)} .lst files"
        raise ChannelError(f"channel {name!r}: {what} in {where} (expected exactly one)")
    return found[0]


def parse_lst(lst: Path, num_classes: int, name: str) -> list[tuple[int, str]]:
    entries = []
    for number, line in enumerate(lst.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"channel {name!r}: {lst.name} line {number}"
        if len(fields) != 3:
            raise ChannelError(f"{where}: expected 3 tab-separated fields, got {len(fields)}")
        try:
            label = int(float(fields[1]))
        except ValueError:
            raise ChannelError(f"{where}: class {fields[1]!r} is not a number") from None
        if not 0 <= label < num_classes:
            raise ChannelError(
                f"{where}: class {label} is outside the class range 0..{num_classes - 1}"
            )
        entries.append((label, fields[2]))
    if not entries:
        raise ChannelError(f"channel {name!r}: {lst} lists no images")
    return entries


def decode_png(data: bytes) -> np.ndarray:
    """RGB uint8 array of the model's input size; raises ValueError if not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
            if image.size != (INPUT_SIZE, INPUT_SIZE):
                image = image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"not a decodable image ({error})") from None


def read_channel(
    name: str, image_dir: Path, num_classes: int, lst_dir: Path | None = None
) -> Channel:
    """Load and check every image the channel's `.lst` names."""
    image_dir = Path(image_dir)
    lst = find_lst(image_dir, lst_dir, name)
    entries = parse_lst(lst, num_classes, name)
    missing = [path for _, path in entries if not (image_dir / path).is_file()]
    if missing:
        raise ChannelError(
            f"channel {name!r}: {lst.name} names {len(missing)} file(s) missing under "
            f"{image_dir}, e.g. {missing[0]!r}"
        )
    images = np.empty((len(entries), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    for i, (_, path) in enumerate(entries):
        try:
            images[i] = decode_png((image_dir / path).read_bytes())
        except ValueError as error:
            raise ChannelError(f"channel {name!r}: {path}: {error}") from None
    labels = np.array([label for label, _ in entries], dtype=np.int64)
    return Channel(name, images, labels, tuple(path for _, path in entries))
