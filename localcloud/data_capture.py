"""Data capture objects in SageMaker's layout, through monitoring's one writer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from monitoring.capture import capture_line, capture_object_key, capture_record

_MODE_KEYS = {"Input": "endpointInput", "Output": "endpointOutput"}


def capture_object(
    destination_uri: str,
    endpoint: str,
    variant: str,
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    modes: set[str],
) -> tuple[str, str, bytes]:
    """(bucket, key, body) of the capture object for one request, with only `modes` kept.

    One object per request: SageMaker batches records per few minutes, but a reader
    that lists the prefix cannot tell the difference, and tests see captures at once.
    """
    if not destination_uri.startswith("s3://"):
        raise ValueError(f"DestinationS3Uri must be an s3:// URI, got {destination_uri!r}")
    bucket, _, prefix = destination_uri[5:].partition("/")
    when = datetime.now(UTC)
    event_id = str(uuid.uuid4())
    record = capture_record(
        request[0],
        request[1],
        response[0].decode("utf-8", errors="replace"),
        response[1],
        event_id=event_id,
        inference_time=when,
    )
    for mode, field in _MODE_KEYS.items():
        if mode not in modes:
            record["captureData"].pop(field, None)
    key = capture_object_key(prefix, endpoint, variant, when, event_id)
    return bucket, key, capture_line(record)
