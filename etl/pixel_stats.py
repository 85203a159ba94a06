"""Pixel statistics of a set of RGB images: what drift monitoring compares live inputs to.

One structure (`PixelStats`), one builder (`PixelStatsBuilder`), one reader
(`PixelStats.from_json`). The ETL's `manifest.json` and the model's `metadata.json` both
hold it as `pixel_stats`; CONTRACTS.md ("Drift statistics") pins its fields. Every value
is on the 0..1 scale (pixel value / 255); a std is the population std.

The ETL adds the train images in chunks from several threads; training adds its fit set
at once. Sums are exact integers, so the result depends neither on the order of the
chunks nor on the producer, and the manifest's bytes stay reproducible.

Imports nothing but numpy and the standard library: a SageMaker training job runs
training/ as flat scripts, and its launcher copies this file next to them.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

# ITU-R BT.601 luma, what Pillow's mode "L" computes: the "brightness" of a pixel.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
# The same weights in thousandths, for exact integer sums (luma x 1000 x 255 per pixel).
_LUMA_MILLI = np.array([299, 587, 114], dtype=np.int64)
_LUMA_SCALE = 1000 * 255
# Per-image mean brightness histogram: this many equal bins over [0, 1] (1.0 in the last).
BRIGHTNESS_BINS = 10
DECIMALS = 6
# add_images works in chunks of about this many pixels (bounded memory, no int64 overflow).
_CHUNK_PIXELS = 1 << 20


class PixelStatsError(ValueError):
    """A `pixel_stats` object lacks a pinned field or holds a value out of its range."""


@dataclass(frozen=True)
class PixelStats:
    split: str  # which images: "train" (ETL), "train" or "train+validation" (training)
    images: int  # how many images
    channel_mean: tuple[float, float, float]  # R, G, B mean over every pixel
    channel_std: tuple[float, float, float]  # R, G, B std over every pixel
    brightness_mean: float  # mean BT.601 luma over every pixel (= the mean of image means)
    brightness_std: float  # std of the luma over every pixel
    image_brightness_std: float  # std of the images' mean luma (one value per image)
    image_brightness_histogram: tuple[int, ...]  # images per mean-luma bin, BRIGHTNESS_BINS

    def to_json(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "images": self.images,
            "channel_mean": list(self.channel_mean),
            "channel_std": list(self.channel_std),
            "brightness_mean": self.brightness_mean,
            "brightness_std": self.brightness_std,
            "image_brightness_std": self.image_brightness_std,
            "image_brightness_histogram": list(self.image_brightness_histogram),
        }

    @classmethod
    def from_json(cls, doc: object) -> PixelStats:
        """Strict: every pinned field, each of its type and within its range."""
        if not isinstance(doc, dict):
            raise PixelStatsError("pixel_stats is not a JSON object")
        missing = [name for name in FIELDS if name not in doc]
        if missing:
            raise PixelStatsError(f"pixel_stats lacks {', '.join(missing)}")
        return cls(
            split=_text(doc, "split"),
            images=_count(doc, "images", minimum=1),
            channel_mean=_unit_vector(doc, "channel_mean", 3, positive=False),
            channel_std=_unit_vector(doc, "channel_std", 3, positive=True),
            brightness_mean=_unit(doc, "brightness_mean", positive=False),
            brightness_std=_unit(doc, "brightness_std", positive=True),
            image_brightness_std=_unit(doc, "image_brightness_std", positive=False),
            image_brightness_histogram=_histogram(doc, "image_brightness_histogram"),
        )


FIELDS = tuple(PixelStats.__dataclass_fields__)


def _text(doc: dict, name: str) -> str:
    value = doc[name]
    if not isinstance(value, str) or not value:
        raise PixelStatsError(f"pixel_stats.{name} must be a non-empty string")
    return value


def _count(doc: dict, name: str, minimum: int) -> int:
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PixelStatsError(f"pixel_stats.{name} must be an integer >= {minimum}")
    return value


def _is_unit(value: object, positive: bool) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
        and value <= 1
    )


def _unit(doc: dict, name: str, positive: bool) -> float:
    value = doc[name]
    if not _is_unit(value, positive):
        bound = "(0, 1]" if positive else "[0, 1]"
        raise PixelStatsError(f"pixel_stats.{name} must be a number in {bound} (pixel / 255)")
    return float(value)


def _unit_vector(doc: dict, name: str, length: int, positive: bool) -> tuple[float, ...]:
    value = doc[name]
    if not (isinstance(value, list) and len(value) == length) or not all(
        _is_unit(v, positive) for v in value
    ):
        bound = "(0, 1]" if positive else "[0, 1]"
        raise PixelStatsError(
            f"pixel_stats.{name} must be a list of {length} numbers (R, G, B) in {bound}"
            " (pixel / 255)"
        )
    return tuple(float(v) for v in value)


def _histogram(doc: dict, name: str) -> tuple[int, ...]:
    value = doc[name]
    if not (isinstance(value, list) and len(value) == BRIGHTNESS_BINS) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise PixelStatsError(
            f"pixel_stats.{name} must be a list of {BRIGHTNESS_BINS} counts (integers >= 0)"
        )
    return tuple(value)


class PixelStatsBuilder:
    """Accumulates uint8 RGB images, in any order and from any thread; `build` the result.

    Every image must have the same number of pixels (the per-image brightness is a mean).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images = 0
        self._pixels_per_image: int | None = None
        self._sum = [0, 0, 0]
        self._sq = [0, 0, 0]
        self._luma_sum = 0
        self._luma_sq = 0
        self._image_luma_sq = 0
        self._histogram = [0] * BRIGHTNESS_BINS

    def add_planes(self, planes: np.ndarray) -> PixelStatsBuilder:
        """`planes`: uint8 (N, 3, pixels), the CIFAR row layout."""
        if planes.dtype != np.uint8 or planes.ndim != 3 or planes.shape[1] != 3:
            raise ValueError(f"expected uint8 (N, 3, pixels), got {planes.dtype} {planes.shape}")
        count, _, pixels = planes.shape
        x = planes.astype(np.int64)
        sums = x.sum(axis=(0, 2))
        squares = np.square(x).sum(axis=(0, 2))
        luma = np.einsum("c,ncp->np", _LUMA_MILLI, x)  # luma x 1000 x 255, an integer
        image_luma = luma.sum(axis=1)
        bins = image_luma * BRIGHTNESS_BINS // (pixels * _LUMA_SCALE)  # 1.0 -> the last bin
        bins = np.minimum(bins, BRIGHTNESS_BINS - 1)
        histogram = np.bincount(bins, minlength=BRIGHTNESS_BINS)
        image_luma_sq = sum(v * v for v in image_luma.tolist())  # Python ints: no overflow
        with self._lock:
            if self._pixels_per_image not in (None, pixels):
                raise ValueError(
                    f"images of {pixels} pixels among images of {self._pixels_per_image}"
                )
            self._pixels_per_image = pixels
            self._images += count
            for c in range(3):
                self._sum[c] += int(sums[c])
                self._sq[c] += int(squares[c])
            self._luma_sum += int(luma.sum())
            self._luma_sq += int(np.square(luma).sum())
            self._image_luma_sq += image_luma_sq
            for b in range(BRIGHTNESS_BINS):
                self._histogram[b] += int(histogram[b])
        return self

    def add_images(self, images: np.ndarray) -> PixelStatsBuilder:
        """`images`: uint8 (N, H, W, 3), RGB."""
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"expected uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        step = max(1, _CHUNK_PIXELS // max(1, images.shape[1] * images.shape[2]))
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            self.add_planes(chunk.reshape(len(chunk), -1, 3).transpose(0, 2, 1))
        return self

    def build(self, split: str) -> PixelStats:
        with self._lock:
            if not self._images:
                raise ValueError("no images were added: pixel statistics need at least one")
            pixels = self._images * self._pixels_per_image
            image_scale = self._pixels_per_image * _LUMA_SCALE  # of a per-image luma sum

            def std(total: int, squares: int, scale: int, n: int) -> float:
                # n * sum(x^2) - sum(x)^2 is an exact integer: no cancellation error.
                return math.sqrt(max(n * squares - total * total, 0)) / (n * scale)

            return PixelStats(
                split=split,
                images=self._images,
                channel_mean=tuple(_round(s / (pixels * 255)) for s in self._sum),
                channel_std=tuple(
                    _round(std(s, q, 255, pixels)) for s, q in zip(self._sum, self._sq, strict=True)
                ),
                brightness_mean=_round(self._luma_sum / (pixels * _LUMA_SCALE)),
                brightness_std=_round(std(self._luma_sum, self._luma_sq, _LUMA_SCALE, pixels)),
                image_brightness_std=_round(
                    std(self._luma_sum, self._image_luma_sq, image_scale, self._images)
                ),
                image_brightness_histogram=tuple(self._histogram),
            )


def _round(value: float) -> float:
    return round(value, DECIMALS)
