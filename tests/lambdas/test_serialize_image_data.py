"""serialize_image_data against moto S3 with real CIFAR-100 images."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import pytest
from PIL import Image

STEP_FUNCTIONS_PAYLOAD_LIMIT = 256 * 1024


def padded_png(png: bytes, total: int) -> bytes:
    """A valid PNG of exactly `total` bytes: a private ancillary chunk before IEND."""
    padding = total - len(png) - 12
    body = b"\x00" * padding
    kind = b"scPd"  # lower-case first letter: ancillary, decoders skip it
    extra = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return png[:-12] + extra + png[-12:]


def test_png_is_returned_inline_as_base64(load_handler, aws, context, png) -> None:
    handler = load_handler("serialize_image_data")
    event = {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png"}

    result = handler.lambda_handler(event, context)

    assert result["content_type"] == "image/png"
    assert base64.b64decode(result["image_data"]) == png
    assert Image.open(io.BytesIO(base64.b64decode(result["image_data"]))).size == (32, 32)
    assert result["s3_bucket"] == "scones-data" and result["s3_key"] == "images/bicycle.png"
    assert "image_s3_uri" not in result


def test_jpeg_is_returned_with_its_content_type(load_handler, aws, context, jpeg) -> None:
    handler = load_handler("serialize_image_data")
    event = {"s3_bucket": "scones-data", "s3_key": "images/motorcycle.jpg"}

    result = handler.lambda_handler(event, context)

    assert result["content_type"] == "image/jpeg"
    assert base64.b64decode(result["image_data"]) == jpeg


def test_large_image_is_passed_by_reference(load_handler, aws, context, large_png) -> None:
    handler = load_handler("serialize_image_data")
    event = {"s3_bucket": "scones-data", "s3_key": "images/large.png"}

    result = handler.lambda_handler(event, context)

    assert "image_data" not in result
    assert result["image_s3_uri"] == "s3://scones-data/images/large.png"
    assert result["content_type"] == "image/png"
    assert len(large_png) > STEP_FUNCTIONS_PAYLOAD_LIMIT


@pytest.mark.parametrize(
    ("margin", "inline"), [(-64, True), (64, False)], ids=["just-under", "just-over"]
)
def test_inline_limit_counts_the_whole_output_event(
    load_handler, aws, context, png, margin, inline
) -> None:
    handler = load_handler("serialize_image_data")
    event = {"s3_bucket": "scones-data", "s3_key": "images/edge.png", "request": "r" * 100}
    skeleton = {**event, "content_type": "image/png", "image_data": ""}
    # The largest image whose base64 still fits next to the other fields, +/- a margin.
    fitting = (handler.INLINE_PAYLOAD_LIMIT - len(json.dumps(skeleton))) // 4 * 3
    aws.put("images/edge.png", padded_png(png, fitting + margin))

    result = handler.lambda_handler(event, context)

    assert ("image_data" in result) is inline
    assert len(json.dumps(result)) <= handler.INLINE_PAYLOAD_LIMIT < STEP_FUNCTIONS_PAYLOAD_LIMIT


def test_an_output_of_exactly_the_inline_limit_stays_inline(load_handler, aws, context, png):
    handler = load_handler("serialize_image_data")
    size = len(png) // 3 * 3 + 30  # a multiple of 3: its base64 is exactly size / 3 * 4
    base = {"s3_bucket": "scones-data", "s3_key": "images/edge.png"}
    skeleton = {**base, "request": "", "content_type": "image/png", "image_data": ""}
    room = handler.INLINE_PAYLOAD_LIMIT - len(json.dumps(skeleton)) - size // 3 * 4
    aws.put("images/edge.png", padded_png(png, size))

    result = handler.lambda_handler({**base, "request": "r" * room}, context)

    assert len(json.dumps(result)) == handler.INLINE_PAYLOAD_LIMIT
    assert "image_data" in result and "image_s3_uri" not in result


def test_an_event_that_already_names_its_image_uri_comes_back_with_only_the_bytes(
    load_handler, aws, context, png
) -> None:
    """classify_image takes exactly one of image_data and image_s3_uri."""
    handler = load_handler("serialize_image_data")
    uri = "s3://scones-data/images/bicycle.png"
    event = {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png", "image_s3_uri": uri}

    result = handler.lambda_handler(event, context)

    assert base64.b64decode(result["image_data"]) == png and "image_s3_uri" not in result


def test_other_event_fields_are_kept(load_handler, aws, context) -> None:
    handler = load_handler("serialize_image_data")
    event = {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png", "batch_id": "b-7"}

    assert handler.lambda_handler(event, context)["batch_id"] == "b-7"


def test_image_of_exactly_max_image_bytes_is_read(load_handler, aws, context, png) -> None:
    handler = load_handler("serialize_image_data", MAX_IMAGE_BYTES=str(len(png)))
    event = {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png"}

    assert base64.b64decode(handler.lambda_handler(event, context)["image_data"]) == png


def test_image_over_max_image_bytes_is_unsupported_without_reading_it(
    load_handler, aws, context, png
) -> None:
    handler = load_handler("serialize_image_data", MAX_IMAGE_BYTES=str(len(png) - 1))
    event = {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png"}

    with pytest.raises(handler.UnsupportedImageError, match="MAX_IMAGE_BYTES"):
        handler.lambda_handler(event, context)
