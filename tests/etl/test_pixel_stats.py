"""The one drift-statistics builder and reader (etl/pixel_stats.py), on real CIFAR-100 images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from etl.archive import read_archive
from etl.pixel_stats import (
    BRIGHTNESS_BINS,
    FIELDS,
    LUMA_WEIGHTS,
    PixelStats,
    PixelStatsBuilder,
    PixelStatsError,
)


@pytest.fixture(scope="module")
def planes(shared_archive: Path) -> np.ndarray:
    """The real archive's 800 train images, uint8 (N, 3, 1024) as the ETL reads them."""
    return read_archive(shared_archive, progress=False).train.data.reshape(-1, 3, 1024)


def test_statistics_are_those_of_the_pixels_on_the_0_1_scale(planes):
    stats = PixelStatsBuilder().add_planes(planes).build("train")

    pixels = planes.transpose(0, 2, 1).reshape(-1, 3).astype(np.float64) / 255
    luma = (pixels @ LUMA_WEIGHTS).reshape(len(planes), -1)
    image_means = luma.mean(axis=1)
    assert stats.images == 800
    np.testing.assert_allclose(stats.channel_mean, pixels.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(stats.channel_std, pixels.std(axis=0), atol=1e-6)
    assert stats.brightness_mean == pytest.approx(luma.mean(), abs=1e-6)
    assert stats.brightness_std == pytest.approx(luma.std(), abs=1e-6)
    assert stats.image_brightness_std == pytest.approx(image_means.std(), abs=1e-6)
    want = np.histogram(image_means, bins=BRIGHTNESS_BINS, range=(0.0, 1.0))[0]
    assert list(stats.image_brightness_histogram) == want.tolist()


def test_chunks_in_any_order_and_whole_images_give_the_same_statistics(planes):
    whole = PixelStatsBuilder().add_planes(planes).build("train")
    chunked = PixelStatsBuilder()
    for chunk in (planes[600:], planes[:100], planes[100:600]):
        chunked.add_planes(chunk)
    images = planes.transpose(0, 2, 1).reshape(-1, 32, 32, 3)

    assert chunked.build("train") == whole
    assert PixelStatsBuilder().add_images(images).build("train") == whole


def test_json_round_trip_keeps_every_pinned_field(planes):
    stats = PixelStatsBuilder().add_planes(planes[:50]).build("train")
    doc = json.loads(json.dumps(stats.to_json()))

    assert tuple(doc) == FIELDS
    assert PixelStats.from_json(doc) == stats


def test_images_of_different_sizes_are_refused(planes):
    builder = PixelStatsBuilder().add_planes(planes[:2])
    with pytest.raises(ValueError, match="pixels"):
        builder.add_images(np.zeros((1, 8, 8, 3), dtype=np.uint8))


def test_no_images_is_an_error():
    with pytest.raises(ValueError, match="no images"):
        PixelStatsBuilder().build("train")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("brightness_std"), "lacks brightness_std"),
        (lambda d: d.pop("image_brightness_std"), "lacks image_brightness_std"),
        (lambda d: d.update(channel_mean=[127.0, 120.0, 110.0]), "channel_mean must be"),
        (lambda d: d.update(channel_std=[0.2, 0.0, 0.2]), "channel_std must be"),
        (lambda d: d.update(image_brightness_histogram=[1, 2]), "10 counts"),
        (lambda d: d.update(images=0), "images must be"),
    ],
)
def test_reader_refuses_a_missing_field_or_a_value_out_of_range(planes, change, message):
    doc = PixelStatsBuilder().add_planes(planes[:10]).build("train").to_json()
    change(doc)
    with pytest.raises(PixelStatsError, match=message):
        PixelStats.from_json(doc)
