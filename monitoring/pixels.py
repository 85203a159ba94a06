"""Decoding a captured input image and the pixel statistics drift is measured on.

Pixel values are on a 0-1 scale (uint8 / 255). Brightness is ITU-R BT.601 luma
(0.299 R + 0.587 G + 0.114 B), what Pillow's "L" mode computes: `LUMA_WEIGHTS`, defined
once in etl/pixel_stats.py with the reference statistics it is compared to.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from etl.pixel_stats import LUMA_WEIGHTS

THUMBNAIL_SIZE = 64
# Pillow refuses more than ~179 MP by default; captured inputs are capped at 5 MiB, so
# anything this large is hostile or broken and is counted, not decoded.
MAX_IMAGE_PIXELS = 40_000_000


class UndecodableImageError(ValueError):
    """The captured input is not an image Pillow can decode."""


@dataclass(frozen=True)
class ImageStats:
    channel_mean: np.ndarray  # (3,), 0-1
    channel_sq_mean: np.ndarray  # (3,), mean of squared values, for the captured std

    @property
    def brightness(self) -> float:
        return float(self.channel_mean @ LUMA_WEIGHTS)


def decode_rgb(body: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise UndecodableImageError(f"image of {image.width}x{image.height} is too large")
            image.load()
            return image if image.mode == "RGB" else image.convert("RGB")
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise UndecodableImageError(f"not a decodable image: {exc}") from exc


_LEVELS = np.arange(256, dtype=np.float64)
# Above this many pixels, summing Pillow's per-band histogram beats summing the pixels.
_HISTOGRAM_FROM_PIXELS = 4096


def image_stats(image: Image.Image) -> ImageStats:
    """Per-channel mean and mean square of an RGB image, on the 0-1 scale."""
    count = image.width * image.height
    if count > _HISTOGRAM_FROM_PIXELS:
        histogram = np.array(image.histogram(), dtype=np.float64).reshape(3, 256)
        sums, squares = histogram @ _LEVELS, histogram @ np.square(_LEVELS)
    else:
        pixels = np.asarray(image).reshape(-1, 3).astype(np.float64)
        sums, squares = pixels.sum(axis=0), np.einsum("ij,ij->j", pixels, pixels)
    return ImageStats(
        channel_mean=sums / (255.0 * count),
        channel_sq_mean=squares / (255.0 * 255.0 * count),
    )


def thumbnail_png(image: Image.Image, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small PNG of the image for the lowest-confidence strip (bounded memory per image)."""
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="PNG")
    return out.getvalue()
