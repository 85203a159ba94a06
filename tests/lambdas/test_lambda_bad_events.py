"""Bad events across the handlers: each fails with its named error, never a KeyError/TypeError."""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.lambdas.lambdas_endpoint_stub import Reply, raw

GOOD_PNG_EVENT = {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png"}


@dataclass
class Case:
    id: str
    function: str
    event: Any
    error: str
    env: dict[str, str] = field(default_factory=dict)
    reply: Reply | None = None
    # Only these fields need the real image; filled in by the test from the fixture.
    with_png: bool = False
    # What the message must say (the field and what it must be), where a case pins it.
    says: str = ""


def classify_event(**changes: Any) -> dict[str, Any]:
    return {**GOOD_PNG_EVENT, "content_type": "image/png", **changes}


CASES = [
    # serialize_image_data
    Case(
        "serialize-not-an-object",
        "serialize_image_data",
        ["images/bicycle.png"],
        "InvalidEventError",
    ),
    Case("serialize-none", "serialize_image_data", None, "InvalidEventError"),
    Case(
        "serialize-missing-bucket",
        "serialize_image_data",
        {"s3_key": "images/bicycle.png"},
        "InvalidEventError",
    ),
    Case(
        "serialize-missing-key",
        "serialize_image_data",
        {"s3_bucket": "scones-data"},
        "InvalidEventError",
    ),
    # S3 object keys are at most 1,024 bytes of UTF-8 ("Naming Amazon S3 objects",
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html); a key
    # ending in "/" is the console's folder object, not an image.
    Case(
        "serialize-key-is-a-folder",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "images/"},
        "InvalidEventError",
        says="'s3_key' is not an S3 object key: 'images/'",
    ),
    Case(
        "serialize-key-over-1024-bytes",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "k" * 1025},
        "InvalidEventError",
    ),
    Case(
        "serialize-key-of-1024-bytes-is-looked-up",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "k" * 1024},
        "ImageNotFoundError",
    ),
    Case(
        "serialize-key-not-a-string",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": 42},
        "InvalidEventError",
    ),
    Case(
        "serialize-bucket-a-list",
        "serialize_image_data",
        {"s3_bucket": ["scones-data"], "s3_key": "k"},
        "InvalidEventError",
    ),
    Case(
        "serialize-empty-key",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": ""},
        "InvalidEventError",
    ),
    Case(
        "serialize-blank-bucket",
        "serialize_image_data",
        {"s3_bucket": "  ", "s3_key": "k"},
        "InvalidEventError",
    ),
    Case(
        "serialize-invalid-bucket-name",
        "serialize_image_data",
        {"s3_bucket": "no such/bucket", "s3_key": "k"},
        "InvalidEventError",
        says="'s3_bucket' is not a valid S3 bucket name: 'no such/bucket'",
    ),
    Case(
        "serialize-key-does-not-exist",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "images/nope.png"},
        "ImageNotFoundError",
    ),
    Case(
        "serialize-bucket-does-not-exist",
        "serialize_image_data",
        {"s3_bucket": "scones-nowhere", "s3_key": "images/bicycle.png"},
        "ImageNotFoundError",
    ),
    Case(
        "serialize-not-an-image",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "images/notes.txt"},
        "UnsupportedImageError",
        says="s3://scones-data/images/notes.txt: the object is neither a PNG nor a JPEG image",
    ),
    Case(
        "serialize-empty-object",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "images/empty.png"},
        "UnsupportedImageError",
        says="s3://scones-data/images/empty.png: the object is empty",
    ),
    Case(
        "serialize-truncated-png",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "images/truncated.png"},
        "UnsupportedImageError",
    ),
    Case(
        "serialize-oversized-image",
        "serialize_image_data",
        {"s3_bucket": "scones-data", "s3_key": "images/large.png"},
        "UnsupportedImageError",
        env={"MAX_IMAGE_BYTES": "100000"},
    ),
    Case(
        "serialize-bad-max-image-bytes",
        "serialize_image_data",
        GOOD_PNG_EVENT,
        "ConfigurationError",
        env={"MAX_IMAGE_BYTES": "5MB"},
    ),
    # classify_image
    Case("classify-no-image", "classify_image", classify_event(), "InvalidEventError"),
    Case(
        "classify-both-image-fields",
        "classify_image",
        classify_event(image_s3_uri="s3://scones-data/images/bicycle.png"),
        "InvalidEventError",
        with_png=True,
        says="the event must have exactly one of 'image_data', 'image_s3_uri'",
    ),
    Case(
        "classify-image-data-not-base64",
        "classify_image",
        classify_event(image_data="not base64!!"),
        "InvalidEventError",
        says="'image_data' is not valid base64",
    ),
    Case(
        # Without validation b64decode drops the "!" and decodes a PNG signature.
        "classify-image-data-outside-the-base64-alphabet",
        "classify_image",
        classify_event(image_data="iVBORw0K!GgoA"),
        "InvalidEventError",
        says="'image_data' is not valid base64",
    ),
    Case(
        "classify-image-data-a-number",
        "classify_image",
        classify_event(image_data=12345),
        "InvalidEventError",
    ),
    Case(
        "classify-missing-content-type",
        "classify_image",
        {**GOOD_PNG_EVENT, "image_data": "AAAA"},
        "InvalidEventError",
    ),
    Case(
        "classify-unsupported-content-type",
        "classify_image",
        classify_event(content_type="image/gif", image_data="AAAA"),
        "InvalidEventError",
        says="'content_type' must be one of ('image/png', 'image/jpeg'), got 'image/gif'",
    ),
    Case(
        "classify-content-type-mismatch",
        "classify_image",
        classify_event(content_type="image/jpeg"),
        "InvalidEventError",
        with_png=True,
        says="'content_type' is image/jpeg but the image is image/png",
    ),
    Case(
        "classify-image-data-not-an-image",
        "classify_image",
        classify_event(image_data=base64.b64encode(b"hello").decode()),
        "UnsupportedImageError",
    ),
    Case(
        "classify-bad-s3-uri",
        "classify_image",
        classify_event(image_s3_uri="https://example.com/x.png"),
        "InvalidEventError",
        says="'image_s3_uri' must be an s3://bucket/key URI, got 'https://example.com/x.png'",
    ),
    Case(
        "classify-s3-uri-without-scheme",
        "classify_image",
        classify_event(image_s3_uri="scones-data/images/bicycle.png"),
        "InvalidEventError",
    ),
    Case(
        "classify-s3-uri-invalid-bucket-name",
        "classify_image",
        classify_event(image_s3_uri="s3://Scones Data!/images/bicycle.png"),
        "InvalidEventError",
    ),
    Case(
        "classify-s3-uri-missing-object",
        "classify_image",
        classify_event(image_s3_uri="s3://scones-data/images/nope.png"),
        "ImageNotFoundError",
        says="s3://scones-data/images/nope.png does not exist (NoSuchKey)",
    ),
    Case(
        "classify-response-not-probabilities",
        "classify_image",
        classify_event(),
        "EndpointResponseError",
        reply=raw(b'{"label": "bicycle"}'),
        with_png=True,
    ),
    Case(
        "classify-missing-endpoint-name",
        "classify_image",
        classify_event(),
        "ConfigurationError",
        env={"ENDPOINT_NAME": ""},
        with_png=True,
    ),
    Case(
        "classify-one-class-name",
        "classify_image",
        classify_event(),
        "ConfigurationError",
        env={"CLASS_NAMES": "bicycle"},
        with_png=True,
    ),
    # filter_low_confidence
    Case(
        "filter-missing-inferences",
        "filter_low_confidence",
        dict(GOOD_PNG_EVENT),
        "InvalidEventError",
        says="the event has no 'inferences' field",
    ),
    Case(
        "filter-inferences-as-string",
        "filter_low_confidence",
        {"inferences": "[0.9, 0.1]"},
        "InvalidEventError",
        says="'inferences' must be a list of numbers, got str",
    ),
    Case(
        "filter-inferences-wrong-length",
        "filter_low_confidence",
        {"inferences": [1.0]},
        "InvalidEventError",
        says="'inferences' must have 2 values (bicycle, motorcycle), got 1",
    ),
    Case(
        "filter-inferences-not-numbers",
        "filter_low_confidence",
        {"inferences": ["a", None]},
        "InvalidEventError",
        says="'inferences' must hold only numbers, got ['a', None]",
    ),
    Case(
        "filter-inferences-out-of-range",
        "filter_low_confidence",
        {"inferences": [2.0, -1.0]},
        "InvalidEventError",
    ),
    Case(
        "filter-inference-just-above-one",
        "filter_low_confidence",
        {"inferences": [1.01, 0.0]},
        "InvalidEventError",
        says="'inferences' must be probabilities in [0, 1], got [1.01, 0.0]",
    ),
    Case(
        "filter-inferences-empty", "filter_low_confidence", {"inferences": []}, "InvalidEventError"
    ),
    Case(
        "filter-threshold-above-one",
        "filter_low_confidence",
        {"inferences": [0.99, 0.01]},
        "ConfigurationError",
        env={"THRESHOLD": "1.5"},
    ),
    Case(
        "filter-threshold-zero",
        "filter_low_confidence",
        {"inferences": [0.99, 0.01]},
        "ConfigurationError",
        env={"THRESHOLD": "0"},
    ),
    Case(
        "filter-threshold-not-a-number",
        "filter_low_confidence",
        {"inferences": [0.99, 0.01]},
        "ConfigurationError",
        env={"THRESHOLD": "high"},
    ),
    Case(
        "filter-below-threshold",
        "filter_low_confidence",
        {"inferences": [0.5, 0.5]},
        "ThresholdNotMetError",
    ),
    # start_batch_workflow
    Case("start-no-records", "start_batch_workflow", {}, "InvalidEventError"),
    Case(
        "start-records-not-a-list",
        "start_batch_workflow",
        {"Records": "inbox/a.png"},
        "InvalidEventError",
    ),
    Case(
        "start-record-without-s3",
        "start_batch_workflow",
        {"Records": [{"eventName": "ObjectCreated:Put"}]},
        "InvalidEventError",
    ),
    Case(
        "start-record-not-an-object", "start_batch_workflow", {"Records": [7]}, "InvalidEventError"
    ),
    # summarize_batch
    Case(
        "summarize-missing-execution-name",
        "summarize_batch",
        {"map_run": {"ResultWriterDetails": {"Bucket": "b", "Key": "m/manifest.json"}}},
        "InvalidEventError",
    ),
    Case(
        "summarize-execution-name-with-slash",
        "summarize_batch",
        {"execution_name": "../x", "map_run": {}},
        "InvalidEventError",
    ),
    Case(
        "summarize-map-run-missing",
        "summarize_batch",
        {"execution_name": "x"},
        "InvalidEventError",
    ),
    Case(
        "summarize-map-run-without-result-writer",
        "summarize_batch",
        {"execution_name": "x", "map_run": {"MapRunArn": "arn"}},
        "InvalidEventError",
    ),
    Case(
        "summarize-key-is-not-a-manifest",
        "summarize_batch",
        {"execution_name": "x", "map_run": {"ResultWriterDetails": {"Bucket": "b", "Key": "k"}}},
        "InvalidEventError",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_event_raises_its_named_error(load_handler, aws, stub, context, png, case) -> None:
    handler = load_handler(case.function, **case.env)
    if case.reply is not None:
        stub.reply = case.reply
    event = case.event
    if case.with_png:
        event = {"image_data": base64.b64encode(png).decode(), **event}

    with pytest.raises(Exception) as raised:
        handler.lambda_handler(event, context)

    assert type(raised.value).__name__ == case.error, raised.value
    assert str(raised.value), "the message must say what is wrong"
    assert case.says in str(raised.value)


def test_bad_events_do_not_alert(load_handler, aws, stub, context, png) -> None:
    """The state machines' Catch alerts on named errors; the handler must not alert too.

    (start_batch_workflow, which S3 invokes directly, alerts on every error.)"""
    for case in (c for c in CASES if c.function != "start_batch_workflow"):
        handler = load_handler(case.function, **case.env)
        stub.reply = case.reply or stub.reply
        event = (
            {"image_data": base64.b64encode(png).decode(), **case.event}
            if case.with_png
            else case.event
        )
        with pytest.raises(sys.modules["common.errors"].ExpectedError):
            handler.lambda_handler(event, context)

    assert aws.alerts() == []
